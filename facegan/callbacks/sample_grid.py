"""Fixed-noise sample grids: PNGs in the run folder and images in TensorBoard (rank 0 only)."""

from pathlib import Path

import pytorch_lightning as pl
import torch
from torchvision.utils import save_image

from facegan.callbacks.tensorboard import tensorboard_writer
from facegan.errors import ConfigError
from facegan.figures import image_grid


class SampleGridCallback(pl.Callback):
    """Writes `samples/epoch_NNN.png` (0-based epoch, like Lightning's) after every `every_n_epochs`
    epochs, optionally `samples/batch_NNNNNNN.png` every `every_n_batches` batches, and a grid of real
    training images once. TensorBoard gets the same grids under `samples/fixed_noise` and `samples/real`."""

    def __init__(self, output_dir: str, every_n_epochs: int = 1, every_n_batches: int = 0, nrow: int = 8):
        if every_n_epochs < 0 or every_n_batches < 0:
            raise ConfigError(
                f"every_n_epochs={every_n_epochs}, every_n_batches={every_n_batches}: use 0 (off) or a positive count"
            )
        self.samples_dir = Path(output_dir) / "samples"
        self.every_n_epochs = every_n_epochs
        self.every_n_batches = every_n_batches
        self.nrow = nrow
        self._real_logged = False

    def _write(self, trainer: pl.Trainer, grid: torch.Tensor, tag: str, filename: str, step: int) -> None:
        self.samples_dir.mkdir(parents=True, exist_ok=True)
        save_image(grid, self.samples_dir / filename)
        writer = tensorboard_writer(trainer)
        if writer is not None:
            writer.add_image(tag, grid, global_step=step)

    def _write_fakes(self, trainer: pl.Trainer, pl_module: pl.LightningModule, filename: str) -> None:
        grid = image_grid(pl_module.fixed_noise_samples(), self.nrow)
        self._write(trainer, grid, "samples/fixed_noise", filename, pl_module.batches_done)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not trainer.is_global_zero:
            return
        if not self._real_logged:
            real = batch[: len(pl_module.fixed_noise)]
            self._write(trainer, image_grid(real, self.nrow), "samples/real", "real.png", pl_module.batches_done)
            self._real_logged = True
        if self.every_n_batches and pl_module.batches_done % self.every_n_batches == 0:
            self._write_fakes(trainer, pl_module, f"batch_{pl_module.batches_done:07d}.png")

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.is_global_zero and self.every_n_epochs and (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self._write_fakes(trainer, pl_module, f"epoch_{trainer.current_epoch:03d}.png")
