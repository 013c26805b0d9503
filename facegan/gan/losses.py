"""GAN objectives. Each loss owns the maths; the LightningModule only orchestrates the updates.

Every loss takes raw discriminator logits and offers:
  discriminator_objective(discriminator, real, fake) -> D's whole loss on a batch, penalty included, and its logits
  discriminator_loss(real_logits, fake_logits) -> DiscriminatorLoss(real, fake), total = real + fake
  penalty(discriminator, real, fake) -> a regulariser added to D's loss, or None (WGAN-GP's gradient penalty)
  generator_loss(fake_logits) -> the generator's loss, computed with flipped labels (fakes called real)
  score(logits) -> D's output for logging, in the loss's own units (see each loss)
  n_critic -> D updates per G update: D steps on every batch, G on every n_critic-th (1: both on every batch)
"""

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from facegan.errors import ConfigError, is_number, require_integer, require_positive


class DiscriminatorLoss(NamedTuple):
    real: torch.Tensor  # the term on real images
    fake: torch.Tensor  # the term on generated images
    penalty: torch.Tensor | None = None  # a regulariser of D, e.g. WGAN-GP's gradient penalty

    @property
    def total(self) -> torch.Tensor:
        terms = self.real + self.fake
        return terms if self.penalty is None else terms + self.penalty


class GANLoss:
    """What the module relies on beside the two losses: the update schedule and an optional penalty."""

    # True when D's loss differentiates through D's input gradient (a gradient penalty): torch.compile
    # has no double backward, so the module leaves D uncompiled for such a loss.
    needs_double_backward = False

    def __init__(self, n_critic: int = 1):
        require_integer("loss.n_critic", n_critic, 1, 5)  # D updates per G update
        self.n_critic = n_critic

    def discriminator_objective(
        self, discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor
    ) -> tuple[DiscriminatorLoss, torch.Tensor, torch.Tensor]:
        """D's loss on a batch of real and (detached) generated images, its penalty included, with D's
        logits on both, (B,) each, for the logged scores."""
        real_logits = discriminator(real)
        fake_logits = discriminator(fake)
        terms = self.discriminator_loss(real_logits, fake_logits)
        return terms._replace(penalty=self.penalty(discriminator, real, fake)), real_logits, fake_logits

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> DiscriminatorLoss:
        raise NotImplementedError

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def score(self, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def penalty(self, discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor | None:
        return None


class _LabelledLoss(GANLoss):
    """Base for losses that compare D's output with a target label per image. Scores: 1 = real, 0 = fake."""

    def __init__(self, real_label: float = 1.0, fake_label: float = 0.0, n_critic: int = 1):
        super().__init__(n_critic)
        if not (is_number(real_label) and is_number(fake_label) and 0.0 <= fake_label < real_label <= 1.0):
            raise ConfigError(
                f"loss.real_label={real_label}, loss.fake_label={fake_label}: need 0 <= fake_label < real_label <= 1 "
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
    """Least-squares GAN (Mao et al. 2017): mean squared distance of D's output to targets 1 and 0.

    D's output is its raw logit times `output_scale`. The squared distance does not saturate, so it takes
    D's output at face value: a DCGAN discriminator's raw logit starts with a spread of about the 0-to-1
    target gap and moves by about as much in one Adam step, so the targets G chases swing past each other
    from one update to the next and G collapses to one texture (docs/RESULTS.md). A smaller scale keeps each
    step of D's output small against the gap (conf/loss/lsgan.yaml sets it); 1.0 is the paper's raw form."""

    def __init__(self, real_label: float = 1.0, fake_label: float = 0.0, n_critic: int = 1, output_scale: float = 1.0):
        super().__init__(real_label, fake_label, n_critic)
        require_positive("loss.output_scale", output_scale, 0.02)
        self.output_scale = float(output_scale)

    def _distance(self, logits: torch.Tensor, target: float) -> torch.Tensor:
        return (self.score(logits) - target).pow(2).mean()

    def score(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.float() * self.output_scale

    def __repr__(self) -> str:
        return (
            f"LSGANLoss(real_label={self.real_label}, fake_label={self.fake_label}, output_scale={self.output_scale})"
        )


class HingeLoss(GANLoss):
    """Hinge loss (Lim & Ye 2017; SNGAN, BigGAN): D pushes real logits above +1 and fake ones below -1,
    and stops caring once they are past the margin; G raises D's logit on its images.
    Scores are the raw logits: +1 and -1 are the margins."""

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> DiscriminatorLoss:
        return DiscriminatorLoss(
            real=F.relu(1.0 - real_logits.float()).mean(),
            fake=F.relu(1.0 + fake_logits.float()).mean(),
        )

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return -fake_logits.float().mean()

    def score(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.float()

    def __repr__(self) -> str:
        return f"HingeLoss(n_critic={self.n_critic})"


class WGANGPLoss(GANLoss):
    """Wasserstein GAN with gradient penalty (Gulrajani et al. 2017): D is a critic whose score difference
    between real and fake estimates the Wasserstein distance, kept 1-Lipschitz by penalising
    (|grad_x D(x)| - 1)^2 at random points x between real and fake images. The critic trains
    `n_critic` times per generator update. Scores are the raw critic values (no fixed scale)."""

    needs_double_backward = True

    def __init__(self, gp_weight: float = 10.0, n_critic: int = 5):
        super().__init__(n_critic)
        require_positive("loss.gp_weight", gp_weight, 10)  # the paper's value
        self.gp_weight = gp_weight

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> DiscriminatorLoss:
        return DiscriminatorLoss(real=-real_logits.float().mean(), fake=fake_logits.float().mean())

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return -fake_logits.float().mean()

    def score(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.float()

    def penalty(self, discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """gp_weight * mean over images of (|grad D(x)|_2 - 1)^2, x = t real + (1 - t) fake, t ~ U(0, 1) per image.

        Computed in float32 outside autocast: the gradient of a bfloat16/float16 forward is too coarse for a
        penalty on its norm, and the double backward through it would be coarser still."""
        t = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
        with torch.autocast(device_type=real.device.type, enabled=False):
            between = torch.lerp(fake.detach().float(), real.detach().float(), t).requires_grad_(True)  # (B, 3, S, S)
            logits = discriminator(between)
            # Each logit depends on its own image only (up to D's BatchNorm batch statistics, which the paper drops:
            # model.spectral_norm=true does), so the gradient of the sum holds every image's own gradient.
            (gradient,) = torch.autograd.grad(logits.sum(), between, create_graph=True)
            norms = gradient.flatten(1).norm(2, dim=1)  # (B,)
            return self.gp_weight * (norms - 1.0).pow(2).mean()

    def __repr__(self) -> str:
        return f"WGANGPLoss(gp_weight={self.gp_weight}, n_critic={self.n_critic})"
