"""`train(cfg)`: build everything from a composed Hydra config, fit, return the optimised metric.

Wiring only: each object comes from its `_target_` in conf/.
"""

import logging
import warnings
from functools import partial
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ProgressBar

from facegan import runtime
from facegan.callbacks.hparams import HParamsCallback, config_choices, run_hparams
from facegan.checkpoints.disk import check_room_for_checkpoints, checkpoint_bytes, checkpoint_files_kept
from facegan.checkpoints.io import AtomicCheckpointIO
from facegan.checkpoints.resume import check_checkpoint_matches, resolve_ckpt_path
from facegan.config_checks import check_config
from facegan.gan.divergence import DivergenceMonitor
from facegan.gan.ema import EMAGenerator
from facegan.gan.module import GAN
from facegan.gan.schedule import optimizer_steps
from facegan.runtime.devices import requested_processes
from facegan.runtime.distributed import follow_launcher_layout, launcher_plugins, log_data_parallel
from facegan.runtime.performance import PerformanceSettings, resolve_performance
from facegan.runtime.stop_signals import StoppedBySignal, stop_on_signals
from facegan.runtime.strategy import STRATEGY_NAME, GANDDPStrategy
from facegan.runtime.warnings_log import warnings_to_log

log = logging.getLogger(__name__)

# Lightning 2.6 trips over its own torch.utils._pytree deprecation on every batch; nothing for users to act on.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")


def instantiate_all(group: DictConfig | None) -> list[Any]:
    """Every `_target_` entry of a config group such as callbacks or logger (None entries are off)."""
    if not group:
        return []
    return [hydra.utils.instantiate(node) for node in group.values() if node is not None and "_target_" in node]


# Optimizers that take fused=True; another optimizer (optimizer.generator._target_=...) gets its defaults.
FUSED_OPTIMIZERS = ("torch.optim.Adam", "torch.optim.AdamW")


def training_callbacks(cfg: DictConfig) -> list[pl.Callback]:
    """The configured callbacks; with `trainer.enable_progress_bar=false` without the progress bar, which
    Lightning would otherwise refuse (a bar callback with the bar turned off)."""
    callbacks = instantiate_all(cfg.get("callbacks"))
    if cfg.trainer.get("enable_progress_bar", True) is False:
        callbacks = [callback for callback in callbacks if not isinstance(callback, ProgressBar)]
    return [*callbacks, HParamsCallback(run_hparams(cfg, config_choices()))]  # the run's row in the HParams tab


def optimizer_factory(optimizer_cfg: DictConfig, performance: PerformanceSettings) -> Any:
    """The partial optimizer for one network, with Adam's fused kernel where performance.fused_adam is on."""
    fused = {"fused": True} if performance.fused_adam and optimizer_cfg.get("_target_") in FUSED_OPTIMIZERS else {}
    return hydra.utils.instantiate(optimizer_cfg, _convert_="all", **fused)


def build_module(cfg: DictConfig, performance: PerformanceSettings | None = None) -> GAN:
    """The networks, the loss and the optimizer factories, injected into the LightningModule."""
    performance = performance or resolve_performance(cfg)
    return GAN(
        generator=hydra.utils.instantiate(cfg.model.generator),
        discriminator=hydra.utils.instantiate(cfg.model.discriminator),
        loss=hydra.utils.instantiate(cfg.loss),
        generator_optimizer=optimizer_factory(cfg.optimizer.generator, performance),
        discriminator_optimizer=optimizer_factory(cfg.optimizer.discriminator, performance),
        num_sample_images=cfg.samples.count,
        seed=cfg.seed,
        network_config=OmegaConf.to_container(cfg.model, resolve=True),
        channels_last=performance.channels_last,
        compile_networks=performance.compile,
        compile_mode=performance.compile_mode,
        divergence=DivergenceMonitor(**cfg.divergence),
        ema=partial(EMAGenerator, kimg=cfg.model.ema_kimg, rampup=cfg.model.get("ema_rampup"))
        if cfg.model.get("ema_kimg") is not None
        else None,
        augment=hydra.utils.instantiate(cfg.augment) if cfg.get("augment") else None,  # augment=none: {}
    )


def trainer_overrides(cfg: DictConfig, performance: PerformanceSettings | None = None) -> dict[str, Any]:
    """Translate facegan's trainer settings where they differ from Lightning's own meaning."""
    performance = performance or resolve_performance(cfg)
    plugins = [AtomicCheckpointIO(), *launcher_plugins()]
    overrides: dict[str, Any] = {"precision": performance.precision, "plugins": plugins}
    max_steps = cfg.trainer.get("max_steps", -1)
    if max_steps is not None and max_steps > 0:
        # Users count batches; Lightning's global_step counts the D and G optimizer steps of each batch.
        overrides["max_steps"] = optimizer_steps(max_steps, cfg.loss.get("n_critic", 1))
    if cfg.trainer.get("strategy", "auto") in ("auto", STRATEGY_NAME) and requested_processes(cfg.trainer) > 1:
        # Lightning's plain DDP rejects a G/D pair: facegan/runtime/strategy.py
        overrides["strategy"] = GANDDPStrategy(peer_timeout_s=cfg.processes.peer_timeout_s)
    return overrides


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
    follow_launcher_layout(cfg.trainer)  # torchrun / SLURM decide the process count
    check_config(cfg)
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
