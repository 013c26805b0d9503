"""Exponential moving average (EMA) of the generator's weights (Karras et al. 2018; Yazici et al. 2019).

G's weights keep jumping as it chases a moving D; their running average is smoother and gives better
samples (the raw G trains, the average is only ever sampled). As in StyleGAN2-ADA the horizon is set in
training images, not in updates, so it means the same whatever the batch size, device count or n_critic:
after an update that followed `images` more training images,

    average <- beta * average + (1 - beta) * weights,    beta = 0.5 ** (images / half_life)

so the average halves the weight of what it held every `ema_kimg` thousand images. During a warm-up the
half-life is at most `ema_rampup` times the images seen so far, so the early average follows G instead of
remembering its random init.

BatchNorm running statistics are not averaged: statistics of G's activations do not belong to the averaged
weights. facegan.models.statistics measures the average's own, from generated batches, before it is sampled,
scored or saved (GAN.ema_generator).
"""

import copy

import torch
from torch import nn

from facegan.errors import ConfigError


class EMA:
    """The averaging rule; the average itself is a network the LightningModule holds (`generator_ema`)."""

    def __init__(self, kimg: float, rampup: float | None):
        if isinstance(kimg, bool) or not isinstance(kimg, (int, float)) or kimg <= 0:
            raise ConfigError(f"model.ema_kimg={kimg} must be a positive number of thousand images (e.g. 10), or null")
        if rampup is not None and (isinstance(rampup, bool) or not 0 < rampup <= 1):
            raise ConfigError(f"model.ema_rampup={rampup} must be in (0, 1] (e.g. 0.05), or null for no warm-up")
        self.kimg = float(kimg)
        self.rampup = rampup

    def half_life(self, images_seen: int) -> float:
        """The half-life in images after `images_seen` training images: ema_kimg, shorter during the warm-up."""
        half_life = self.kimg * 1000
        if self.rampup is not None:
            half_life = min(half_life, images_seen * self.rampup)
        return max(half_life, 1e-8)

    def beta(self, images_seen: int, images_since_last: int) -> float:
        """How much of the old average an update keeps."""
        return 0.5 ** (images_since_last / self.half_life(images_seen))

    @staticmethod
    def copy(network: nn.Module) -> nn.Module:
        """The average's starting point: a copy of `network` that no optimizer or backward pass touches."""
        return copy.deepcopy(network).requires_grad_(False)

    @torch.no_grad()
    def update(self, average: nn.Module, network: nn.Module, images_seen: int, images_since_last: int) -> None:
        """Move `average` toward `network` after an update that followed `images_since_last` training images."""
        weight = 1.0 - self.beta(images_seen, images_since_last)
        # One multi-tensor kernel for all weights (as torch.optim's foreach path), not a launch per tensor;
        # it refuses lists of different lengths.
        torch._foreach_lerp_(list(average.parameters()), list(network.parameters()), weight)

    def __repr__(self) -> str:
        return f"EMA(kimg={self.kimg}, rampup={self.rampup})"
