"""`progress.gif`: the fixed-noise grid after every epoch, one captioned frame per epoch (rank 0 only)."""

from pathlib import Path

import pytorch_lightning as pl
from PIL import Image

from facegan.figures import captioned_frame, image_grid, write_gif


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
