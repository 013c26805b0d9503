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
weights. The average's own are measured from generated batches (BigGAN's "standing statistics") before it is
sampled, scored or saved, once for each new set of weights.

EMAGenerator is all of it: the average network, its update, its statistics and its place in checkpoints. The
LightningModule builds it from G, calls update() after each G step, samples sampling_network(), and calls its
checkpoint rules from its save and load hooks.
"""

import copy
import logging

import torch
from torch import nn

from facegan.errors import ConfigError

log = logging.getLogger(__name__)

# The LightningModule's names for G and its average, and so their keys in a checkpoint's state_dict
# (generator.net.0.weight, generator_ema.net.0.weight): sample.py, export and evaluate read the average's.
GENERATOR_KEYS = "generator."
AVERAGE_KEYS = "generator_ema."

# Images the average's BatchNorm statistics are measured on: per-channel means and variances pool every pixel of
# them, so a few thousand images pin them down while costing far less than an epoch.
STATISTICS_IMAGES = 2048
STATISTICS_BATCH = 256
STATISTICS_SEED = 0  # a fixed z stream, so the same weights always get the same statistics


class EMAGenerator(nn.Module):
    """The moving average of `generator`'s weights, with the horizon `kimg` (thousand images) and the warm-up
    `rampup` (a fraction of the images seen, or None). It starts as a copy of `generator` that no optimizer or
    backward pass touches. An nn.Module, so it moves with the LightningModule; its state_dict is the average's."""

    def __init__(self, generator: nn.Module, kimg: float, rampup: float | None):
        super().__init__()
        if isinstance(kimg, bool) or not isinstance(kimg, (int, float)) or kimg <= 0:
            raise ConfigError(f"model.ema_kimg={kimg} must be a positive number of thousand images (e.g. 10), or null")
        if rampup is not None and (isinstance(rampup, bool) or not 0 < rampup <= 1):
            raise ConfigError(f"model.ema_rampup={rampup} must be in (0, 1] (e.g. 0.05), or null for no warm-up")
        self.kimg = float(kimg)
        self.rampup = rampup
        self.average = copy.deepcopy(generator).requires_grad_(False)
        self._statistics_measured = False  # whether the BatchNorm statistics are those of the current weights

    def half_life(self, images_seen: int) -> float:
        """The half-life in images after `images_seen` training images: ema_kimg, shorter during the warm-up."""
        half_life = self.kimg * 1000
        if self.rampup is not None:
            half_life = min(half_life, images_seen * self.rampup)
        return max(half_life, 1e-8)

    def beta(self, images_seen: int, images_since_last: int) -> float:
        """How much of the old average an update keeps."""
        return 0.5 ** (images_since_last / self.half_life(images_seen))

    @torch.no_grad()
    def update(self, generator: nn.Module, images_seen: int, images_since_last: int) -> None:
        """Move the average toward `generator` after its update that followed `images_since_last` training images
        (`images_seen` in all)."""
        weight = 1.0 - self.beta(images_seen, images_since_last)
        # One multi-tensor kernel for all weights (as torch.optim's foreach path), not a launch per tensor;
        # it refuses lists of different lengths.
        torch._foreach_lerp_(list(self.average.parameters()), list(generator.parameters()), weight)
        self._statistics_measured = False

    def sampling_network(self) -> nn.Module:
        """The average with BatchNorm statistics of its current weights, measured when they have changed since."""
        if not self._statistics_measured:
            self._measure_batchnorm_statistics()
            self._statistics_measured = True
        return self.average

    @torch.no_grad()
    def _measure_batchnorm_statistics(self) -> None:
        """Replace the average's BatchNorm running statistics by those of its own activations on
        STATISTICS_IMAGES generated images (a plain average over the batches, from a fixed z stream), leaving its
        mode as it was: eval-mode samples then match what these weights produce."""
        network = self.average
        norms = [layer for layer in network.modules() if isinstance(layer, nn.modules.batchnorm._BatchNorm)]
        if not norms:
            return
        device = next(network.parameters()).device
        momenta = [layer.momentum for layer in norms]
        for layer in norms:
            layer.reset_running_stats()
            layer.momentum = None  # cumulative: every batch counts the same
        was_training = network.training
        network.train()
        stream = torch.Generator().manual_seed(STATISTICS_SEED)
        try:
            for start in range(0, STATISTICS_IMAGES, STATISTICS_BATCH):
                count = min(STATISTICS_BATCH, STATISTICS_IMAGES - start)
                network(torch.randn(count, network.latent_dim, generator=stream).to(device))
        finally:
            for layer, momentum in zip(norms, momenta):
                layer.momentum = momentum
            network.train(was_training)

    # ---- Checkpoints ----

    def state_dict(self, *args, **kwargs):
        # The average's keys under this module's own name, with no `average.` level in between: checkpoints hold
        # generator_ema.net.0.weight, as sample.py, export and evaluate read it.
        return self.average.state_dict(*args, **kwargs)

    def _load_from_state_dict(self, state_dict, prefix, *args) -> None:
        # The way back: a checkpoint's generator_ema.net.0.weight is the average's net.0.weight.
        for key in [key for key in state_dict if key.startswith(prefix)]:
            state_dict[f"{prefix}average.{key.removeprefix(prefix)}"] = state_dict.pop(key)
        self._statistics_measured = False  # measured again for the loaded weights
        super()._load_from_state_dict(state_dict, prefix, *args)

    def save_into(self, state_dict: dict) -> None:
        """Put the average's BatchNorm statistics, measured for its weights, into a checkpoint's state_dict, which
        Lightning took before its save hooks run: the checkpoint serves the average, statistics included."""
        for name, buffer in self.sampling_network().named_buffers():
            state_dict[AVERAGE_KEYS + name] = buffer.detach().clone()

    @staticmethod
    def match_checkpoint(state_dict: dict, switched_on: bool) -> None:
        """Fit a checkpoint's state_dict to a run that resumes it with the EMA switched on or off: switched on
        for a checkpoint without an average, the average starts from the checkpoint's G; switched off, the
        checkpoint's average is not used."""
        saved = [key for key in state_dict if key.startswith(AVERAGE_KEYS)]
        if switched_on and not saved:
            log.info("The checkpoint has no EMA generator: the average starts from its generator's weights")
            for key in [key for key in state_dict if key.startswith(GENERATOR_KEYS)]:
                state_dict[AVERAGE_KEYS + key.removeprefix(GENERATOR_KEYS)] = state_dict[key].clone()
        elif not switched_on and saved:
            log.info("model.ema_kimg is off: the checkpoint's EMA generator is not used")
            for key in saved:
                del state_dict[key]

    def extra_repr(self) -> str:
        return f"kimg={self.kimg}, rampup={self.rampup}"
