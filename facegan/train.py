"""`train(cfg)`: build everything from a composed Hydra config, fit, return the optimised metric.

Wiring only: each object comes from its `_target_` in conf/.
"""

import logging
from pathlib import Path

import hydra
import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from facegan import runtime
from facegan.assembly import build_module, instantiate_all, trainer_overrides, training_callbacks
from facegan.checkpoints.disk import check_room_for_checkpoints, checkpoint_bytes, checkpoint_files_kept
from facegan.checkpoints.resume import check_checkpoint_matches, resolve_ckpt_path
from facegan.config_checks import check_config
from facegan.runtime.distributed import log_data_parallel
from facegan.runtime.performance import resolve_performance
from facegan.runtime.stop_signals import StoppedBySignal, stop_on_signals
from facegan.runtime.warnings_log import warnings_to_log

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> float | None:
    with stop_on_signals():  # SIGTERM / Ctrl-C at any stage: exit 143 / 130, no partial files left
        try:
            return fit(cfg)
        except StoppedBySignal as stop:  # agreed across processes; last.ckpt is saved if training had started
            log.warning("%s; outputs in %s", stop, Path(cfg.paths.output_dir).resolve())
            raise SystemExit(128 + stop.signum) from None


def fit(cfg: DictConfig) -> float | None:
    runtime.register()
    warnings_to_log()  # Lightning's warnings in train.log too
    check_config(cfg)  # also torchrun's / SLURM's process layout, written into cfg.trainer
    ckpt_path = resolve_ckpt_path(cfg)
    if ckpt_path is not None:
        check_checkpoint_matches(ckpt_path, cfg.model)
    performance = resolve_performance(cfg)
    pl.seed_everything(cfg.seed, workers=True)

    datamodule: pl.LightningDataModule = hydra.utils.instantiate(cfg.data)
    module = build_module(cfg, performance)
    keeps_best = OmegaConf.select(cfg, "callbacks.best_checkpoint") is not None
    files_kept = checkpoint_files_kept(cfg.checkpoint.keep_epochs, keeps_best)
    check_room_for_checkpoints(cfg.paths.checkpoint_dir, checkpoint_bytes(module), files_kept)
    trainer: pl.Trainer = hydra.utils.instantiate(
        cfg.trainer,
        callbacks=training_callbacks(cfg),
        logger=instantiate_all(cfg.get("logger")),
        **trainer_overrides(cfg, performance),
    )
    log.info("Speed settings: %s", performance)
    log_data_parallel(trainer, cfg.data.batch_size)
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)

    if trainer.is_global_zero:
        output_dir = Path(cfg.paths.output_dir).resolve()
        log.info(
            "Outputs in %s: samples/ (grids), loss_plot.png, checkpoints/, tensorboard/ "
            "(view with: tensorboard --logdir %s)",
            output_dir,
            output_dir,
        )
    return metric_value(trainer, cfg.get("optimized_metric"))


def metric_value(trainer: pl.Trainer, name: str | None) -> float | None:
    """The final value of the metric a sweeper optimises (None when not configured or never logged)."""
    if not name:
        return None
    if name not in trainer.callback_metrics:
        log.warning("optimized_metric=%s was never logged; known metrics: %s", name, sorted(trainer.callback_metrics))
        return None
    return float(trainer.callback_metrics[name])
