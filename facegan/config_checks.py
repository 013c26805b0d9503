"""Cheap checks of a composed config, run before anything heavy is built or any file written."""

import copy

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

from facegan.errors import ConfigError, exit_on_user_error
from facegan.fileio import writable_folder_error
from facegan.models import num_resolution_blocks
from facegan.runtime.devices import asks_for_gpu, requested_processes, training_device_type, visible_gpus
from facegan.runtime.distributed import follow_launcher_layout

MODEL_SIZES = (32, 64, 128)  # conf/model/dcgan<size>.yaml and resnet<size>.yaml


# (config key, smallest allowed value, an example): the integer settings and their lower bounds.
INTEGER_MINIMUMS = (
    ("model.latent_dim", 1, 100),
    ("model.ngf", 1, 64),
    ("model.ndf", 1, 64),
    ("loss.n_critic", 1, 1),
    ("trainer.log_every_n_steps", 1, 10),
    ("seed", 0, 42),
    ("checkpoint.every_n_batches", 0, 500),
    ("checkpoint.keep_epochs", -1, 3),  # -1 keeps every epoch's
)
POSITIVE_NUMBERS = (
    ("optimizer.generator.lr", 2e-4),
    ("optimizer.discriminator.lr", 2e-4),
    ("loss.gp_weight", 10),
    ("processes.peer_timeout_s", 60),
    ("loss.output_scale", 0.02),
)
# Switches a typo must not turn on: `data.cache=no` is the string "no", which Python reads as true.
BOOLEANS = ("data.cache", "data.flip", "data.download", "model.spectral_norm", "trainer.deterministic")


def is_integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_values(cfg: DictConfig) -> None:
    """The numbers and switches every run reads: right type, right range."""
    for key, minimum, example in INTEGER_MINIMUMS:
        value = OmegaConf.select(cfg, key, default=None)
        if value is not None and (not is_integer(value) or value < minimum):
            raise ConfigError(f"{key}={value} must be an integer >= {minimum}, e.g. {key}={example}")
    for key, example in POSITIVE_NUMBERS:
        value = OmegaConf.select(cfg, key, default=None)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value <= 0):
            raise ConfigError(f"{key}={value} must be a number > 0, e.g. {key}={example}")
    real_label = OmegaConf.select(cfg, "loss.real_label", default=None)
    if real_label is not None and (isinstance(real_label, bool) or not 0 < real_label <= 1):
        raise ConfigError(f"loss.real_label={real_label} must be in (0, 1]: 1.0, or 0.9 for one-sided smoothing")
    crop = OmegaConf.select(cfg, "data.crop_size", default=None)
    if crop is not None and (not is_integer(crop) or crop < 1):
        raise ConfigError(f"data.crop_size={crop} must be null (the short side) or a positive pixel count, e.g. 140")
    for key in BOOLEANS:
        value = OmegaConf.select(cfg, key, default=None)
        if value is not None and not isinstance(value, bool):
            raise ConfigError(f"{key}={value} must be true or false")


def check_feature_cache_folder(cfg: DictConfig) -> None:
    """The real-image features of FID/KID are first saved after epoch 1: say now if they cannot be."""
    folder = OmegaConf.select(cfg, "metrics.cache_dir", default=None)
    enabled = OmegaConf.select(cfg, "metrics.enabled", default=False)
    if folder is None or enabled is False or (enabled == "auto" and not asks_for_gpu(cfg.trainer)):
        return
    problem = writable_folder_error(folder)
    if problem is not None:
        raise ConfigError(
            f"metrics.cache_dir={folder} cannot hold the FID real-feature cache ({problem}): set paths.cache_dir "
            "(or metrics.cache_dir) to a writable folder, or metrics.enabled=false"
        )


def check_config(cfg: DictConfig) -> None:
    """Raise ConfigError with a one-line message for values that cannot work."""
    check_values(cfg)
    check_feature_cache_folder(cfg)
    model_size = cfg.model.image_size
    try:
        num_resolution_blocks(model_size)
    except ValueError as error:
        raise ConfigError(f"model.image_size: {error}") from None
    data_size = cfg.data.image_size
    if data_size != model_size:
        size_models = ", ".join(f"model=dcgan{size}" for size in MODEL_SIZES)
        raise ConfigError(
            f"data.image_size={data_size} does not match model.image_size={model_size}: drop the data.image_size "
            f"override (it follows the model) or choose a model of another size ({size_models})"
        )
    batch_size = cfg.data.batch_size
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ConfigError(
            f"data.batch_size={batch_size} must be a positive integer (per device), e.g. data.batch_size=128"
        )
    trainer = cfg.trainer
    unlimited = trainer.get("max_epochs") in (None, -1) and trainer.get("max_steps", -1) in (None, -1)
    if unlimited and trainer.get("max_time") is None:
        raise ConfigError(
            "trainer.max_epochs, trainer.max_steps and trainer.max_time are all unset: set one, "
            "e.g. trainer.max_epochs=10 or trainer.max_time=00:02:00:00"
        )
    if trainer.get("max_epochs") == 0:
        raise ConfigError("trainer.max_epochs=0 trains nothing: give a positive count, or -1 with trainer.max_time")
    if asks_for_gpu(trainer) and visible_gpus() == 0:
        raise ConfigError(f"trainer.accelerator={trainer.accelerator} but no CUDA GPU is visible: use trainer=cpu")
    processes = requested_processes(trainer)
    if asks_for_gpu(trainer) and processes > visible_gpus() * int(trainer.get("num_nodes", 1)):
        raise ConfigError(
            f"trainer.devices={trainer.devices} asks for more GPUs than the {visible_gpus()} visible: "
            "lower trainer.devices"
        )
    if trainer.get("sync_batchnorm") and processes > 1 and training_device_type(trainer) != "cuda":
        raise ConfigError(
            "trainer.sync_batchnorm=true needs GPUs (PyTorch's SyncBatchNorm has no CPU version): "
            "drop it on the CPU, each process then normalises over its own data.batch_size"
        )


class CheckBeforeRunFolder(Callback):
    """Hydra callback: a single run's config checks, before Hydra creates the run folder, so that a bad value
    leaves nothing behind (conf/hydra/default.yaml). Each job of a multirun is checked in the job itself: its
    failure is recorded there and the sweep goes on (facegan/tools/sweep_summary.py)."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        cfg = copy.deepcopy(config)
        with open_dict(cfg), exit_on_user_error():
            follow_launcher_layout(cfg.trainer)  # as train() does: torchrun and SLURM set the process count
            check_config(cfg)
