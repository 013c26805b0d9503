"""Cheap checks of a composed config, run before anything heavy is built or any file written."""

import os

import torch
from omegaconf import DictConfig

from facegan.errors import ConfigError
from facegan.models import num_resolution_blocks


def uses_gpu(trainer_cfg: DictConfig) -> bool:
    accelerator = str(trainer_cfg.get("accelerator", "auto"))
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def requested_processes(trainer_cfg: DictConfig) -> int:
    """How many training processes trainer.devices x trainer.num_nodes asks for (1 when unsure)."""
    devices = trainer_cfg.get("devices", "auto")
    on_gpu = uses_gpu(trainer_cfg)
    if isinstance(devices, str) and devices.strip().lstrip("-").isdigit():
        devices = int(devices)
    if isinstance(devices, str) and "," in devices:  # "0,1": explicit GPU indices
        count = len([index for index in devices.split(",") if index.strip()])
    elif devices == "auto":
        count = torch.cuda.device_count() if on_gpu else 1
    elif devices == -1:
        count = torch.cuda.device_count() if on_gpu else os.cpu_count() or 1
    elif isinstance(devices, int):
        count = devices
    else:  # a list of device indices
        count = len(devices)
    return max(count, 1) * int(trainer_cfg.get("num_nodes", 1))


def check_config(cfg: DictConfig) -> None:
    """Raise ConfigError with a one-line message for values that cannot work."""
    model_size = cfg.model.image_size
    try:
        num_resolution_blocks(model_size)
    except ValueError as error:
        raise ConfigError(f"model.image_size: {error}") from None
    data_size = cfg.data.image_size
    if data_size != model_size:
        raise ConfigError(
            f"data.image_size={data_size} does not match model.image_size={model_size}: drop the data.image_size "
            f"override (it follows the model) or choose the model of that size, e.g. model=dcgan{data_size}"
        )
    batch_size = cfg.data.batch_size
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ConfigError(f"data.batch_size={batch_size} must be a positive integer (per device), e.g. data.batch_size=128")
    trainer = cfg.trainer
    if trainer.get("max_epochs") in (None, -1) and trainer.get("max_steps", -1) in (None, -1):
        raise ConfigError("trainer.max_epochs and trainer.max_steps are both unset: set one, e.g. trainer.max_epochs=10")
    accelerator = str(trainer.get("accelerator", "auto"))
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(f"trainer.accelerator={accelerator} but no CUDA GPU is visible: use trainer=cpu")
    processes = requested_processes(trainer)
    if accelerator in ("gpu", "cuda") and processes > torch.cuda.device_count() * int(trainer.get("num_nodes", 1)):
        raise ConfigError(
            f"trainer.devices={trainer.devices} asks for more GPUs than the {torch.cuda.device_count()} visible: "
            "lower trainer.devices"
        )
    if trainer.get("sync_batchnorm") and processes > 1 and not uses_gpu(trainer):
        raise ConfigError(
            "trainer.sync_batchnorm=true needs GPUs (PyTorch's SyncBatchNorm has no CPU version): "
            "drop it on the CPU, each process then normalises over its own data.batch_size"
        )
