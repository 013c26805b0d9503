import math

import pytest
import torch
from torch import nn

from facegan.gan.losses import BCELoss, HingeLoss, LSGANLoss, WGANGPLoss
from facegan.gan.schedule import batches_from_steps, optimizer_steps
from facegan.models import Discriminator
from facegan.train import train
from helpers import TINY, compose_train, tensorboard_tags


def test_bce_on_known_logits():
    loss = BCELoss()
    zero = torch.zeros(4)
    d = loss.discriminator_loss(real_logits=zero, fake_logits=zero)
    assert d.real.item() == pytest.approx(math.log(2))
    assert d.fake.item() == pytest.approx(math.log(2))
    assert d.total.item() == pytest.approx(2 * math.log(2))
    # A confident, correct D: real logit +10, fake logit -10 -> both losses near 0
    confident = loss.discriminator_loss(torch.full((3,), 10.0), torch.full((3,), -10.0))
    assert confident.total.item() < 1e-4
    # Non-saturating G loss with flipped labels: -log(sigmoid(logit))
    assert loss.generator_loss(torch.tensor([2.0])).item() == pytest.approx(-math.log(1 / (1 + math.exp(-2.0))))


def test_bce_label_smoothing_applies_to_real_only():
    loss = BCELoss(real_label=0.9)
    logit = torch.tensor([3.0])
    p = 1 / (1 + math.exp(-3.0))
    expected_real = -(0.9 * math.log(p) + 0.1 * math.log(1 - p))
    assert loss.discriminator_loss(logit, logit).real.item() == pytest.approx(expected_real, rel=1e-5)
    assert loss.generator_loss(logit).item() == pytest.approx(-math.log(p), rel=1e-5)


def test_lsgan_on_known_outputs():
    loss = LSGANLoss()
    d = loss.discriminator_loss(real_logits=torch.tensor([1.0, 0.0]), fake_logits=torch.tensor([0.0, 2.0]))
    assert d.real.item() == pytest.approx(0.5)  # ((1-1)^2 + (0-1)^2) / 2
    assert d.fake.item() == pytest.approx(2.0)  # (0^2 + 2^2) / 2
    assert loss.generator_loss(torch.tensor([1.0, 3.0])).item() == pytest.approx(2.0)  # (0 + 4) / 2


def test_losses_are_float32_under_bfloat16_logits():
    logits = torch.randn(8, dtype=torch.bfloat16)
    for loss in (BCELoss(), LSGANLoss()):
        assert loss.generator_loss(logits).dtype == torch.float32


@pytest.mark.parametrize("real_label", [0.0, 1.5])
def test_bad_labels_are_rejected(real_label):
    with pytest.raises(ValueError, match=f"real_label={real_label}"):
        BCELoss(real_label=real_label)


def test_hinge_on_known_logits():
    loss = HingeLoss()
    d = loss.discriminator_loss(real_logits=torch.tensor([2.0, 0.0]), fake_logits=torch.tensor([-2.0, 0.5]))
    assert d.real.item() == pytest.approx(0.5)  # (max(0, 1 - 2) + max(0, 1 - 0)) / 2: past the margin costs nothing
    assert d.fake.item() == pytest.approx(0.75)  # (max(0, 1 - 2) + max(0, 1 + 0.5)) / 2
    assert loss.generator_loss(torch.tensor([1.0, 3.0])).item() == pytest.approx(-2.0)


def test_wgan_losses_on_known_critic_values():
    loss = WGANGPLoss()
    d = loss.discriminator_loss(real_logits=torch.tensor([3.0, 1.0]), fake_logits=torch.tensor([-1.0, 0.0]))
    assert (d.real.item(), d.fake.item()) == (pytest.approx(-2.0), pytest.approx(-0.5))
    assert loss.generator_loss(torch.tensor([1.0, 3.0])).item() == pytest.approx(-2.0)


class LinearCritic(nn.Module):
    """D(x) = <w, x> per image: its input gradient is w everywhere, so the penalty is known exactly."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.weight = nn.Parameter(weight)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return (images * self.weight).flatten(1).sum(dim=1)


def test_gradient_penalty_on_a_linear_critic():
    real, fake = torch.randn(4, 3, 2, 2), torch.randn(4, 3, 2, 2)
    weight = torch.zeros(3, 2, 2)
    weight[0, 0, 0] = 3.0  # |grad D| = 3 at every point between real and fake
    critic = LinearCritic(weight)
    penalty = WGANGPLoss(gp_weight=10.0).penalty(critic, real, fake)
    assert penalty.item() == pytest.approx(10.0 * (3.0 - 1.0) ** 2)
    penalty.backward()  # differentiable in D's weights: d/dw 10 (|w| - 1)^2 = 20 (|w| - 1) w / |w|
    assert critic.weight.grad[0, 0, 0].item() == pytest.approx(40.0)
    unit = LinearCritic(weight / 3.0)
    assert WGANGPLoss().penalty(unit, real, fake).item() == pytest.approx(0.0, abs=1e-6)


def test_gradient_penalty_is_float32_under_autocast():
    critic = LinearCritic(torch.full((3, 2, 2), 0.5))  # |grad D| = 0.5 * sqrt(12)
    real, fake = torch.randn(4, 3, 2, 2), torch.randn(4, 3, 2, 2)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        penalty = WGANGPLoss().penalty(critic, real.bfloat16(), fake.bfloat16())
    assert penalty.dtype == torch.float32
    assert penalty.item() == pytest.approx(10.0 * (0.5 * math.sqrt(12) - 1.0) ** 2, rel=1e-5)


def test_only_wgan_gp_has_a_penalty_and_several_critic_steps():
    real = fake = torch.zeros(2, 3, 2, 2)
    critic = LinearCritic(torch.ones(3, 2, 2))
    for loss in (BCELoss(), LSGANLoss(), HingeLoss()):
        assert loss.penalty(critic, real, fake) is None and loss.n_critic == 1
    assert WGANGPLoss().n_critic == 5
    with pytest.raises(ValueError, match="loss.n_critic=0"):
        HingeLoss(n_critic=0)


@pytest.mark.parametrize("n_critic", [1, 2, 5])
def test_optimizer_steps_and_batches_convert_both_ways(n_critic):
    for batches in range(40):
        assert batches_from_steps(optimizer_steps(batches, n_critic), n_critic) == batches
    # Between a batch's D and G steps the batch is not done yet (the G step's NaN check names it).
    last_of_cycle = n_critic - 1
    assert batches_from_steps(optimizer_steps(last_of_cycle, n_critic) + 1, n_critic) == last_of_cycle


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides",
    [
        ("loss=bce",),
        ("loss=lsgan",),
        ("loss=hinge", "model.spectral_norm=true"),
        ("loss=wgan_gp", "loss.n_critic=2", "augment=diffaugment"),
    ],
)
@pytest.mark.parametrize("model", ["dcgan32", "resnet32"])
def test_each_loss_trains_end_to_end(tmp_path, overrides, model):
    batches = 6  # over 2 epochs of 4 batches: max_steps counts batches whatever the schedule
    cfg = compose_train(
        *TINY, f"model={model}", *overrides, f"trainer.max_steps={batches}", "trainer.max_epochs=5", output_dir=tmp_path
    )
    n_critic = cfg.loss.n_critic
    train(cfg)
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu")
    assert checkpoint["global_step"] == optimizer_steps(batches, n_critic)
    g_state, d_state = (optimizer["state"] for optimizer in checkpoint["optimizer_states"])
    assert int(d_state[0]["step"]) == batches  # a D update on every batch
    assert int(g_state[0]["step"]) == batches // n_critic  # a G update on every n_critic-th
    weights = [value for value in checkpoint["state_dict"].values() if value.is_floating_point()]
    assert all(torch.isfinite(value).all() for value in weights)
    scalars = tensorboard_tags(tmp_path)["scalars"]
    assert {"loss/d", "loss/g", "d/real", "d/fake"} <= scalars
    assert ("loss/d_penalty" in scalars) == (cfg.loss._target_ == "facegan.gan.losses.WGANGPLoss")


def test_spectral_norm_discriminator_has_unit_spectral_norm_and_no_batchnorm():
    torch.manual_seed(0)
    discriminator = Discriminator(image_size=16, base_channels=8, spectral_norm=True)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in discriminator.modules())
    for _ in range(30):  # each training-mode forward refines the power-iteration estimate
        discriminator(torch.randn(2, 3, 16, 16))
    for layer in discriminator.modules():
        if isinstance(layer, nn.Conv2d):
            largest = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2)
            assert largest.item() == pytest.approx(1.0, rel=0.05)
