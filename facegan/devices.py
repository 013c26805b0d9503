"""Turn a `device=` setting of the command-line tools into a torch.device, or a one-line error."""

import torch

from facegan.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """`auto` is the GPU when there is one; `cpu`, `cuda` and `cuda:N` are taken as they are."""
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
