"""DCGAN discriminator: image (B, 3, S, S) -> one logit per image (B,)."""

import torch
from torch import nn
from torch.nn.utils import parametrizations

from facegan.errors import require_boolean
from facegan.models.init import check_discriminator_width, init_dcgan_weights, num_resolution_blocks


def _down_block(in_channels: int, out_channels: int, batch_norm: bool) -> nn.Sequential:
    """Halves the resolution with a stride-2 conv (no pooling), then LeakyReLU(0.2)."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


class Discriminator(nn.Module):
    """Strided-conv discriminator, the mirror image of the Generator.

    Returns raw logits, not probabilities: the sigmoid lives in the loss, so BCE, LSGAN and others
    share this network and mixed precision stays numerically safe.
    spectral_norm=True (Miyato et al. 2018) divides every conv weight by its largest singular value, so
    D is 1-Lipschitz per layer; as in SNGAN and StudioGAN's DCGAN it then replaces BatchNorm, whose
    rescaling would undo that bound (and whose batch statistics mix the images of a gradient penalty).
    For image_size=64, ndf=64: (B, 3, 64, 64) -> (B, 64, 32, 32) -> (B, 128, 16, 16) -> (B, 256, 8, 8)
    -> (B, 512, 4, 4) -> (B,)
    """

    def __init__(self, image_size: int = 64, base_channels: int = 64, channels: int = 3, spectral_norm: bool = False):
        super().__init__()
        check_discriminator_width(base_channels)
        require_boolean("model.spectral_norm", spectral_norm)
        self.image_size = image_size
        num_blocks = num_resolution_blocks(image_size)
        width = base_channels
        # The DCGAN paper leaves BatchNorm off the first layer: it sees raw pixels.
        layers: list[nn.Module] = [_down_block(channels, width, batch_norm=False)]
        for _ in range(num_blocks):
            layers.append(_down_block(width, width * 2, batch_norm=not spectral_norm))
            width *= 2
        # (B, C, 4, 4) -> (B, 1, 1, 1)
        layers.append(nn.Conv2d(width, 1, 4, stride=1, padding=0, bias=False))
        self.net = nn.Sequential(*layers)
        init_dcgan_weights(self)
        if spectral_norm:  # after the init: the normalised weight is the initialised one over its spectral norm
            for layer in self.net.modules():
                if isinstance(layer, nn.Conv2d):
                    parametrizations.spectral_norm(layer)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).flatten()
