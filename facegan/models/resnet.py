"""The residual tier (SNGAN-style, Miyato et al. 2018; Mimicry's SNGAN): a generator of pre-activation blocks with
nearest-neighbour upsampling, and a spectral-norm discriminator of down-sampling blocks without BatchNorm.

Same contract as the DCGAN pair: z (B, latent_dim) -> image (B, 3, S, S) in [-1, 1]; image -> one logit per image
(B,). Both go 4x4 <-> S in factor-2 steps, one block per step, so a 32x32 model has 3 blocks, 64x64 has 4 and
128x128 has 5; widths halve (G) or double (D) per block, the image end `base_channels` wide, as in the DCGAN models.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrizations

from facegan.errors import ConfigError
from facegan.models.init import check_discriminator_width, check_generator_widths, num_resolution_blocks


def residual_blocks(image_size: int) -> int:
    """Blocks between 4x4 and image_size: log2(image_size) - 2 (a DCGAN's BatchNorm blocks plus its outer layer)."""
    return num_resolution_blocks(image_size) + 1


def xavier(layer: nn.Module, gain: float) -> nn.Module:
    """SNGAN's init: Xavier-uniform weights (gain sqrt(2) inside the residual branch, 1 elsewhere), zero biases."""
    nn.init.xavier_uniform_(layer.weight, gain)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def spectral(layer: nn.Module) -> nn.Module:
    return parametrizations.spectral_norm(layer)


class UpBlock(nn.Module):
    """(B, C_in, H, W) -> (B, C_out, 2H, 2W): BN, ReLU, nearest x2, 3x3 conv, BN, ReLU, 3x3 conv, plus the upsampled
    input through a 1x1 conv."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.conv1 = xavier(nn.Conv2d(in_channels, out_channels, 3, padding=1), math.sqrt(2))
        self.norm2 = nn.BatchNorm2d(out_channels)
        self.conv2 = xavier(nn.Conv2d(out_channels, out_channels, 3, padding=1), math.sqrt(2))
        self.shortcut = xavier(nn.Conv2d(in_channels, out_channels, 1), 1.0)
        self.upsample = nn.Upsample(scale_factor=2.0, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.upsample(F.relu(self.norm1(x)))  # (B, C_in, 2H, 2W)
        h = self.conv2(F.relu(self.norm2(self.conv1(h))))  # (B, C_out, 2H, 2W)
        return h + self.shortcut(self.upsample(x))


class DownBlock(nn.Module):
    """(B, C_in, H, W) -> (B, C_out, H/2, W/2): [ReLU], 3x3 conv, ReLU, 3x3 conv, 2x2 average pool, plus the input
    through a 1x1 conv and the pool. The first block of D sees pixels: no ReLU before its first conv, and its
    shortcut pools before the 1x1 conv (SNGAN's "optimized" block). Every conv spectrally normalised."""

    def __init__(self, in_channels: int, out_channels: int, first: bool = False):
        super().__init__()
        self.first = first
        self.conv1 = spectral(xavier(nn.Conv2d(in_channels, out_channels, 3, padding=1), math.sqrt(2)))
        self.conv2 = spectral(xavier(nn.Conv2d(out_channels, out_channels, 3, padding=1), math.sqrt(2)))
        self.shortcut = spectral(xavier(nn.Conv2d(in_channels, out_channels, 1), 1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        h = F.avg_pool2d(self.conv2(F.relu(self.conv1(h))), 2)  # (B, C_out, H/2, W/2)
        skip = self.shortcut(F.avg_pool2d(x, 2)) if self.first else F.avg_pool2d(self.shortcut(x), 2)
        return h + skip


class ResNetGenerator(nn.Module):
    """For image_size=64, ngf=64: z -> linear -> (B, 1024, 4, 4) -> (B, 512, 8, 8) -> (B, 256, 16, 16)
    -> (B, 128, 32, 32) -> (B, 64, 64, 64) -> BN, ReLU, 3x3 conv, Tanh -> (B, 3, 64, 64) (Mimicry's SNGAN 64)."""

    # The first layer's output, z mapped to (B, C * 4 * 4): the explorer's latent directions are its principal
    # components (GANSpace).
    FIRST_FEATURES = "start"

    def __init__(self, latent_dim: int = 128, image_size: int = 64, base_channels: int = 64, channels: int = 3):
        super().__init__()
        check_generator_widths(latent_dim, base_channels, example_latent_dim=128)
        self.latent_dim = latent_dim
        self.image_size = image_size
        num_blocks = residual_blocks(image_size)
        self.start_channels = base_channels * 2**num_blocks
        self.start = xavier(nn.Linear(latent_dim, 4 * 4 * self.start_channels), 1.0)  # z -> (B, C, 4, 4)
        widths = [base_channels * 2 ** (num_blocks - i) for i in range(num_blocks + 1)]
        self.blocks = nn.Sequential(*(UpBlock(c_in, c_out) for c_in, c_out in zip(widths, widths[1:])))
        self.end_norm = nn.BatchNorm2d(base_channels)
        self.end_conv = xavier(nn.Conv2d(base_channels, channels, 3, padding=1), 1.0)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.start(z.reshape(z.shape[0], self.latent_dim)).view(z.shape[0], self.start_channels, 4, 4)
        h = self.blocks(h)  # (B, ngf, S, S)
        return torch.tanh(self.end_conv(F.relu(self.end_norm(h))))  # (B, 3, S, S) in [-1, 1]


class ResNetDiscriminator(nn.Module):
    """For image_size=64, ndf=64: (B, 3, 64, 64) -> (B, 64, 32, 32) -> (B, 128, 16, 16) -> (B, 256, 8, 8)
    -> (B, 512, 4, 4) -> ReLU, sum over positions -> (B, 512) -> spectral-norm linear -> (B,). Raw logits, as
    the DCGAN discriminator: the loss owns the sigmoid. No BatchNorm, spectral norm on every layer (always on:
    `spectral_norm` is accepted for the DCGAN config contract and must be true)."""

    def __init__(self, image_size: int = 64, base_channels: int = 64, channels: int = 3, spectral_norm: bool = True):
        super().__init__()
        check_discriminator_width(base_channels)
        if spectral_norm is not True:
            raise ConfigError(
                f"model.spectral_norm={spectral_norm}: the residual discriminator is built with spectral norm on "
                "every layer (it has no BatchNorm to fall back on); drop the override"
            )
        self.image_size = image_size
        num_blocks = residual_blocks(image_size)
        widths = [channels, *(base_channels * 2**i for i in range(num_blocks))]
        self.blocks = nn.Sequential(
            *(DownBlock(c_in, c_out, first=i == 0) for i, (c_in, c_out) in enumerate(zip(widths, widths[1:])))
        )
        self.end = spectral(xavier(nn.Linear(widths[-1], 1), 1.0))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.blocks(images)).sum(dim=(2, 3))  # (B, C) : SNGAN's global sum pooling
        return self.end(h).flatten()
