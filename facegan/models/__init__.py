"""The networks: a DCGAN generator and discriminator whose depth follows the image size."""

from facegan.models.discriminator import Discriminator
from facegan.models.generator import Generator
from facegan.models.init import init_dcgan_weights, num_resolution_blocks

__all__ = ["Discriminator", "Generator", "init_dcgan_weights", "num_resolution_blocks"]
