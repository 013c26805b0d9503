"""A search trial's training job reports its metric to its Optuna trial after every evaluation and stops early
when the study's pruner says the trial will not beat the others (median, successive halving, ...)."""

import json
import logging
from pathlib import Path

import pytorch_lightning as pl

from facegan.callbacks.quality_metrics import MetricsCallback
from facegan.fileio import atomic_write
from facegan.search.study import load_study, trial_of
from facegan.tools.sweep_summary import PRUNED_FILE

log = logging.getLogger(__name__)


class TrialPruning(pl.Callback):
    """Off unless the sweeper named a trial (`search.trial`). Rank 0 reports `monitor` at step = epoch and asks
    the pruner; every rank gets its answer, and a pruned run writes `pruned.json` in its folder (the sweeper and
    the sweep summary read it) and stops after this epoch, its checkpoints written as at any end."""

    def __init__(
        self, monitor: str, output_dir: str, trial: int | None, storage: str | None, study_name: str | None, pruner=None
    ):
        self.monitor = monitor
        self.output_dir = Path(output_dir)
        self.trial_number = trial
        self.storage = storage
        self.study_name = study_name
        self.pruner = pruner
        self.trial = None

    @property
    def enabled(self) -> bool:
        return self.trial_number is not None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit" or not self.enabled or not trainer.is_global_zero or self.trial is not None:
            return
        study = load_study(self.storage, self.study_name, pruner=self.pruner)
        self.trial = trial_of(study, self.trial_number)

    def evaluated_now(self, trainer: pl.Trainer) -> bool:
        metrics = [callback for callback in trainer.callbacks if isinstance(callback, MetricsCallback)]
        return any(callback.evaluator is not None and callback.is_due(trainer) for callback in metrics)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.enabled or not self.evaluated_now(trainer) or self.monitor not in trainer.callback_metrics:
            return
        value = float(trainer.callback_metrics[self.monitor])  # once per evaluation, never per batch
        step = trainer.current_epoch
        prune = False
        if trainer.is_global_zero:
            self.trial.report(value, step=step)
            prune = self.trial.should_prune()
        prune = trainer.strategy.broadcast(prune, src=0)
        if not prune:
            return
        trainer.should_stop = True
        if trainer.is_global_zero:
            with atomic_write(self.output_dir / PRUNED_FILE) as partial:
                partial.write_text(json.dumps({"epoch": step, "monitor": self.monitor, "value": value}) + "\n")
            log.info("Trial %d pruned after epoch %d (%s %.4g): stopping", self.trial_number, step, self.monitor, value)
