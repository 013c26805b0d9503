"""GAN objectives. Each loss owns the maths; the LightningModule only orchestrates the updates.

Every loss takes raw discriminator logits and offers:
  discriminator_loss(real_logits, fake_logits) -> DiscriminatorLoss(real, fake), total = real + fake
  generator_loss(fake_logits) -> the generator's loss, computed with flipped labels (fakes called real)
  score(logits) -> D's output in the units of the loss's targets, for logging (1 = real, 0 = fake)
"""

from typing import NamedTuple

import torch
import torch.nn.functional as F


class DiscriminatorLoss(NamedTuple):
    real: torch.Tensor
    fake: torch.Tensor

    @property
    def total(self) -> torch.Tensor:
        return self.real + self.fake


class _LabelledLoss:
    """Base for losses that compare D's output with a target label per image."""

    def __init__(self, real_label: float = 1.0, fake_label: float = 0.0):
        if not 0.0 <= fake_label < real_label <= 1.0:
            raise ValueError(
                f"real_label={real_label}, fake_label={fake_label}: need 0 <= fake_label < real_label <= 1 "
                "(one-sided smoothing is e.g. loss.real_label=0.9)"
            )
        self.real_label = real_label
        self.fake_label = fake_label

    def _distance(self, logits: torch.Tensor, target: float) -> torch.Tensor:
        raise NotImplementedError

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> DiscriminatorLoss:
        return DiscriminatorLoss(
            real=self._distance(real_logits, self.real_label),
            fake=self._distance(fake_logits, self.fake_label),
        )

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        # Flipped labels: G wants D to call its images real. Always 1.0, never the smoothed label.
        return self._distance(fake_logits, 1.0)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(real_label={self.real_label}, fake_label={self.fake_label})"


class BCELoss(_LabelledLoss):
    """The DCGAN loss: binary cross-entropy on logits; the generator side is the non-saturating form."""

    def _distance(self, logits: torch.Tensor, target: float) -> torch.Tensor:
        # The fused logits form is stable under autocast, unlike Sigmoid followed by BCELoss.
        return F.binary_cross_entropy_with_logits(logits.float(), torch.full_like(logits, target, dtype=torch.float32))

    def score(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits.float())


class LSGANLoss(_LabelledLoss):
    """Least-squares GAN (Mao et al. 2017): mean squared distance of D's output to targets 1 and 0."""

    def _distance(self, logits: torch.Tensor, target: float) -> torch.Tensor:
        return (logits.float() - target).pow(2).mean()

    def score(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.float()
