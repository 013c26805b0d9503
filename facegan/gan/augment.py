"""DiffAugment (Zhao et al. 2020): random, differentiable transforms of every image D sees.

With few training images D memorises them and its feedback to G collapses. Augmenting only the real
images would teach G to draw the augmentations; DiffAugment transforms real and generated images
alike, in D's update and in G's, and every transform is differentiable, so G's gradient passes through
it. Each call draws new transforms per image (from torch's global RNG, so resumed runs repeat them).

Policies, on (B, C, H, W) images in [-1, 1]:
  color        brightness +-0.5, saturation x[0, 2], contrast x[0.5, 1.5], one draw each per image
  translation  shift by up to translation_ratio of the size in x and y, filling with 0
  cutout       zero a square of cutout_ratio of the size at a random centre
"""

from collections.abc import Sequence
from functools import partial

import torch
import torch.nn.functional as F

from facegan.errors import ConfigError

POLICIES = ("color", "translation", "cutout")


def _per_image(images: torch.Tensor) -> torch.Tensor:
    """One uniform [0, 1) draw per image, (B, 1, 1, 1), in the images' dtype (no autocast upcast)."""
    return torch.rand(images.shape[0], 1, 1, 1, dtype=images.dtype, device=images.device)


def color(images: torch.Tensor) -> torch.Tensor:
    images = images + (_per_image(images) - 0.5)  # brightness
    mean = images.mean(dim=1, keepdim=True)  # (B, 1, H, W): the grey level of each pixel
    images = (images - mean) * (_per_image(images) * 2) + mean  # saturation
    mean = images.mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    return (images - mean) * (_per_image(images) + 0.5) + mean  # contrast


def _random_offsets(count: int, low: int, high: int, device: torch.device) -> torch.Tensor:
    """(count, 1) integers in [low, high)."""
    return torch.randint(low, high, (count, 1), device=device)


def translation(images: torch.Tensor, ratio: float) -> torch.Tensor:
    batch, channels, height, width = images.shape
    max_dy, max_dx = int(height * ratio + 0.5), int(width * ratio + 0.5)
    dy = _random_offsets(batch, -max_dy, max_dy + 1, images.device)
    dx = _random_offsets(batch, -max_dx, max_dx + 1, images.device)
    # Output pixel (y, x) reads input pixel (y - dy, x - dx) of the image padded by one zero pixel per side;
    # indices past the edge are clamped onto that padding, so uncovered pixels become 0.
    padded = F.pad(images, (1, 1, 1, 1))  # (B, C, H + 2, W + 2)
    rows = (torch.arange(height, device=images.device) - dy + 1).clamp(0, height + 1)  # (B, H)
    cols = (torch.arange(width, device=images.device) - dx + 1).clamp(0, width + 1)  # (B, W)
    shifted = padded.gather(2, rows[:, None, :, None].expand(batch, channels, height, width + 2))  # (B, C, H, W + 2)
    shifted = shifted.gather(3, cols[:, None, None, :].expand(batch, channels, height, width))  # (B, C, H, W)
    return _like(shifted, images)


def cutout(images: torch.Tensor, ratio: float) -> torch.Tensor:
    batch, _, height, width = images.shape
    size_y, size_x = int(height * ratio + 0.5), int(width * ratio + 0.5)
    # Centres anywhere in the image, so squares may hang over an edge (as in the paper's code).
    top = _random_offsets(batch, 0, height + (1 - size_y % 2), images.device) - size_y // 2  # (B, 1)
    left = _random_offsets(batch, 0, width + (1 - size_x % 2), images.device) - size_x // 2
    rows = torch.arange(height, device=images.device)
    cols = torch.arange(width, device=images.device)
    inside_y = (rows >= top) & (rows < top + size_y)  # (B, H)
    inside_x = (cols >= left) & (cols < left + size_x)  # (B, W)
    keep = ~(inside_y[:, :, None] & inside_x[:, None, :])  # (B, H, W)
    return images * keep[:, None].to(images.dtype)


def _like(result: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """`result` in the memory format of `images`: gather returns NCHW, and D may expect channels_last."""
    if images.is_contiguous(memory_format=torch.channels_last) and not images.is_contiguous():
        return result.contiguous(memory_format=torch.channels_last)
    return result


class DiffAugment:
    """Applies `policy` (names from POLICIES, in order) to a batch of images."""

    def __init__(
        self,
        policy: Sequence[str] = POLICIES,
        translation_ratio: float = 0.125,
        cutout_ratio: float = 0.5,
    ):
        unknown = [name for name in policy if name not in POLICIES]
        if unknown or not policy:
            raise ConfigError(
                f"augment.policy={list(policy)}: choose one or more of {', '.join(POLICIES)} (or augment=none)"
            )
        for name, ratio in (("translation_ratio", translation_ratio), ("cutout_ratio", cutout_ratio)):
            if not 0.0 < ratio < 1.0:
                raise ConfigError(f"augment.{name}={ratio} must be between 0 and 1 (the paper uses 0.125 and 0.5)")
        self.policy = tuple(policy)
        self.translation_ratio = translation_ratio
        self.cutout_ratio = cutout_ratio
        transforms = {
            "color": color,
            "translation": partial(translation, ratio=translation_ratio),
            "cutout": partial(cutout, ratio=cutout_ratio),
        }
        self._transforms = [transforms[name] for name in self.policy]

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        for transform in self._transforms:
            images = transform(images)
        return images

    def __repr__(self) -> str:
        return (
            f"DiffAugment(policy={list(self.policy)}, translation_ratio={self.translation_ratio}, "
            f"cutout_ratio={self.cutout_ratio})"
        )
