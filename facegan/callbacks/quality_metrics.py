"""Quality during training: FID, KID, precision and recall every `metrics.every_n_epochs` epochs (settings in
conf/metrics/default.yaml); facegan/checkpoints/best.py keeps the checkpoint of the best FID."""

import logging
import time
from pathlib import Path

import pytorch_lightning as pl
import torch

from facegan.fileio import append_json_line
from facegan.metrics import GeneratorEvaluator, MetricSettings, MetricsUnavailable, Shard, load_feature_extractor

log = logging.getLogger(__name__)


class MetricsCallback(pl.Callback):
    """Logs `metrics/fid<N>`, `metrics/kid<N>`, `metrics/precision<N>` and `metrics/recall<N>`, N the sample count
    (metrics/fid10k: TensorBoard, and callback_metrics for checkpoints and sweeps)
    after every `every_n_epochs` epochs and after the last one, and appends one line per evaluation to
    `metrics.jsonl` in the run folder. When metrics are off, or no feature extractor can be loaded,
    training goes on and the reason is logged once, with how to turn them on."""

    def __init__(self, output_dir: str, settings: MetricSettings):
        self.settings = settings
        self.jsonl_path = Path(output_dir) / "metrics.jsonl"
        self.evaluator: GeneratorEvaluator | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit" or self.evaluator is not None:
            return
        reason = self.settings.off_reason(trainer.strategy.root_device)
        if reason is None:
            try:
                extractor = load_feature_extractor(self.settings)
                self.evaluator = GeneratorEvaluator(extractor, self.settings, Shard.of(trainer.strategy))
            except MetricsUnavailable as error:
                reason = str(error)
        if self.evaluator is None and trainer.is_global_zero:
            level = logging.INFO if self.settings.enabled is False else logging.WARNING  # asked for, or a surprise
            log.log(level, "FID/KID are off, and checkpoints/best.ckpt is not written: %s", reason)

    def is_due(self, trainer: pl.Trainer) -> bool:
        epochs_done = trainer.current_epoch + 1
        last_epoch = trainer.max_epochs is not None and 0 < trainer.max_epochs <= epochs_done
        steps_spent = 0 < trainer.max_steps <= trainer.global_step
        return epochs_done % self.settings.every_n_epochs == 0 or last_epoch or steps_spent or trainer.should_stop

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.evaluator is None or not self.is_due(trainer):
            return
        started = time.perf_counter()  # the first evaluation's time includes extracting (or loading) the real features
        self.evaluator.prepare(trainer.datamodule, pl_module.device)

        def sample(z: torch.Tensor) -> torch.Tensor:
            # z in the module's dtype: a true-half precision run (performance.precision=16-true) keeps G in half.
            return pl_module.sample(z.to(pl_module.dtype))

        scores = self.evaluator(sample, pl_module.generator.latent_dim, pl_module.device)
        seconds = time.perf_counter() - started
        # Every rank holds rank 0's scores (broadcast), so the checkpoint callbacks of all ranks agree;
        # sync_dist averages equal values and tells Lightning they are global.
        for name, value in scores.logged().items():
            pl_module.log(self.settings.key(name), value, on_step=False, on_epoch=True, sync_dist=True)
        if trainer.is_global_zero:
            images_seen = pl_module.batches_done * trainer.datamodule.batch_size * trainer.world_size
            record = {
                "epoch": trainer.current_epoch,
                "batches_done": pl_module.batches_done,
                "images_seen": images_seen,
                **scores.as_dict(),
                "extractor": self.evaluator.extractor.name,
                "seconds": round(seconds, 2),
            }
            append_json_line(self.jsonl_path, record)
            log.info(
                "epoch %d: FID %.2f, KID %.4f, precision %.3f, recall %.3f (%d images, %.1f s)",
                trainer.current_epoch,
                scores.fid,
                scores.kid_mean,
                scores.precision,
                scores.recall,
                scores.num_fake,
                seconds,
            )
