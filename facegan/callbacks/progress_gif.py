"""`progress.gif`: the fixed-noise grid after every epoch, one captioned frame per epoch (rank 0 only)."""

import os
from pathlib import Path

import pytorch_lightning as pl
import torch
from PIL import Image, ImageDraw, ImageFont

from facegan.callbacks.sample_grid import image_grid


def captioned_frame(grid: torch.Tensor, caption: str) -> Image.Image:
    """A (3, H, W) grid in [0, 1] under a black strip with the caption, as a 256-colour GIF frame."""
    pixels = grid.mul(255).add(0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()  # (H, W, 3)
    image = Image.fromarray(pixels)
    font = ImageFont.load_default(size=max(10, image.width // 24))
    strip_height = round(font.size * 1.6)
    frame = Image.new("RGB", (image.width, image.height + strip_height))
    frame.paste(image, (0, strip_height))
    ImageDraw.Draw(frame).text((4, strip_height // 2), caption, fill="white", font=font, anchor="lm")
    # Quantise once here, so that rewriting the GIF after each epoch only re-encodes. Fast octree: under 1 ms for
    # a 32x32 grid where median cut (PIL's ADAPTIVE) took ~85 ms a frame, for the same look (mean error 3.9 vs 3.4
    # of 255 per channel).
    return frame.quantize(colors=256, method=Image.Quantize.FASTOCTREE)


def write_gif(frames: list[Image.Image], path: Path, frame_ms: int, last_frame_ms: int) -> None:
    """All frames, looping forever; written beside the target and renamed, so a viewer never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    durations = [frame_ms] * (len(frames) - 1) + [last_frame_ms]
    frames[0].save(partial, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    os.replace(partial, path)


class ProgressGifCallback(pl.Callback):
    """Animates how the fixed-noise samples evolve: after every epoch a frame "epoch N" (0-based, as in
    samples/epoch_NNN.png) is added. Frames cover the epochs trained in this run.

    A GIF cannot be appended to, so each write re-encodes every frame: rewriting after every epoch would
    cost time quadratic in the epochs (minutes over a 200-epoch run). The file is rewritten after each of the
    first 20 epochs, then whenever the frames have grown by about a tenth, and once more when training ends:
    linear in the epochs, and never more than ~10% behind."""

    def __init__(
        self,
        output_dir: str,
        filename: str = "progress.gif",
        nrow: int = 8,
        frame_ms: int = 400,
        last_frame_ms: int = 2000,
    ):
        self.path = Path(output_dir) / filename
        self.nrow = nrow
        self.frame_ms = frame_ms
        self.last_frame_ms = last_frame_ms  # hold the final result before the loop restarts
        self.frames: list[Image.Image] = []
        self.frames_written = 0

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.is_global_zero:
            return
        grid = image_grid(pl_module.fixed_noise_samples(), self.nrow)
        self.frames.append(captioned_frame(grid, f"epoch {trainer.current_epoch}"))
        if len(self.frames) % max(1, len(self.frames) // 10) == 0:
            self._write()

    def on_train_end(self, trainer, pl_module) -> None:
        if trainer.is_global_zero and self.frames_written < len(self.frames):
            self._write()

    def _write(self) -> None:
        write_gif(self.frames, self.path, self.frame_ms, self.last_frame_ms)
        self.frames_written = len(self.frames)
