"""`real_vs_fake.png` at the end of training: training images beside generated ones (rank 0 only)."""

from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_warn

from facegan.figures import image_grid, save_side_by_side


class RealVsFakeCallback(pl.Callback):
    """Keeps the first training batch's images and, when training ends, draws them beside as many
    fixed-noise samples of the final generator."""

    def __init__(self, output_dir: str, filename: str = "real_vs_fake.png", nrow: int = 8):
        self.path = Path(output_dir) / filename
        self.nrow = nrow
        self.real: torch.Tensor | None = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.is_global_zero and self.real is None:
            self.real = batch[: len(pl_module.fixed_noise)].detach().cpu()  # (n, 3, S, S) in [-1, 1]

    def on_train_end(self, trainer, pl_module) -> None:
        if not trainer.is_global_zero:
            return
        if self.real is None:
            rank_zero_warn(f"No training batch ran, so there are no real images: {self.path} not written")
            return
        fake = pl_module.fixed_noise_samples()[: len(self.real)]  # the last epoch's grid already made them
        grids = {
            "Real (training data)": image_grid(self.real, self.nrow),
            f"Generated (after {trainer.current_epoch} epochs)": image_grid(fake, self.nrow),
        }
        save_side_by_side(grids, self.path)
