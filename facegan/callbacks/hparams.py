"""TensorBoard's HParams tab, so the runs of a sweep can be sorted and compared: every run's hyperparameters (loss,
model, widths, learning rates and betas, batch size, augment, EMA, precision, ...) beside its metrics (FID/KID after
each evaluation, the last epoch's D and G losses, images/s), which are the scalars the run logs anyway."""

import time
from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from pytorch_lightning.utilities.exceptions import SIGTERMException
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

from facegan.callbacks.quality_metrics import MetricsCallback
from facegan.callbacks.tensorboard import tensorboard_writer
from facegan.callbacks.throughput import IMAGES_PER_S, ThroughputCallback
from facegan.metrics.scores import LOGGED_SCORES
from facegan.runtime.stop_signals import StoppedBySignal

LOSS_METRICS = ("loss/d_epoch", "loss/g_epoch")  # logged by the GAN module once per epoch
# Stops after which the run may resume in the same folder: its row keeps no end status, which TensorBoard would
# never replace (it keeps the first summary of each tag).
RESUMABLE_STOPS = (KeyboardInterrupt, SIGTERMException, StoppedBySignal)


def config_choices() -> dict[str, str]:
    """The config group options Hydra chose for this run (loss=lsgan -> {"loss": "lsgan"}); empty outside a run."""
    if not HydraConfig.initialized():
        return {}
    return {group: str(choice) for group, choice in HydraConfig.get().runtime.choices.items() if choice is not None}


def target_name(node: DictConfig, suffix: str = "") -> str:
    """The class a `_target_` names, in lower case without `suffix` (facegan.gan.losses.LSGANLoss -> "lsgan")."""
    return str(node.get("_target_", "")).rsplit(".", 1)[-1].removesuffix(suffix).lower()


def run_hparams(cfg: DictConfig, choices: Mapping[str, str]) -> dict[str, Any]:
    """One flat row of scalars per run (HParams takes str, float, int and bool): what tells a sweep's runs apart.
    `choices` are Hydra's group choices (config_choices()); without them the names come from the `_target_`s."""
    model, optimizer, loss = cfg.model, cfg.optimizer, cfg.loss
    augment = cfg.get("augment") or None  # augment=none composes to {}
    return {
        "loss": choices.get("loss") or target_name(loss, "Loss"),
        "model": choices.get("model") or f"{model.family}{model.image_size}",
        "image_size": int(model.image_size),
        "latent_dim": int(model.latent_dim),
        "ngf": int(model.ngf),
        "ndf": int(model.ndf),
        "spectral_norm": bool(model.spectral_norm),
        "lr_g": float(optimizer.generator.lr),
        "lr_d": float(optimizer.discriminator.lr),
        "beta1": float(optimizer.generator.betas[0]),  # G's; D's are the same optimizer.betas unless set apart
        "beta2": float(optimizer.generator.betas[1]),
        "n_critic": int(loss.n_critic),
        "batch_size": int(cfg.data.batch_size),
        "augment": choices.get("augment") or (target_name(augment) if augment else "none"),
        "ema_kimg": 0.0 if model.ema_kimg is None else float(model.ema_kimg),  # a zero half-life: no averaging, EMA off
        "seed": int(cfg.seed),
        "max_epochs": int(cfg.trainer.get("max_epochs") or -1),
    }


def hparams_summary(tag: str, data: plugin_data_pb2.HParamsPluginData) -> Summary:
    """One summary of TensorBoard's hparams plugin (its experiment, a session's start or its end)."""
    return Summary(value=[Summary.Value(tag=tag, metadata=metadata.create_summary_metadata(data))])


def value_type(value: Any) -> int:
    if isinstance(value, bool):  # before int: a bool is an int
        return api_pb2.DATA_TYPE_BOOL
    if isinstance(value, int | float):
        return api_pb2.DATA_TYPE_FLOAT64
    return api_pb2.DATA_TYPE_STRING


def session_start(row: Mapping[str, Any], metric_tags: list[str]) -> list[Summary]:
    """The experiment (the columns: each hparam's type, the metric tags) and this run's values."""
    experiment = api_pb2.Experiment(
        hparam_infos=[api_pb2.HParamInfo(name=name, type=value_type(value)) for name, value in row.items()],
        metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag=tag)) for tag in metric_tags],
    )
    start = plugin_data_pb2.SessionStartInfo(start_time_secs=time.time())
    for name, value in row.items():
        if isinstance(value, bool):
            start.hparams[name].bool_value = value
        elif isinstance(value, int | float):
            start.hparams[name].number_value = value
        else:
            start.hparams[name].string_value = str(value)
    return [
        hparams_summary(metadata.EXPERIMENT_TAG, plugin_data_pb2.HParamsPluginData(experiment=experiment)),
        hparams_summary(metadata.SESSION_START_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_start_info=start)),
    ]


def session_end(status: int) -> Summary:
    end = plugin_data_pb2.SessionEndInfo(status=status, end_time_secs=time.time())
    return hparams_summary(metadata.SESSION_END_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_end_info=end))


class HParamsCallback(pl.Callback):
    """Writes the run's HParams row at the start of fit (rank 0, TensorBoard on); the settings only known then (the
    global batch over all processes, the resolved precision) join it. The metric columns name scalar tags the run
    logs, and TensorBoard shows each one's latest value: the FID column follows every evaluation. The end of fit
    marks the row a success, an error a failure; a stop by a signal leaves it open for the resumed run."""

    def __init__(self, params: dict[str, Any]):
        self.params = params

    @staticmethod
    def metric_tags(trainer: pl.Trainer) -> list[str]:
        """FID, KID, precision and recall where they are computed (MetricsCallback's evaluator, set up before fit
        starts), the epoch losses, and images/s where measured."""
        tags = [
            tag
            for callback in trainer.callbacks
            if isinstance(callback, MetricsCallback) and callback.evaluator is not None
            for tag in map(callback.settings.key, LOGGED_SCORES)
        ]
        tags += LOSS_METRICS
        if any(isinstance(callback, ThroughputCallback) for callback in trainer.callbacks):
            tags.append(IMAGES_PER_S)
        return tags

    def row(self, trainer: pl.Trainer) -> dict[str, Any]:
        return {
            **self.params,
            "global_batch_size": self.params["batch_size"] * trainer.world_size,
            "precision": str(trainer.precision),
        }

    def write(self, trainer: pl.Trainer, summaries: list[Summary]) -> None:
        writer = tensorboard_writer(trainer) if trainer.is_global_zero else None
        # Lightning's log_hyperparams writes through the same file writer; its stand-in experiment (rank_zero_only
        # saying this is not rank 0) has none.
        file_writer = writer._get_file_writer() if writer is not None else None
        if file_writer is None:
            return
        for summary in summaries:
            file_writer.add_summary(summary)
        file_writer.flush()  # a sweep's rows show while its runs train, not only when each one closes

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.write(trainer, session_start(self.row(trainer), self.metric_tags(trainer)))

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.write(trainer, [session_end(api_pb2.STATUS_SUCCESS)])

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if not isinstance(exception, RESUMABLE_STOPS):
            self.write(trainer, [session_end(api_pb2.STATUS_FAILURE)])
