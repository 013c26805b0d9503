"""The networks, whose depth follows the image size: the DCGAN pair, and the residual tier (resnet.py)."""

from facegan.models.discriminator import Discriminator
from facegan.models.generator import Generator
from facegan.models.init import init_dcgan_weights, num_resolution_blocks
from facegan.models.resnet import ResNetDiscriminator, ResNetGenerator

__all__ = [
    "Discriminator",
    "Generator",
    "ResNetDiscriminator",
    "ResNetGenerator",
    "init_dcgan_weights",
    "num_resolution_blocks",
]
