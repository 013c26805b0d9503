"""The residual tier (facegan/models/resnet.py): its shapes and layers, its configs, and a real CLI run of it."""

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn
from torch.nn.utils import parametrize

from facegan.checkpoints.resume import check_checkpoint_matches
from facegan.errors import ConfigError
from facegan.models import ResNetDiscriminator, ResNetGenerator
from facegan.models.resnet import DownBlock, UpBlock
from facegan.tools.evaluate import evaluate
from facegan.tools.export import export, load_torchscript
from facegan.tools.sample import sample
from facegan.train import train
from helpers import TINY, compose_config, compose_train, metrics_overrides, tensorboard_tags


@pytest.mark.parametrize(("size", "blocks"), [(32, 3), (64, 4), (128, 5)])
def test_shapes_at_every_size_and_one_logit_per_image(size, blocks):
    generator = ResNetGenerator(latent_dim=16, image_size=size, base_channels=4)
    discriminator = ResNetDiscriminator(image_size=size, base_channels=4)
    images = generator(torch.randn(3, 16))
    assert images.shape == (3, 3, size, size) and images.abs().max() <= 1
    assert discriminator(images).shape == (3,)
    assert len(generator.blocks) == len(discriminator.blocks) == blocks
    # widths halve toward the image in G (4x4 is base * 2**blocks wide) and double away from it in D
    assert [block.conv1.out_channels for block in generator.blocks] == [
        4 * 2 ** (blocks - 1 - i) for i in range(blocks)
    ]
    assert generator.start.out_features == 16 * 4 * 2**blocks
    assert [block.conv1.out_channels for block in discriminator.blocks] == [4 * 2**i for i in range(blocks)]


def test_every_discriminator_layer_is_spectrally_normalised_and_none_is_batchnorm():
    discriminator = ResNetDiscriminator(image_size=64, base_channels=4)
    layers = [module for module in discriminator.modules() if isinstance(module, nn.Conv2d | nn.Linear)]
    assert len(layers) == 4 * 3 + 1  # three convs per block, the final linear
    assert all(parametrize.is_parametrized(layer, "weight") for layer in layers)
    assert not any(isinstance(module, nn.BatchNorm2d) for module in discriminator.modules())
    assert discriminator.blocks[0].first and not any(block.first for block in discriminator.blocks[1:])


def test_the_generator_is_pre_activation_with_batchnorm_and_nearest_upsampling():
    generator = ResNetGenerator(latent_dim=8, image_size=32, base_channels=4)
    block = generator.blocks[0]
    assert isinstance(block, UpBlock) and block.upsample.mode == "nearest"
    assert isinstance(block.norm1, nn.BatchNorm2d) and isinstance(generator.end_norm, nn.BatchNorm2d)
    assert not any(isinstance(module, DownBlock) for module in generator.modules())


def test_bad_settings_are_one_line_errors():
    with pytest.raises(ConfigError, match="model.spectral_norm=False"):
        ResNetDiscriminator(image_size=32, spectral_norm=False)
    with pytest.raises(ConfigError, match="image_size=48"):
        ResNetGenerator(image_size=48)
    with pytest.raises(ConfigError, match="ngf=0"):
        ResNetGenerator(base_channels=0)


def test_bf16_and_channels_last_work_as_for_dcgan():
    generator = ResNetGenerator(latent_dim=8, image_size=32, base_channels=4).to(memory_format=torch.channels_last)
    discriminator = ResNetDiscriminator(image_size=32, base_channels=4).to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = discriminator(generator(torch.randn(4, 8)).contiguous(memory_format=torch.channels_last))
    logits.float().sum().backward()
    assert torch.isfinite(logits.float()).all() and generator.start.weight.grad is not None


@pytest.mark.parametrize("size", [32, 64, 128])
def test_the_model_configs_compose_the_residual_networks(size):
    cfg = compose_config("train", f"model=resnet{size}")
    assert cfg.model.family == "resnet" and cfg.model.image_size == size and cfg.data.batch_size == 64
    assert cfg.model.generator._target_ == "facegan.models.ResNetGenerator"
    recipe = compose_config("train", "experiment=resnet64")
    assert recipe.loss._target_.endswith("HingeLoss") and recipe.loss.n_critic == 5
    assert list(recipe.optimizer.betas) == [0.0, 0.9] and recipe.model.ema_kimg is not None


def test_resuming_a_residual_checkpoint_as_a_dcgan_is_refused_naming_the_model(tmp_path):
    saved = OmegaConf.to_container(compose_config("train", "model=resnet32").model, resolve=True)
    torch.save({"hyper_parameters": {"network_config": saved}, "state_dict": {}}, tmp_path / "last.ckpt")
    with pytest.raises(ConfigError, match=r"model.family=resnet .*resume with the same model settings: model=resnet32"):
        check_checkpoint_matches(str(tmp_path / "last.ckpt"), compose_config("train", "model=dcgan32").model)


@pytest.mark.slow
def test_the_residual_recipe_trains_resumes_samples_evaluates_and_exports(tmp_path):
    """Every tool takes a residual checkpoint (the commands' CLI smokes run on DCGAN checkpoints elsewhere)."""
    run = tmp_path / "run"
    tiny_resnet = (*TINY, "experiment=resnet64", "model=resnet32", "model.ngf=4", "model.ndf=4", "data.batch_size=8")
    train(compose_train(*tiny_resnet, *metrics_overrides(tmp_path), "trainer.max_epochs=1", output_dir=run))
    last = run / "checkpoints" / "last.ckpt"
    assert last.is_file() and (run / "samples" / "epoch_000.png").is_file()
    assert {"metrics/fid64", "metrics/kid64"} <= tensorboard_tags(run)["scalars"]  # FID/KID during training
    for artifact in ("loss_plot.png", "real_vs_fake.png", "progress.gif", "checkpoints/best.ckpt"):
        assert (run / artifact).stat().st_size > 0, artifact
    data = ("data=synthetic", "data.num_images=64", "data.batch_size=16")
    assert evaluate(compose_config("evaluate", f"ckpt_path={last}", *data, *metrics_overrides(tmp_path)))["fid"] > 0
    resumed = tmp_path / "resumed"
    train(compose_train(*tiny_resnet, "trainer.max_epochs=2", f"ckpt_path={last}", output_dir=resumed))
    assert (resumed / "samples" / "epoch_001.png").is_file() and not (resumed / "samples" / "epoch_000.png").exists()
    sample(compose_config("sample", f"ckpt_path={resumed / 'checkpoints' / 'last.ckpt'}", "num_samples=4",
                          f"outdir={tmp_path}/s"))  # fmt: skip
    assert len(list((tmp_path / "s" / "samples").glob("*.png"))) == 4
    scripted, metadata = load_torchscript(
        export(compose_config("export", f"ckpt_path={last}", f"out={tmp_path / 'g.pt'}"))
    )
    assert metadata["latent_dim"] == 128
