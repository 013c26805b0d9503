"""Shared helpers for every network: the width checks, the DCGAN weight init and the depth rule."""

from torch import nn

from facegan.errors import ConfigError, require_integer

MIN_IMAGE_SIZE = 16
MAX_IMAGE_SIZE = 1024


def check_generator_widths(latent_dim: int, base_channels: int, example_latent_dim: int) -> None:
    """Both generator families: z size and width (model.ngf) are positive integers; the fix names the family's
    own z size."""
    require_integer("model.latent_dim", latent_dim, 1, example_latent_dim)
    require_integer("model.ngf", base_channels, 1, 64)


def check_discriminator_width(base_channels: int) -> None:
    require_integer("model.ndf", base_channels, 1, 64)


def num_resolution_blocks(image_size: int) -> int:
    """Number of stride-2 BatchNorm blocks between the 4x4 core and the outer layer.

    Both networks go 4x4 <-> image_size in stride-2 steps; the outermost step has no BatchNorm,
    so a 32x32 model has 2 such blocks, 64x64 has 3 and 128x128 has 4: one more per doubling.
    """
    valid = MIN_IMAGE_SIZE <= image_size <= MAX_IMAGE_SIZE and image_size & (image_size - 1) == 0
    if not valid:
        raise ConfigError(
            f"image_size={image_size} cannot be produced by a DCGAN: use a power of two from "
            f"{MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE} (e.g. model=dcgan32, dcgan64 or dcgan128)"
        )
    return image_size.bit_length() - 4  # log2(image_size) - 3


def init_dcgan_weights(module: nn.Module) -> None:
    """DCGAN paper init: conv/linear weights ~ N(0, 0.02), BatchNorm scale ~ N(1, 0.02), biases 0."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(layer.weight, 0.0, 0.02)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)
