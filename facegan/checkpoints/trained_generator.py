"""Rebuild a trained generator from a facegan checkpoint alone, on any device (a GPU run's checkpoint
loads on a CPU-only machine): the network config travels in the checkpoint's hyperparameters."""

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from facegan.checkpoints.io import read_checkpoint
from facegan.errors import ConfigError
from facegan.gan.ema import AVERAGE_KEYS, GENERATOR_KEYS
from facegan.models import Generator, ResNetGenerator

# The EMA generator (an exponential moving average of G's weights, saved with BatchNorm statistics of its own)
# gives smoother samples: used when present.
WEIGHT_PREFIXES = (AVERAGE_KEYS, GENERATOR_KEYS)


@dataclass(frozen=True)
class GeneratorInfo:
    """What a sample or export command needs to know about the generator it loaded."""

    ckpt_path: str
    latent_dim: int
    image_size: int
    weights: str  # the state_dict prefix the weights came from: "generator_ema" or "generator"
    epoch: int  # 0-based epoch the checkpoint was saved in, as in checkpoints/epoch_NNN.ckpt


def check_checkpoint_path(ckpt_path: str | Path | None) -> Path:
    """The checkpoint's path, or a one-line ConfigError when it is unset or not a file."""
    if not ckpt_path:
        raise ConfigError("ckpt_path is not set: pass a run's checkpoint, e.g. ckpt_path=<run>/checkpoints/last.ckpt")
    path = Path(ckpt_path).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"ckpt_path={ckpt_path} is not a file: give the path of a .ckpt (e.g. <run>/checkpoints/last.ckpt)"
        )
    return path


def generator_weights(state_dict: dict[str, torch.Tensor]) -> tuple[str | None, dict[str, torch.Tensor]]:
    """The preferred generator's name ("generator_ema" or "generator") and its weights with the prefix
    stripped; (None, {}) when the state_dict holds no generator."""
    for prefix in WEIGHT_PREFIXES:
        weights = {key[len(prefix) :]: value for key, value in state_dict.items() if key.startswith(prefix)}
        if weights:
            return prefix.rstrip("."), weights
    return None, {}


# The generator classes a checkpoint may name, and the arguments each takes: a checkpoint is data, so the class is
# looked up here, never imported from the name the file gives (a crafted `_target_` could name any callable).
GENERATOR_ARGUMENTS = {"latent_dim", "image_size", "base_channels", "channels"}
GENERATORS = {
    "facegan.models.Generator": (Generator, GENERATOR_ARGUMENTS),
    "facegan.models.ResNetGenerator": (ResNetGenerator, GENERATOR_ARGUMENTS),
}


def build_generator(spec: dict, ckpt_path: str | Path) -> nn.Module:
    """The generator a checkpoint's network_config describes, from the allow-list, with integer arguments."""
    spec = dict(spec)
    target = spec.pop("_target_", None)
    if target not in GENERATORS:
        raise ConfigError(
            f"ckpt_path={ckpt_path} names generator class {target!r}, not one of facegan's "
            f"({', '.join(GENERATORS)}): only checkpoints written by scripts/train.py load"
        )
    cls, allowed = GENERATORS[target]
    bad = {key: value for key, value in spec.items() if key not in allowed or type(value) is not int}
    if bad:
        raise ConfigError(
            f"ckpt_path={ckpt_path} gives the generator arguments it does not take, or not as integers ({bad}): "
            "only checkpoints written by scripts/train.py load"
        )
    return cls(**spec)


def load_generator(ckpt_path: str | Path, map_location: str | torch.device = "cpu") -> tuple[nn.Module, GeneratorInfo]:
    """The checkpoint's generator in eval mode (BatchNorm running statistics, as the training grids use)."""
    path = check_checkpoint_path(ckpt_path)
    checkpoint = read_checkpoint(path, map_location=map_location)
    network_config = checkpoint.get("hyper_parameters", {}).get("network_config")
    weights_name, weights = generator_weights(checkpoint.get("state_dict", {}))
    if not network_config or not weights:
        raise ConfigError(
            f"ckpt_path={ckpt_path} is not a facegan GAN checkpoint (no generator weights or network_config): "
            "use a checkpoint written by scripts/train.py"
        )

    generator = build_generator(network_config["generator"], ckpt_path)
    generator.load_state_dict(weights)
    generator.to(map_location).eval()
    info = GeneratorInfo(
        ckpt_path=str(path),
        latent_dim=int(network_config["latent_dim"]),
        image_size=int(network_config["image_size"]),
        weights=weights_name,
        epoch=int(checkpoint.get("epoch", -1)),
    )
    return generator, info
