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
from facegan.models.init import MAX_IMAGE_SIZE, MIN_IMAGE_SIZE

# The EMA generator (an exponential moving average of G's weights, saved with BatchNorm statistics of its own)
# gives smoother samples: used when present (auto), unless a tool asks for one of the two by name.
WEIGHT_CHOICES = {"auto": (AVERAGE_KEYS, GENERATOR_KEYS), "ema": (AVERAGE_KEYS,), "raw": (GENERATOR_KEYS,)}


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


def generator_weights(
    state_dict: dict[str, torch.Tensor], choice: str = "auto"
) -> tuple[str | None, dict[str, torch.Tensor]]:
    """The chosen generator's name ("generator_ema" or "generator") and its weights with the prefix
    stripped; (None, {}) when the state_dict holds no such generator."""
    for prefix in WEIGHT_CHOICES[choice]:
        weights = {key[len(prefix) :]: value for key, value in state_dict.items() if key.startswith(prefix)}
        if weights:
            return prefix.rstrip("."), weights
    return None, {}


# The generator classes a checkpoint may name: a checkpoint is data, so the class is looked up here, never imported
# from the name the file gives (a crafted `_target_` could name any callable).
GENERATORS = {"facegan.models.Generator": Generator, "facegan.models.ResNetGenerator": ResNetGenerator}
# The arguments they take and the values a checkpoint may give each: generous for any real model, so that a crafted
# size is refused in one line instead of asking for tens of GB; image_size: the sizes the networks build.
ARGUMENT_VALUES = {
    "latent_dim": range(1, 4096 + 1),
    "base_channels": range(1, 1024 + 1),
    "image_size": tuple(2**power for power in range(MIN_IMAGE_SIZE.bit_length() - 1, MAX_IMAGE_SIZE.bit_length())),
    "channels": (1, 3, 4),
}


def _allowed(values: range | tuple[int, ...]) -> str:
    if isinstance(values, range):
        return f"{values.start} to {values.stop - 1}"
    return "one of " + ", ".join(map(str, values))


def build_generator(spec: dict, ckpt_path: str | Path, weights: dict[str, torch.Tensor], file_bytes: int) -> nn.Module:
    """The generator a checkpoint's network_config describes (from the allow-list, with bounded integer arguments),
    holding `weights`; refused in one line, before anything is allocated, when they do not fit it."""
    spec = dict(spec)
    target = spec.pop("_target_", None)
    if target not in GENERATORS:
        raise ConfigError(
            f"ckpt_path={ckpt_path} names generator class {target!r}, not one of facegan's "
            f"({', '.join(GENERATORS)}): only checkpoints written by scripts/train.py load"
        )
    bad = {key: value for key, value in spec.items() if key not in ARGUMENT_VALUES or type(value) is not int}
    if bad:
        raise ConfigError(
            f"ckpt_path={ckpt_path} gives the generator arguments it does not take, or not as integers ({bad}): "
            "only checkpoints written by scripts/train.py load"
        )
    for key, value in spec.items():
        if value not in ARGUMENT_VALUES[key]:
            raise ConfigError(
                f"ckpt_path={ckpt_path} gives the generator {key}={value}, beyond what facegan builds "
                f"({_allowed(ARGUMENT_VALUES[key])}): only checkpoints written by scripts/train.py load"
            )
    with torch.device("meta"):  # shapes only: nothing is allocated for a generator that is refused
        described = GENERATORS[target](**spec)
    check_weights_fit(described.state_dict(), weights, ckpt_path, file_bytes)
    generator = GENERATORS[target](**spec)
    generator.load_state_dict(weights)
    return generator


def check_weights_fit(
    expected: dict[str, torch.Tensor], weights: dict[str, torch.Tensor], ckpt_path: str | Path, file_bytes: int
) -> None:
    """The checkpoint's weights have the generator's keys and shapes, and the file could hold them (a tensor in a file
    may claim any shape over a few stored bytes: each weight takes at least a byte of the file)."""
    shapes = {key: tuple(value.shape) for key, value in expected.items()}
    given = {key: tuple(value.shape) if isinstance(value, torch.Tensor) else None for key, value in weights.items()}
    differences = {
        "missing": sorted(shapes.keys() - given.keys()),
        "unexpected": sorted(given.keys() - shapes.keys()),
        "of another shape": sorted(key for key in shapes.keys() & given.keys() if shapes[key] != given[key]),
    }
    listed = "; ".join(
        f"{kind}: {', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''}" for kind, keys in differences.items() if keys
    )
    elements = sum(value.numel() for value in expected.values())
    if listed or elements > file_bytes:
        reason = listed or f"{elements} weights, more than the file's {file_bytes} bytes hold"
        raise ConfigError(
            f"ckpt_path={ckpt_path}: its weights do not fit the generator its network_config describes ({reason}): "
            "only checkpoints written by scripts/train.py load"
        )


def load_generator(
    ckpt_path: str | Path, map_location: str | torch.device = "cpu", weights: str = "auto"
) -> tuple[nn.Module, GeneratorInfo]:
    """The checkpoint's generator in eval mode (BatchNorm running statistics, as the training grids use). weights:
    auto (the EMA generator when the run kept one, else G), ema or raw (G itself)."""
    if weights not in WEIGHT_CHOICES:
        raise ConfigError(f"weights={weights} is not one of {', '.join(WEIGHT_CHOICES)}: e.g. weights=auto")
    path = check_checkpoint_path(ckpt_path)
    checkpoint = read_checkpoint(path, map_location=map_location)
    hyper_parameters = checkpoint.get("hyper_parameters")
    network_config = hyper_parameters.get("network_config") if isinstance(hyper_parameters, dict) else None
    spec = network_config.get("generator") if isinstance(network_config, dict) else None
    state_dict = checkpoint.get("state_dict", {})
    weights_name, found = generator_weights(state_dict, weights)
    if weights != "auto" and not found and generator_weights(state_dict)[1] and isinstance(spec, dict):
        kept = generator_weights(state_dict)[0]
        raise ConfigError(
            f"ckpt_path={ckpt_path} holds no {weights} generator, only {kept} (the run's model.ema setting): "
            "use weights=auto"
        )
    if not isinstance(spec, dict) or not found:
        raise ConfigError(
            f"ckpt_path={ckpt_path} is not a facegan GAN checkpoint (no generator weights or network_config): "
            "use a checkpoint written by scripts/train.py"
        )

    generator = build_generator(spec, ckpt_path, found, path.stat().st_size)
    generator.to(map_location).eval()
    info = GeneratorInfo(  # the sizes of the generator built, not numbers read beside it
        ckpt_path=str(path),
        latent_dim=generator.latent_dim,
        image_size=generator.image_size,
        weights=weights_name,
        epoch=int(checkpoint.get("epoch", -1)),
    )
    return generator, info
