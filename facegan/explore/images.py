"""Generator outputs as the pictures the page shows: PIL images, upscaled without blur so that a 32x32 face shows
its own pixels."""

import torch
from PIL import Image

from facegan.figures import image_grid


def to_picture(images: torch.Tensor, columns: int, display_size: int) -> Image.Image:
    """(B, 3, S, S) in [-1, 1] as one grid image, each face drawn display_size pixels wide."""
    grid = image_grid(images, nrow=columns)  # (3, H, W) in [0, 1]
    pixels = grid.mul(255).add(0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    picture = Image.fromarray(pixels)
    scale = max(1, round(display_size / images.shape[-1]))
    return picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)


def to_pictures(images: torch.Tensor, display_size: int) -> list[Image.Image]:
    """(B, 3, S, S) in [-1, 1] as one picture per face."""
    return [to_picture(image.unsqueeze(0), 1, display_size) for image in images]
