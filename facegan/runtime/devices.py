"""Which device facegan computes on: the training device from `trainer.*`, the process count it asks for,
and the `device=` setting of the command-line tools. The one place that asks torch what hardware there is."""

import os

import torch
from omegaconf import DictConfig

from facegan.errors import ConfigError

GPU_ACCELERATORS = ("gpu", "cuda")


def training_device_type(trainer_cfg: DictConfig) -> str:
    """ "cuda" when trainer.accelerator asks for a GPU (or is auto and one is visible), else "cpu"."""
    accelerator = str(trainer_cfg.get("accelerator", "auto"))
    if accelerator in GPU_ACCELERATORS or (accelerator == "auto" and torch.cuda.is_available()):
        return "cuda"
    return "cpu"


def by_device(accelerator: str, cpu_value, gpu_value):
    """Config resolver: a recipe's value for a run on the CPU, or on a GPU (trainer.accelerator, auto included)."""
    return gpu_value if training_device_type({"accelerator": accelerator}) == "cuda" else cpu_value


def asks_for_gpu(trainer_cfg: DictConfig) -> bool:
    """trainer.accelerator names a GPU explicitly (auto never does)."""
    return str(trainer_cfg.get("accelerator", "auto")) in GPU_ACCELERATORS


def requested_processes(trainer_cfg: DictConfig) -> int:
    """How many training processes trainer.devices x trainer.num_nodes asks for (1 when unsure)."""
    devices = trainer_cfg.get("devices", "auto")
    on_gpu = training_device_type(trainer_cfg) == "cuda"
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


def visible_gpus() -> int:
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def resolve_device(name: str) -> torch.device:
    """A tool's `device=`: `auto` is the GPU when there is one; `cpu`, `cuda` and `cuda:N` are taken as they are."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device={name} is not a torch device: use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={name} but no CUDA GPU is visible: use device=cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(f"device={name} but only {torch.cuda.device_count()} GPUs are visible: use device=cuda:0")
    return device
