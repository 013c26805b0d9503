"""`real_vs_fake.png` at the end of training: training images beside generated ones (rank 0 only)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: runs on clusters and CI without a display
import matplotlib.pyplot as plt  # noqa: E402
import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402
from pytorch_lightning.utilities import rank_zero_warn  # noqa: E402

from facegan.callbacks.sample_grid import image_grid  # noqa: E402


def save_side_by_side(grids: dict[str, torch.Tensor], path: Path, dpi: int = 100) -> None:
    """Titled (3, H, W) grids in [0, 1] in one row, drawn at their own pixel size (no resampling blur)."""
    height = max(grid.shape[1] for grid in grids.values())
    width = sum(grid.shape[2] for grid in grids.values())
    title_inches, gap_inches = 0.45, 0.2
    figsize = (width / dpi + gap_inches * len(grids), height / dpi + title_inches)
    figure, axes = plt.subplots(1, len(grids), figsize=figsize, dpi=dpi)
    for axis, (title, grid) in zip(axes, grids.items()):
        axis.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
        axis.set_title(title)
        axis.axis("off")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


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
