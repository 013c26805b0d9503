"""Training speed as a person watches it: images/s and seconds per batch in TensorBoard (`throughput/*`) and
images/s in the progress bar, from host wall time, with no host-device sync of its own."""

import time

import pytorch_lightning as pl

from facegan.callbacks.tensorboard import tensorboard_writer

IMAGES_PER_S = "throughput/images_per_s"  # all processes together
STEP_S = "throughput/step_s"  # wall time per training batch (one D update, and G's when due)


class ThroughputCallback(pl.Callback):
    """Every trainer.log_every_n_steps batches: the batches and images done since the last such point over the wall
    time they took, images counted over all processes (each one's batch x world size). The first point after start
    or resume only starts the clock, so start-up (torch.compile, cudnn autotuning, first allocations) is not
    counted; neither is the work between epochs (grids, checkpoints, FID). The GAN module reads its losses back at
    the same points, so on a GPU the host waits for the device there and an interval's wall time is the device's."""

    def __init__(self) -> None:
        self.mark: tuple[float, int] | None = None  # (perf_counter, batches_done) at the last log point
        self.last_batch_end: float | None = None  # perf_counter after the latest batch

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.mark = self.last_batch_end = None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.mark is not None and self.last_batch_end is not None:
            # The interval resumes where the previous epoch's last batch ended: the pause is not training time.
            started, done = self.mark
            self.mark = (started + time.perf_counter() - self.last_batch_end, done)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx):
        now = self.last_batch_end = time.perf_counter()
        done = pl_module.batches_done
        if done % trainer.log_every_n_steps != 0:
            return
        previous, self.mark = self.mark, (now, done)
        if previous is None or done <= previous[1]:
            return
        step_s = (now - previous[0]) / (done - previous[1])
        images_per_s = len(batch) * trainer.world_size / step_s  # len: the batch's shape, not its values
        pl_module.progress_bar_values["img/s"] = round(images_per_s, 1)
        writer = tensorboard_writer(trainer) if trainer.is_global_zero else None
        if writer is not None:
            writer.add_scalar(IMAGES_PER_S, images_per_s, done)
            writer.add_scalar(STEP_S, step_s, done)
