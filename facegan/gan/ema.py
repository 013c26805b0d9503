"""Exponential moving average (EMA) of the generator's weights (Karras et al. 2018; Yazici et al. 2019).

G's weights keep jumping as it chases a moving D; their running average is smoother and gives better
samples (the raw G trains, the average is only ever sampled). After the n-th G update (n = 0, 1, ...):

    average <- decay_n * average + (1 - decay_n) * weights,    decay_n = min(decay, (1 + n) / (10 + n))

The warm-up lets the early average follow G (decay_0 = 0.1) instead of remembering the random init for
~1 / (1 - decay) updates; the average spans about the last 10% of the updates until `decay` takes over
(0.999 after ~9,000 updates). BatchNorm running statistics are buffers, not learnt: copied from G.
"""

import copy

import torch
from torch import nn

from facegan.errors import ConfigError


class EMA:
    """The averaging rule; the average itself is a network the LightningModule holds (`generator_ema`)."""

    def __init__(self, decay: float):
        if not 0.0 < decay < 1.0:
            raise ConfigError(f"model.ema_decay={decay} must be between 0 and 1 (e.g. 0.999), or null for no EMA")
        self.decay = decay

    def decay_at(self, updates: int) -> float:
        """The decay for the update after `updates` earlier ones: warmed up, then `decay`."""
        return min(self.decay, (1 + updates) / (10 + updates))

    @staticmethod
    def copy(network: nn.Module) -> nn.Module:
        """The average's starting point: a copy of `network` that no optimizer or backward pass touches."""
        return copy.deepcopy(network).requires_grad_(False)

    @torch.no_grad()
    def update(self, average: nn.Module, network: nn.Module, updates: int) -> None:
        """Move `average` toward `network` after its update number `updates` (0-based)."""
        weight = 1.0 - self.decay_at(updates)
        # One multi-tensor kernel for all weights (as torch.optim's foreach path), not a launch per tensor;
        # it refuses lists of different lengths, as zip(strict=True) did.
        torch._foreach_lerp_(list(average.parameters()), list(network.parameters()), weight)
        for averaged_buffer, current_buffer in zip(average.buffers(), network.buffers(), strict=True):
            averaged_buffer.copy_(current_buffer)

    def __repr__(self) -> str:
        return f"EMA(decay={self.decay})"
