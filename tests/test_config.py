"""The real Hydra config composes for every group choice, and bad values fail early with one line."""

import hydra
import pytest
import torch
from omegaconf import open_dict
from pytorch_lightning.callbacks import ProgressBar

from facegan.assembly import build_module, trainer_overrides, training_callbacks
from facegan.config_checks import check_config
from facegan.errors import ConfigError, FaceganError
from facegan.gan.module import GAN
from facegan.runtime.devices import requested_processes
from facegan.runtime.strategy import STRATEGY_NAME, GANDDPStrategy
from helpers import compose_train


@pytest.mark.parametrize("model,size", [("dcgan32", 32), ("dcgan64", 64), ("dcgan128", 128)])
@pytest.mark.parametrize("loss", ["bce", "lsgan"])
def test_every_model_and_loss_composes_and_builds(model, size, loss):
    cfg = compose_train(f"model={model}", f"loss={loss}", "data=synthetic", "model.ngf=4", "model.ndf=4")
    assert cfg.data.image_size == size  # data follows the model
    check_config(cfg)
    module = build_module(cfg)
    assert module.generator.image_size == size and module.discriminator.image_size == size
    assert type(module.loss).__name__ == {"bce": "BCELoss", "lsgan": "LSGANLoss"}[loss]


def test_optimizer_presets_and_separate_learning_rates():
    adam = build_module(compose_train("data=synthetic"))
    opt_g, opt_d = adam.configure_optimizers()
    assert opt_g.defaults["lr"] == opt_d.defaults["lr"] == 2e-4
    assert tuple(opt_g.defaults["betas"]) == (0.5, 0.999)
    ttur = build_module(compose_train("data=synthetic", "optimizer=ttur"))
    opt_g, opt_d = ttur.configure_optimizers()
    assert (opt_g.defaults["lr"], opt_d.defaults["lr"]) == (1e-4, 4e-4)
    assert tuple(opt_d.defaults["betas"]) == (0.0, 0.9)
    split = build_module(compose_train("data=synthetic", "optimizer.generator.lr=1e-3"))
    opt_g, opt_d = split.configure_optimizers()
    assert (opt_g.defaults["lr"], opt_d.defaults["lr"]) == (1e-3, 2e-4)


def test_image_size_mismatch_is_a_one_line_error():
    cfg = compose_train("data=synthetic", "model=dcgan32", "data.image_size=64")
    with pytest.raises(ConfigError, match="data.image_size=64 does not match model.image_size=32.*model=dcgan64,"):
        check_config(cfg)


@pytest.mark.parametrize(
    "override,message",
    [
        ("data.batch_size=0", "data.batch_size=0"),
        ("model.image_size=48", "image_size=48"),
        ("trainer.max_epochs=0", "trainer.max_epochs=0"),
        ("model.latent_dim=0", "model.latent_dim=0 must be an integer >= 1"),
        ("model.ngf=0", "model.ngf=0"),
        ("model.ndf=-3", "model.ndf=-3"),
        ("loss.n_critic=0", "loss.n_critic=0"),
        ("loss.real_label=1.5", r"loss.real_label=1.5, loss.fake_label=0.0: need 0 <= fake_label < real_label <= 1"),
        ("+loss.fake_label=0.5 loss.real_label=0.4", "loss.real_label=0.4, loss.fake_label=0.5"),
        ("loss=wgan_gp loss.gp_weight=0", "loss.gp_weight=0 must be a number > 0"),
        ("loss=lsgan loss.output_scale=0", "loss.output_scale=0"),
        ("checkpoint.every_n_batches=-5", "checkpoint.every_n_batches=-5"),
        ("seed=-1", "seed=-1"),
        ("trainer.log_every_n_steps=0", "trainer.log_every_n_steps=0"),
        ("data=celeba data.crop_size=0", "data.crop_size=0"),
        ("optimizer.lr=-1", "optimizer.generator.lr=-1"),
        ("optimizer.lr=0", "optimizer.generator.lr=0"),
        ("optimizer=ttur optimizer.discriminator.lr=0", "optimizer.discriminator.lr=0"),
        ("data.cache=no", "data.cache=no must be true or false"),
        ("model.spectral_norm=no", "model.spectral_norm=no must be true or false"),
        ("data.image_size=48", "model=dcgan32, model=dcgan64, model=dcgan128"),
        ("trainer.max_epochs=-1", "trainer.max_time=00:02:00:00"),  # no limit at all: says how to time-box
        ("checkpoint.keep_epochs=-2", "checkpoint.keep_epochs=-2"),
        ("data.num_images=0", "data.num_images=0 must be an integer >= 1"),
        ("data.num_workers=-1", "data.num_workers=-1 must be an integer >= 0"),
        ("data.flip=yes", "data.flip=yes must be true or false"),
        ("performance.compile_mode=fast", "performance.compile_mode=fast is not one of torch.compile's modes"),
        ("performance.channels_last=maybe", "performance.channels_last=maybe must be auto, true or false"),
        ("divergence.on_nonfinite=ignore", "divergence.on_nonfinite=ignore is not a policy"),
        ("divergence.check_every_n_batches=0", "divergence.check_every_n_batches=0 must be an integer >= 1"),
        ("augment=diffaugment augment.cutout_ratio=2", "augment.cutout_ratio=2 must be between 0 and 1"),
        ("model.ema_kimg=0", "model.ema_kimg=0"),
        ("metrics.num_samples=1", "metrics.num_samples=1 must be an integer >= 4"),
        ("+trainer.precision=16-mixed", "use performance.precision=16-mixed"),
        ("trainer.accelerator=gpu trainer.devices=2", "no CUDA GPU is visible"),
        ("trainer.max_epochs=abc", "trainer.max_epochs=abc must be an integer >= -1"),
        ("+loss.foo=1", r"loss.foo is not a setting of loss: drop it \(~loss.foo\)"),
        ("data=celeba data.root=/nonexistent +data.num_images=8", "data.num_images is not a setting of data"),
    ],
)
def test_bad_values_fail_before_training(override, message):
    with pytest.raises(ConfigError, match=message):
        base = () if override.startswith("data=") else ("data=synthetic",)
        check_config(compose_train(*base, *override.split()))


def test_a_missing_data_folder_is_refused_before_the_run():
    with pytest.raises(FaceganError, match="data.root=/nonexistent/celeba does not exist"):
        check_config(compose_train("data=celeba", "data.root=/nonexistent/celeba"))


def test_a_time_box_alone_is_a_limit():
    check_config(compose_train("data=synthetic", "trainer.max_epochs=-1", "trainer.max_time=00:02:00:00"))
    check_config(compose_train("data=synthetic", "trainer.max_epochs=-1", "++trainer.max_time=00:02:00:00"))


def test_max_steps_counts_batches_and_multi_process_picks_gan_ddp():
    cfg = compose_train(
        "data=synthetic", "trainer.max_steps=50", "trainer.accelerator=cpu", "trainer.devices=2",
        "processes.peer_timeout_s=7",
    )  # fmt: skip
    overrides = trainer_overrides(cfg)
    assert overrides["max_steps"] == 50 * GAN.optimizer_steps_per_batch
    assert isinstance(overrides["strategy"], GANDDPStrategy) and overrides["strategy"].peer_timeout_s == 7
    single = trainer_overrides(compose_train("data=synthetic", "trainer=cpu"))
    assert "strategy" not in single and "max_steps" not in single


@pytest.mark.parametrize(
    "devices,num_nodes,expected", [(2, 1, 2), ("3", 1, 3), ("0,1", 2, 4), ([0, 1, 2], 1, 3), ("auto", 1, 1)]
)
def test_requested_processes(devices, num_nodes, expected):
    cfg = compose_train("data=synthetic", "trainer.accelerator=cpu")
    with open_dict(cfg):
        cfg.trainer.devices = devices
        cfg.trainer.num_nodes = num_nodes
    assert requested_processes(cfg.trainer) == expected


def test_trainer_presets_compose():
    for preset in ("default", "cpu", "gpu", "multi_gpu"):
        cfg = compose_train("data=synthetic", f"trainer={preset}")
        assert cfg.trainer._target_ == "pytorch_lightning.Trainer"
    assert compose_train("trainer=multi_gpu").trainer.strategy == STRATEGY_NAME


def test_demo_experiment_uses_synthetic_faces():
    cfg = compose_train("experiment=demo")
    assert cfg.data._target_.endswith("SyntheticDataModule")
    datamodule = hydra.utils.instantiate(cfg.data)
    assert datamodule.image_size == cfg.model.image_size


def test_the_default_run_is_the_recommended_recipe_with_no_experiment():
    """train.yaml says what it trains: the recommended 64x64 model, BCE, the EMA generator; recipes opt in."""
    default = compose_train()
    assert default.get("experiment") is None and default.optimized_metric is None
    assert (default.model.image_size, default.model.ema_kimg, default.loss._target_) == (
        64,
        10,
        "facegan.gan.losses.BCELoss",
    )
    assert not default.augment  # augment=none
    small = compose_train("experiment=celeba_small")
    assert small.model.image_size == 32 and small.augment._target_.endswith("DiffAugment")


def test_unwritable_feature_cache_is_refused_only_when_metrics_run(tmp_path):
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    overrides = ("data=synthetic", f"paths.cache_dir={blocker}")
    with pytest.raises(ConfigError, match=r"metrics.cache_dir=.*/cache/fid cannot hold .* is a file.*enabled=false"):
        check_config(compose_train(*overrides, "metrics.enabled=true"))
    check_config(compose_train(*overrides, "metrics.enabled=false"))
    check_config(compose_train(*overrides, "trainer=cpu"))  # metrics.enabled=auto: off on the CPU


def test_turning_the_progress_bar_off_drops_its_callback():
    assert any(isinstance(c, ProgressBar) for c in training_callbacks(compose_train("data=synthetic")))
    quiet = training_callbacks(compose_train("data=synthetic", "trainer.enable_progress_bar=false"))
    assert quiet and not any(isinstance(callback, ProgressBar) for callback in quiet)


def test_the_dcgan32_recipe_batch_follows_the_device(monkeypatch):
    assert compose_train("model=dcgan32", "trainer.accelerator=cpu").data.batch_size == 8
    assert compose_train("model=dcgan32", "trainer.accelerator=gpu").data.batch_size == 128
    assert compose_train("model=dcgan32", "trainer=gpu").data.batch_size == 128
    assert compose_train("model=dcgan32", "data.batch_size=32", "trainer=gpu").data.batch_size == 32  # a user's own
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert compose_train("model=dcgan32").data.batch_size == 128  # trainer.accelerator=auto with a GPU visible
