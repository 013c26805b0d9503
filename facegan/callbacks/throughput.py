"""Training speed as a person watches it: images/s and seconds per batch in TensorBoard (`throughput/*`) and
images/s in the progress bar, from host wall time, with no host-device sync of its own."""

import time

import pytorch_lightning as pl

from facegan.callbacks.tensorboard import tensorboard_writer


class ThroughputCallback(pl.Callback):
    """Every trainer.log_every_n_steps batches: the wall time since the last such point over the batches done
    since, for all processes together (batch per process x world size). The GAN module reads its losses back at
    the same points, so on a GPU the host waits there anyway and the interval's wall time is the device's."""

    def __init__(self) -> None:
        self.mark: tuple[float, int] | None = None  # (perf_counter, batches_done) at the last log point

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.mark = None  # the epoch-end work (grids, checkpoints, FID) is not training time

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx):
        done = pl_module.batches_done
        if done % trainer.log_every_n_steps != 0:
            return
        now = time.perf_counter()
        previous, self.mark = self.mark, (now, done)
        if previous is None or done <= previous[1]:
            return
        step_s = (now - previous[0]) / (done - previous[1])
        images_per_s = trainer.datamodule.batch_size * trainer.world_size / step_s
        pl_module.progress_bar_values["img/s"] = round(images_per_s, 1)
        writer = tensorboard_writer(trainer) if trainer.is_global_zero else None
        if writer is not None:
            writer.add_scalar("throughput/images_per_s", images_per_s, done)
            writer.add_scalar("throughput/step_s", step_s, done)
