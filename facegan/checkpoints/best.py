"""checkpoints/best.ckpt: the checkpoint of the best value of a metric that is measured only on some epochs."""

import pytorch_lightning as pl

from facegan.checkpoints.restored_paths import RunFolderModelCheckpoint


class BestMetricCheckpoint(RunFolderModelCheckpoint):
    """ModelCheckpoint (resuming only the paths inside its folder) for a metric measured only on some epochs, or not
    at all (metrics off): until the monitored key has been logged it does nothing, instead of warning that the key is
    missing. Lightning's strict comparison keeps a repeated (not re-measured) value from rewriting the file."""

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.monitor in trainer.callback_metrics:
            super().on_train_epoch_end(trainer, pl_module)
