"""TensorBoard's HParams tab, so the runs of a sweep can be sorted and compared: every run's hyperparameters (loss,
model, widths, learning rates and betas, batch size, augment, EMA, precision, ...) beside its metrics (FID/KID after
each evaluation, the last epoch's D and G losses), which are the scalars the run logs anyway."""

from typing import Any

import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from torch.utils.tensorboard.summary import hparams

from facegan.callbacks.metrics import MetricsCallback
from facegan.callbacks.tensorboard import tensorboard_writer

LOSS_METRICS = ("loss/d_epoch", "loss/g_epoch")  # logged by the GAN module once per epoch


def group_choice(group: str, fallback: str) -> str:
    """The config group option the run chose (loss=lsgan -> "lsgan"), when Hydra composed the config."""
    if HydraConfig.initialized():
        choice = HydraConfig.get().runtime.choices.get(group)
        if choice:
            return str(choice)
    return fallback


def run_hparams(cfg: DictConfig) -> dict[str, Any]:
    """One flat row of scalars per run (HParams takes str, float, int and bool): what tells a sweep's runs apart."""
    model, optimizer, loss = cfg.model, cfg.optimizer, cfg.loss
    augment = cfg.get("augment") or {}
    loss_name = str(loss.get("_target_", "")).rsplit(".", 1)[-1].removesuffix("Loss").lower()
    return {
        "loss": group_choice("loss", loss_name),
        "model": group_choice("model", f"{model.get('family', 'dcgan')}{model.image_size}"),
        "image_size": int(model.image_size),
        "latent_dim": int(model.latent_dim),
        "ngf": int(model.ngf),
        "ndf": int(model.ndf),
        "spectral_norm": bool(model.get("spectral_norm", False)),
        "lr_g": float(optimizer.generator.lr),
        "lr_d": float(optimizer.discriminator.lr),
        "beta1": float(optimizer.generator.betas[0]),
        "beta2": float(optimizer.generator.betas[1]),
        "n_critic": int(loss.get("n_critic", 1)),
        "batch_size": int(cfg.data.batch_size),
        "augment": group_choice("augment", "diffaugment" if augment else "none"),
        "ema_kimg": "off" if model.get("ema_kimg") is None else float(model.ema_kimg),
        "seed": int(cfg.seed),
        "max_epochs": int(cfg.trainer.get("max_epochs") or -1),
    }


class HParamsCallback(pl.Callback):
    """Writes the HParams summary once, at the start of fit (rank 0, TensorBoard on); the settings only known then
    (global batch over all processes, the resolved precision) join the row. The metric columns name scalar tags,
    and TensorBoard shows each one's latest value: the FID column follows every evaluation."""

    def __init__(self, params: dict[str, Any]):
        self.params = params

    def metric_tags(self, trainer: pl.Trainer) -> list[str]:
        tags = [tag for callback in trainer.callbacks if isinstance(callback, MetricsCallback)
                for tag in (callback.settings.fid_key, callback.settings.kid_key)]  # fmt: skip
        return [*tags, *LOSS_METRICS]

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        writer = tensorboard_writer(trainer) if trainer.is_global_zero else None
        if writer is None:
            return
        row = {
            **self.params,
            "global_batch_size": self.params["batch_size"] * trainer.world_size,
            "precision": str(trainer.precision),
        }
        experiment, session_start, session_end = hparams(row, dict.fromkeys(self.metric_tags(trainer), 0.0))
        file_writer = writer._get_file_writer()  # as Lightning's log_hyperparams writes these summaries
        if file_writer is None:  # Lightning's stand-in experiment where rank_zero_only says this is not rank 0
            return
        for summary in (experiment, session_start, session_end):
            file_writer.add_summary(summary)
