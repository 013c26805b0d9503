"""The objects of a training run, built from a composed config: the LightningModule with its networks, loss and
optimizer factories, the callbacks and loggers, and what facegan tells Lightning's Trainer. Used by train() and by
the pre-run check (config_checks.py), which builds the cheap ones so that their constructors' rules run before the
run folder exists.
"""

from functools import partial
from typing import Any

import hydra
import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ProgressBar

from facegan.callbacks.hparams import HParamsCallback, config_choices, run_hparams
from facegan.checkpoints.io import AtomicCheckpointIO
from facegan.gan.divergence import DivergenceMonitor
from facegan.gan.ema import EMAGenerator
from facegan.gan.module import GAN
from facegan.gan.schedule import optimizer_steps
from facegan.runtime.devices import requested_processes
from facegan.runtime.distributed import launcher_plugins
from facegan.runtime.performance import PerformanceSettings, resolve_performance
from facegan.runtime.strategy import STRATEGY_NAME, GANDDPStrategy


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
        overrides["max_steps"] = optimizer_steps(max_steps, cfg.loss.n_critic)
    if cfg.trainer.get("strategy", "auto") in ("auto", STRATEGY_NAME) and requested_processes(cfg.trainer) > 1:
        # Lightning's plain DDP rejects a G/D pair: facegan/runtime/strategy.py
        overrides["strategy"] = GANDDPStrategy(peer_timeout_s=cfg.processes.peer_timeout_s)
    return overrides
