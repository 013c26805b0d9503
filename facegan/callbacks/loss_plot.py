"""`loss_plot.png`: generator and discriminator loss per epoch, redrawn after every epoch."""

from pathlib import Path

import pytorch_lightning as pl
from matplotlib.ticker import MaxNLocator

from facegan.figures import new_figure, save_figure


class LossPlotCallback(pl.Callback):
    """Keeps the per-epoch mean losses (also across resumes, via the checkpoint) and plots them."""

    def __init__(self, output_dir: str, filename: str = "loss_plot.png"):
        self.path = Path(output_dir) / filename
        self.history: dict[str, list[float]] = {"epoch": [], "loss/g": [], "loss/d": []}

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        metrics = trainer.callback_metrics
        if "loss/g_epoch" not in metrics:  # e.g. an epoch with no batches
            return
        self.history["epoch"].append(trainer.current_epoch)
        for name in ("loss/g", "loss/d"):
            self.history[name].append(float(metrics[f"{name}_epoch"]))
        if trainer.is_global_zero:
            self.draw()

    def draw(self) -> None:
        figure, axes = new_figure(figsize=(7, 4), dpi=110)
        for name, label in (("loss/g", "generator"), ("loss/d", "discriminator")):
            axes.plot(self.history["epoch"], self.history[name], marker="o", markersize=3, label=label)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        axes.set_xlabel("epoch")
        axes.set_ylabel("mean loss")
        axes.set_title("GAN losses per epoch")
        axes.grid(alpha=0.3)
        axes.legend()
        save_figure(figure, self.path)

    def state_dict(self) -> dict:
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict) -> None:
        self.history = state_dict["history"]
