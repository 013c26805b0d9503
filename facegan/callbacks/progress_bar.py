"""The terminal progress bar, showing D's and G's losses and images/s without a host sync per batch."""

from pytorch_lightning.callbacks import RichProgressBar


class GANProgressBar(RichProgressBar):
    """Lightning's rich bar plus the module's `progress_bar_values`: floats refreshed once every
    trainer.log_every_n_steps batches (the losses the GAN module reads back, ThroughputCallback's img/s). Values
    logged with `prog_bar=True` instead are turned into Python floats on every batch after their first log, which
    waits for the GPU each step."""

    def get_metrics(self, trainer, pl_module) -> dict:
        return {**super().get_metrics(trainer, pl_module), **getattr(pl_module, "progress_bar_values", {})}
