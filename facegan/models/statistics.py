"""BatchNorm statistics measured for a generator's own weights (BigGAN's "standing statistics").

A generator whose weights did not come from training on its own activations (the EMA average of G's weights)
has no running statistics of its own; in eval mode it would normalise with someone else's.
"""

import torch
from torch import nn

# Images the average's BatchNorm statistics are measured on: per-channel means and variances over every
# pixel of this many images are precise to well under a percent, and cost a fraction of an epoch.
STATISTICS_IMAGES = 2048
STATISTICS_BATCH = 256
STATISTICS_SEED = 0  # a fixed z stream, so the same weights always get the same statistics


@torch.no_grad()
def recompute_batchnorm_statistics(generator: nn.Module, images: int = STATISTICS_IMAGES) -> None:
    """Replace the generator's BatchNorm running statistics by those of its own activations on `images`
    generated images (a plain average over the batches, from a fixed z stream), leaving its mode as it was.
    What BigGAN calls standing statistics: eval-mode samples then match what these weights produce."""
    norms = [layer for layer in generator.modules() if isinstance(layer, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    device = next(generator.parameters()).device
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative: every batch counts the same
    was_training = generator.training
    generator.train()
    stream = torch.Generator().manual_seed(STATISTICS_SEED)
    try:
        for start in range(0, images, STATISTICS_BATCH):
            count = min(STATISTICS_BATCH, images - start)
            generator(torch.randn(count, generator.latent_dim, generator=stream).to(device))
    finally:
        for layer, momentum in zip(norms, momenta):
            layer.momentum = momentum
        generator.train(was_training)
