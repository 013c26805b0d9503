"""Pictures a person looks at: image grids, titled side-by-side figures, captioned GIF frames and GIF files.

The one place that picks matplotlib's backend: headless (Agg), so runs work on clusters and CI without a display.
"""

from pathlib import Path

import matplotlib
import torch
from PIL import Image, ImageDraw, ImageFont
from torchvision.utils import make_grid

from facegan.fileio import atomic_write

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (pyplot after the backend is chosen)


def image_grid(images: torch.Tensor, nrow: int) -> torch.Tensor:
    """(B, 3, S, S) in [-1, 1] -> one (3, H, W) grid in [0, 1] with 2-pixel gutters."""
    return make_grid(images.detach().float().cpu(), nrow=nrow, padding=2, normalize=True, value_range=(-1, 1))


def new_figure(figsize: tuple[float, float], dpi: int, columns: int = 1):
    """A matplotlib figure and its axes, to be written with save_figure()."""
    return plt.subplots(1, columns, figsize=figsize, dpi=dpi)


def save_figure(figure, path: Path) -> None:
    """Write the figure as a PNG (atomically: a viewer never sees half a file) and free it."""
    figure.tight_layout()
    with atomic_write(path) as partial:
        figure.savefig(partial, format="png")
    plt.close(figure)


def save_side_by_side(grids: dict[str, torch.Tensor], path: Path, dpi: int = 100) -> None:
    """Titled (3, H, W) grids in [0, 1] in one row, drawn at their own pixel size (no resampling blur)."""
    height = max(grid.shape[1] for grid in grids.values())
    width = sum(grid.shape[2] for grid in grids.values())
    title_inches, gap_inches = 0.45, 0.2
    figsize = (width / dpi + gap_inches * len(grids), height / dpi + title_inches)
    figure, axes = new_figure(figsize, dpi, columns=len(grids))
    for axis, (title, grid) in zip(axes, grids.items()):
        axis.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
        axis.set_title(title)
        axis.axis("off")
    save_figure(figure, path)


def save_closest_pairs(
    generated: torch.Tensor, training: torch.Tensor, distances: list[float], reference: float, path: Path
) -> None:
    """The memorization figure: each generated face (top row) over its nearest training image (bottom row), with
    their feature distance, against the typical distance of a real face to the training set (`reference`)."""
    columns = len(distances)
    pixels = max(96, generated.shape[-1])  # small faces drawn large enough to judge, nearest-neighbour upscaled
    figure, axes = plt.subplots(2, columns, figsize=(1.25 * columns * pixels / 96, 3.0), dpi=100, squeeze=False)
    for column, distance in enumerate(distances):
        for row, images in enumerate((generated, training)):
            axis = axes[row][column]
            axis.imshow(
                image_grid(images[column : column + 1], nrow=1).permute(1, 2, 0).numpy(), interpolation="nearest"
            )
            axis.set_xticks([])
            axis.set_yticks([])
        axes[0][column].set_title(f"{distance:.1f} ({distance / reference:.2f})", fontsize=8)
    axes[0][0].set_ylabel("generated", fontsize=8)
    axes[1][0].set_ylabel("nearest training", fontsize=8)
    figure.suptitle(
        f"Closest generated faces to the training set: distance (and its share of {reference:.1f}, a new real "
        "face's median distance)",
        fontsize=8,
    )
    save_figure(figure, path)


def captioned_frame(grid: torch.Tensor, caption: str) -> Image.Image:
    """A (3, H, W) grid in [0, 1] under a black strip with the caption, as a 256-colour GIF frame."""
    pixels = grid.mul(255).add(0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()  # (H, W, 3)
    image = Image.fromarray(pixels)
    font = ImageFont.load_default(size=max(10, image.width // 24))
    strip_height = round(font.size * 1.6)
    frame = Image.new("RGB", (image.width, image.height + strip_height))
    frame.paste(image, (0, strip_height))
    ImageDraw.Draw(frame).text((4, strip_height // 2), caption, fill="white", font=font, anchor="lm")
    # Quantised once here, so that rewriting the GIF after each epoch only re-encodes; fast octree looks the
    # same as median cut at a small fraction of its cost (docs/BENCHMARKS.md).
    return frame.quantize(colors=256, method=Image.Quantize.FASTOCTREE)


def write_gif(frames: list[Image.Image], path: Path, frame_ms: int, last_frame_ms: int) -> None:
    """All frames, looping forever, written atomically."""
    durations = [frame_ms] * (len(frames) - 1) + [last_frame_ms]
    with atomic_write(path) as partial:
        frames[0].save(partial, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
