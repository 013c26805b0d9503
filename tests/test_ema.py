"""The EMA generator (facegan/gan/ema.py): the averaging arithmetic, BatchNorm statistics of the average's own
weights, its checkpoint rules, and that training, sampling, checkpoints and resume use it."""

import logging

import pytest
import torch
from torch import nn

from facegan.assembly import build_module
from facegan.checkpoints.trained_generator import load_generator
from facegan.errors import ConfigError
from facegan.gan.ema import STATISTICS_IMAGES, STATISTICS_SEED, EMAGenerator
from facegan.models import Generator
from facegan.train import train
from helpers import TINY, compose_train

SMALL = (*TINY, "model.ema_kimg=0.1")
WITHOUT_EMA = (*TINY, "model.ema_kimg=null")


def tiny_generator() -> Generator:
    return Generator(latent_dim=8, image_size=16, base_channels=4)


def test_half_life_ramps_up_then_holds():
    ema = EMAGenerator(tiny_generator(), kimg=10, rampup=0.05)
    assert ema.half_life(1_000) == pytest.approx(50)  # 5% of the images seen: the early average follows G
    assert ema.half_life(1_000_000) == pytest.approx(10_000)
    assert EMAGenerator(tiny_generator(), kimg=10, rampup=None).half_life(16) == pytest.approx(10_000)


@pytest.mark.parametrize("devices", [1, 2, 8])
def test_the_horizon_in_images_does_not_depend_on_batch_size_or_devices(devices):
    """Two updates of 64 images each keep as much of the old average as one update of 128."""
    ema, seen = EMAGenerator(tiny_generator(), kimg=1, rampup=None), 100_000
    global_batch = 16 * devices
    per_image = ema.beta(seen, 1)
    assert ema.beta(seen, global_batch) == pytest.approx(per_image**global_batch)
    assert ema.beta(seen, 64) ** 2 == pytest.approx(ema.beta(seen, 128))
    assert ema.beta(seen, ema.kimg * 1000) == pytest.approx(0.5)  # the half-life


def test_update_moves_weights_toward_the_generator_and_leaves_batchnorm_statistics():
    network = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    ema = EMAGenerator(network, kimg=0.001, rampup=None)  # a half-life of one image
    average = ema.average
    assert average is not network and all(not parameter.requires_grad for parameter in average.parameters())
    with torch.no_grad():
        for parameter in average.parameters():
            parameter.fill_(0.0)
        for parameter in network.parameters():
            parameter.fill_(1.0)
        network[1].running_mean.fill_(7.0)
    ema.update(network, images_seen=10, images_since_last=1)  # beta 0.5
    assert all(torch.allclose(p, torch.full_like(p, 0.5)) for p in average.parameters())
    ema.update(network, images_seen=10, images_since_last=2)  # beta 0.25
    assert all(torch.allclose(p, torch.full_like(p, 0.25 * 0.5 + 0.75)) for p in average.parameters())
    assert torch.equal(average[1].running_mean, torch.zeros(2))  # not G's: measured for the average itself
    assert all(parameter.grad is None for parameter in average.parameters())


@pytest.mark.parametrize("setting", ["model.ema_kimg=0", "model.ema_kimg=-1", "model.ema_rampup=1.5"])
def test_impossible_horizon_is_a_config_error(setting):
    with pytest.raises(ConfigError, match=setting.replace(".", r"\.")):
        build_module(compose_train(*TINY, setting))


def test_ema_is_on_by_default_and_off_with_null():
    default = build_module(compose_train("data=synthetic"))
    assert (default.generator_ema.kimg, default.generator_ema.rampup) == (10, 0.05)
    assert build_module(compose_train("data=synthetic", "model.ema_kimg=null")).generator_ema is None
    module = build_module(compose_train(*SMALL))
    assert module.generator_ema.kimg == 0.1
    assert torch.equal(module.generator_ema.state_dict()["net.0.weight"], module.generator.state_dict()["net.0.weight"])


def test_batchnorm_statistics_are_measured_for_the_averages_own_weights():
    generator = tiny_generator()
    ema = EMAGenerator(generator, kimg=10, rampup=None)
    with torch.no_grad():
        ema.average.net[0].weight.mul_(30.0)  # the average's weights only, far from G's and the init's statistics
    ema.eval()
    network = ema.sampling_network()
    assert network is ema.average and not network.training  # its mode is left as it was
    # The first BatchNorm sees the first layer's output: its statistics are that output's, for the average's weights.
    first_norm = network.net[1]
    stream = torch.Generator().manual_seed(STATISTICS_SEED)
    with torch.no_grad():
        activations = network.net[0](torch.randn(STATISTICS_IMAGES, 8, generator=stream).view(-1, 8, 1, 1))
    torch.testing.assert_close(first_norm.running_mean, activations.mean(dim=(0, 2, 3)), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(first_norm.running_var, activations.var(dim=(0, 2, 3)), atol=1e-2, rtol=2e-3)
    assert torch.equal(generator.net[1].running_mean, torch.zeros_like(first_norm.running_mean))  # G's untouched

    measured = [buffer.clone() for buffer in network.buffers()]
    with torch.no_grad():
        first_norm.running_mean.fill_(5.0)  # gone if the statistics were measured again
    kept = ema.sampling_network().net[1].running_mean
    assert torch.equal(kept, torch.full_like(kept, 5.0))  # the same weights: not measured again
    ema.update(generator, images_seen=100_000, images_since_last=0)  # an update that keeps the weights as they are
    remeasured = list(ema.sampling_network().buffers())
    assert all(torch.equal(a, b) for a, b in zip(measured, remeasured))  # the same weights: the same statistics


def checkpoint_of(module) -> dict:
    """What Lightning saves of the module: its state_dict, then the module's save hook."""
    checkpoint = {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams), "epoch": 0}
    module.on_save_checkpoint(checkpoint)
    return checkpoint


def test_checkpoints_hold_the_average_under_generator_ema_with_its_own_statistics(tmp_path):
    module = build_module(compose_train(*SMALL))
    with torch.no_grad():
        for parameter in module.generator_ema.parameters():
            parameter.mul_(0.5)  # the average apart from G
    state = checkpoint_of(module)["state_dict"]
    # The layout sample.py, export and evaluate read: G's keys again, under generator_ema.
    generator_keys = [key.removeprefix("generator.") for key in state if key.startswith("generator.")]
    assert [key.removeprefix("generator_ema.") for key in state if key.startswith("generator_ema.")] == generator_keys
    for name, value in module.generator_ema.sampling_network().state_dict().items():
        assert torch.equal(state[f"generator_ema.{name}"], value), name  # statistics measured for these weights
    assert not torch.equal(state["generator_ema.net.1.running_mean"], state["generator.net.1.running_mean"])
    torch.save(checkpoint_of(module), tmp_path / "last.ckpt")
    generator, info = load_generator(tmp_path / "last.ckpt")  # as sample.py and export load it
    assert info.weights == "generator_ema"
    for name, value in generator.state_dict().items():
        assert torch.equal(value, state[f"generator_ema.{name}"]), name


def test_a_saved_average_resumes_as_it_was_saved():
    saved, resumed = build_module(compose_train(*SMALL)), build_module(compose_train(*SMALL))
    with torch.no_grad():
        for parameter in saved.generator_ema.parameters():
            parameter.mul_(0.5)
    checkpoint = checkpoint_of(saved)
    resumed.on_load_checkpoint(checkpoint)
    resumed.load_state_dict(checkpoint["state_dict"])  # strict
    loaded = resumed.generator_ema.state_dict()
    for name, value in saved.generator_ema.state_dict().items():
        assert torch.equal(loaded[name], value), name
    z = torch.randn(4, saved.generator.latent_dim)
    assert torch.equal(resumed.sample(z), saved.sample(z))


def test_resuming_with_ema_switched_on_or_off_loads(caplog):
    plain, averaged = build_module(compose_train(*WITHOUT_EMA)), build_module(compose_train(*SMALL))
    with torch.no_grad():
        plain.generator.net[0].weight.add_(1.0)  # unlike the averaged module's weights
    checkpoint = {"state_dict": plain.state_dict()}
    averaged.on_load_checkpoint(checkpoint)  # EMA switched on: the average starts from the saved G
    averaged.load_state_dict(checkpoint["state_dict"])  # strict
    assert torch.equal(averaged.generator_ema.average.net[0].weight, plain.generator.net[0].weight)
    checkpoint = {"state_dict": averaged.state_dict()}
    with caplog.at_level(logging.INFO, logger="facegan.gan.ema"):
        plain.on_load_checkpoint(checkpoint)  # EMA switched off: the saved average is left out, with a log line
    assert "model.ema_kimg is off" in caplog.text
    plain.load_state_dict(checkpoint["state_dict"])


def load(path):
    return torch.load(path, map_location="cpu")


@pytest.mark.slow
def test_training_averages_g_and_checkpoints_serve_the_average(tmp_path):
    train(compose_train(*SMALL, "trainer.max_epochs=1", output_dir=tmp_path))
    state = load(tmp_path / "checkpoints" / "last.ckpt")["state_dict"]
    raw, average = state["generator.net.0.weight"], state["generator_ema.net.0.weight"]
    assert not torch.equal(raw, average)
    # The average's BatchNorm statistics are its own, not copies of G's.
    assert not torch.equal(state["generator.net.1.running_mean"], state["generator_ema.net.1.running_mean"])
    generator, info = load_generator(tmp_path / "checkpoints" / "last.ckpt")
    assert info.weights == "generator_ema"
    assert torch.equal(generator.state_dict()["net.0.weight"], average)
    assert torch.equal(generator.state_dict()["net.1.running_mean"], state["generator_ema.net.1.running_mean"])


@pytest.mark.slow
def test_sample_uses_the_average_in_eval_mode():
    module = build_module(compose_train(*SMALL))
    with torch.no_grad():
        for parameter in module.generator_ema.parameters():
            parameter.mul_(0.5)
    z = torch.randn(4, module.generator.latent_dim)
    module.generator_ema.train()
    images = module.sample(z)
    assert module.generator_ema.average.training  # mode restored
    # The statistics sample() measured for the new weights, measured again for a fresh copy of them.
    reference = EMAGenerator(module.generator_ema.average, kimg=1, rampup=None).sampling_network()
    with torch.no_grad():
        assert torch.equal(images, reference.eval()(z))


@pytest.mark.slow
def test_ema_leaves_training_untouched(tmp_path):
    """G trains bit for bit the same with or without the average, so one run measures both generators."""
    train(compose_train(*SMALL, "trainer.max_epochs=1", output_dir=tmp_path / "ema"))
    train(compose_train(*WITHOUT_EMA, "trainer.max_epochs=1", output_dir=tmp_path / "plain"))
    averaged = load(tmp_path / "ema" / "checkpoints" / "last.ckpt")["state_dict"]
    plain = load(tmp_path / "plain" / "checkpoints" / "last.ckpt")["state_dict"]
    assert plain.keys() == {key for key in averaged if not key.startswith("generator_ema.")}
    for key, value in plain.items():
        assert torch.equal(averaged[key], value), key


@pytest.mark.parametrize("recipe,augmented", [((), False), (("experiment=celeba_small",), True)])
def test_recipes_turn_the_average_on(recipe, augmented):
    module = build_module(compose_train(*recipe, "model.ngf=4", "model.ndf=4"))
    assert module.generator_ema.kimg == 10
    assert (module.augment is not None) == augmented
