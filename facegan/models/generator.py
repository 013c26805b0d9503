"""DCGAN generator: z (B, latent_dim) -> image (B, 3, S, S) in [-1, 1]."""

import torch
from torch import nn

from facegan.models.init import check_generator_widths, init_dcgan_weights, num_resolution_blocks


def _up_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Doubles the resolution: stride-2 transposed conv, BatchNorm, ReLU."""
    return nn.Sequential(
        nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class Generator(nn.Module):
    """Transposed-conv generator with one block more per doubling of resolution.

    For image_size=64 and ngf=64 (the pytorch/examples network):
    z -> (B, 512, 4, 4) -> (B, 256, 8, 8) -> (B, 128, 16, 16) -> (B, 64, 32, 32) -> (B, 3, 64, 64)
    """

    # The first layer's activations, (B, width, 4, 4) after BatchNorm and ReLU: the explorer's latent directions are
    # their principal components (GANSpace).
    FIRST_FEATURES = "net.2"

    def __init__(self, latent_dim: int = 100, image_size: int = 64, base_channels: int = 64, channels: int = 3):
        super().__init__()
        check_generator_widths(latent_dim, base_channels, example_latent_dim=100)
        self.latent_dim = latent_dim
        self.image_size = image_size
        num_blocks = num_resolution_blocks(image_size)
        width = base_channels * 2**num_blocks
        layers: list[nn.Module] = [
            # (B, latent_dim, 1, 1) -> (B, width, 4, 4)
            nn.ConvTranspose2d(latent_dim, width, 4, stride=1, padding=0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        ]
        for _ in range(num_blocks):
            layers.append(_up_block(width, width // 2))  # (B, C, H, W) -> (B, C/2, 2H, 2W)
            width //= 2
        # (B, ngf, S/2, S/2) -> (B, 3, S, S); Tanh matches the [-1, 1] data range
        layers += [nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_dcgan_weights(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], self.latent_dim, 1, 1))
