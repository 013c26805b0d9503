import math

import pytest
import torch

from facegan.losses import BCELoss, LSGANLoss


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
