"""The EMA generator: the averaging arithmetic, and that training, sampling, checkpoints and resume use it."""

import pytest
import torch
from torch import nn

from facegan.checkpoints.generator import load_generator
from facegan.errors import ConfigError
from facegan.gan.ema import EMA
from facegan.train import build_module, train
from helpers import TINY, compose_train

SMALL = (*TINY, "model.ema_decay=0.9")
WITHOUT_EMA = (*TINY, "model.ema_decay=null")


def test_decay_warms_up_then_holds():
    ema = EMA(decay=0.99)
    assert ema.decay_at(0) == pytest.approx(0.1)  # (1 + 0) / (10 + 0): the first average is mostly G
    assert ema.decay_at(90) == pytest.approx(0.91)  # 91 / 100
    assert ema.decay_at(10_000) == 0.99


def test_update_moves_weights_by_the_decay_and_copies_batchnorm_statistics():
    network = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    ema = EMA(decay=0.5)
    average = ema.copy(network)
    assert all(not parameter.requires_grad for parameter in average.parameters())
    with torch.no_grad():
        for parameter in average.parameters():
            parameter.fill_(0.0)
        for parameter in network.parameters():
            parameter.fill_(1.0)
        network[1].running_mean.fill_(7.0)
    ema.update(average, network, updates=0)  # decay 0.1: 0.1 * 0 + 0.9 * 1
    assert all(torch.allclose(p, torch.full_like(p, 0.9)) for p in average.parameters())
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.fill_(3.0)
    ema.update(average, network, updates=1000)  # past the warm-up: decay 0.5
    assert all(torch.allclose(p, torch.full_like(p, 0.5 * 0.9 + 0.5 * 3.0)) for p in average.parameters())
    assert torch.equal(average[1].running_mean, torch.full((2,), 7.0))  # copied, not averaged
    assert all(parameter.grad is None for parameter in average.parameters())


@pytest.mark.parametrize("decay", [0.0, 1.0, 1.5])
def test_impossible_decay_is_a_config_error(decay):
    with pytest.raises(ConfigError, match=f"model.ema_decay={decay}"):
        EMA(decay)


def test_ema_is_on_by_default_and_off_with_null():
    assert build_module(compose_train("data=synthetic")).ema.decay == 0.999
    assert build_module(compose_train("data=synthetic", "model.ema_decay=null")).generator_ema is None
    module = build_module(compose_train(*SMALL))
    assert module.ema.decay == 0.9
    assert torch.equal(module.generator_ema.state_dict()["net.0.weight"], module.generator.state_dict()["net.0.weight"])


def load(path):
    return torch.load(path, map_location="cpu")


@pytest.mark.slow
def test_training_averages_g_and_checkpoints_serve_the_average(tmp_path):
    train(compose_train(*SMALL, "trainer.max_epochs=1", output_dir=tmp_path))
    state = load(tmp_path / "checkpoints" / "last.ckpt")["state_dict"]
    raw, average = state["generator.net.0.weight"], state["generator_ema.net.0.weight"]
    assert not torch.equal(raw, average)  # 4 G updates, averaged with decays 0.1, ~0.18, 0.25, ~0.31
    generator, info = load_generator(tmp_path / "checkpoints" / "last.ckpt")
    assert info.weights == "generator_ema"
    assert torch.equal(generator.state_dict()["net.0.weight"], average)


@pytest.mark.slow
def test_sample_uses_the_average_in_eval_mode():
    module = build_module(compose_train(*SMALL))
    with torch.no_grad():
        for parameter in module.generator_ema.parameters():
            parameter.mul_(0.5)
    z = torch.randn(4, module.generator.latent_dim)
    module.generator_ema.eval()
    expected = module.generator_ema(z)
    module.generator_ema.train()
    assert torch.equal(module.sample(z), expected)
    assert module.generator_ema.training  # mode restored


@pytest.mark.slow
def test_resume_restores_the_average_bit_for_bit(tmp_path):
    full = tmp_path / "full"
    train(compose_train(*SMALL, "trainer.max_epochs=2", output_dir=full))
    resumed = tmp_path / "resumed"
    ckpt = f"ckpt_path={full}/checkpoints/epoch_000.ckpt"
    train(compose_train(*SMALL, "trainer.max_epochs=2", ckpt, output_dir=resumed))
    expected, actual = load(full / "checkpoints" / "last.ckpt"), load(resumed / "checkpoints" / "last.ckpt")
    ema_keys = [key for key in expected["state_dict"] if key.startswith("generator_ema.")]
    assert ema_keys
    for key in ema_keys:
        assert torch.equal(actual["state_dict"][key], expected["state_dict"][key]), key


def test_resuming_with_ema_switched_on_or_off_loads(tmp_path):
    plain, averaged = build_module(compose_train(*WITHOUT_EMA)), build_module(compose_train(*SMALL))
    with torch.no_grad():
        plain.generator.net[0].weight.add_(1.0)  # unlike the averaged module's weights
    checkpoint = {"state_dict": plain.state_dict()}
    averaged.on_load_checkpoint(checkpoint)  # EMA switched on: the average starts from the saved G
    averaged.load_state_dict(checkpoint["state_dict"])  # strict
    assert torch.equal(averaged.generator_ema.net[0].weight, plain.generator.net[0].weight)
    checkpoint = {"state_dict": averaged.state_dict()}
    plain.on_load_checkpoint(checkpoint)  # EMA switched off: the saved average is left out
    plain.load_state_dict(checkpoint["state_dict"])


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
    assert module.ema.decay == 0.999
    assert (module.augment is not None) == augmented
