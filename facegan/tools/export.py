"""Export a trained generator for use outside facegan, as TorchScript (loads with torch alone) or ONNX.

Both files map z (N, latent_dim) ~ N(0, I) to RGB images (N, 3, S, S) in [-1, 1] and carry their own
metadata (latent_dim, image_size, value_range, ...): TorchScript in the extra file `facegan.json`,
ONNX as metadata_props (each value JSON-encoded). With torch alone:

    import json, torch
    extra_files = {"facegan.json": ""}
    generator = torch.jit.load("generator.pt", _extra_files=extra_files)
    metadata = json.loads(extra_files["facegan.json"])
    images = generator(torch.randn(16, metadata["latent_dim"]))  # (16, 3, S, S) in [-1, 1]

and with onnxruntime: `session.run(None, {"z": z})[0]`, metadata in `session.get_modelmeta().custom_metadata_map`.
"""

import importlib.util
import json
import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig
from torch import nn

from facegan.checkpoints.trained_generator import GeneratorInfo, check_checkpoint_path, load_generator
from facegan.errors import ConfigError, FaceganError
from facegan.fileio import atomic_write, output_file_error
from facegan.latent import random_latents

log = logging.getLogger(__name__)

TORCHSCRIPT_METADATA_FILE = "facegan.json"
VALUE_RANGE = (-1.0, 1.0)  # the generator's Tanh output
VERIFY_BATCH = 8  # not the batch size of the export example, so the check also covers a dynamic batch

# A function from z (N, latent_dim) to images (N, 3, S, S), whatever runs the exported file.
Runner = Callable[[torch.Tensor], torch.Tensor]


def export_metadata(info: GeneratorInfo) -> dict:
    """What a user of the exported file needs to feed it and read its output."""
    return {
        "latent_dim": info.latent_dim,
        "image_size": info.image_size,
        "channels": 3,
        "value_range": list(VALUE_RANGE),
        "input": "z: (N, latent_dim) float32, standard normal",
        "output": "images: (N, 3, image_size, image_size) float32 RGB in value_range",
        "weights": info.weights,
        "epoch": info.epoch,
        "source_checkpoint": info.ckpt_path,
    }


def save_torchscript(generator: nn.Module, metadata: dict, path: Path) -> None:
    with warnings.catch_warnings():
        # torch >= 2.9 marks torch.jit as deprecated; it still writes and loads, and this format was asked for.
        warnings.filterwarnings("ignore", message=r".*torch\.jit\..* is deprecated", category=FutureWarning)
        scripted = torch.jit.script(generator)
        torch.jit.save(scripted, str(path), _extra_files={TORCHSCRIPT_METADATA_FILE: json.dumps(metadata)})


def load_torchscript(path: Path) -> tuple[Runner, dict]:
    extra_files = {TORCHSCRIPT_METADATA_FILE: ""}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\..* is deprecated", category=FutureWarning)
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra_files)
    return module, json.loads(extra_files[TORCHSCRIPT_METADATA_FILE])


def save_onnx(generator: nn.Module, metadata: dict, path: Path) -> None:
    example_z = torch.randn(2, metadata["latent_dim"])
    program = torch.onnx.export(
        generator,
        (example_z,),
        input_names=["z"],
        output_names=["images"],
        dynamic_shapes={"z": {0: torch.export.Dim("batch")}},  # any N, not only the example's
        verbose=False,
    )
    program.model.metadata_props.update({key: json.dumps(value) for key, value in metadata.items()})
    program.save(path, external_data=False)  # one self-contained file: the weights are small


def load_onnx(path: Path) -> tuple[Runner, dict]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def run(z: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {"z": z.numpy()})[0])

    metadata = {key: json.loads(value) for key, value in session.get_modelmeta().custom_metadata_map.items()}
    return run, metadata


@dataclass(frozen=True)
class ExportFormat:
    suffix: str
    save: Callable[[nn.Module, dict, Path], None]
    load: Callable[[Path], tuple[Runner, dict]]
    requires: tuple[str, ...]  # Python packages beyond torch, for writing and for checking the file


FORMATS = {
    "torchscript": ExportFormat(".pt", save_torchscript, load_torchscript, requires=()),
    "onnx": ExportFormat(".onnx", save_onnx, load_onnx, requires=("onnx", "onnxscript", "onnxruntime")),
}


def export_format(name: str) -> ExportFormat:
    if name not in FORMATS:
        raise ConfigError(f"format={name} is not an export format: use format=torchscript or format=onnx")
    chosen = FORMATS[name]
    missing = [package for package in chosen.requires if importlib.util.find_spec(package) is None]
    if missing:
        raise ConfigError(f"format={name} needs {', '.join(missing)}: pip install -e '.[export]'")
    return chosen


def default_name(ckpt_path: str | Path, suffix: str) -> str:
    return f"{Path(ckpt_path).stem}_generator{suffix}"


def output_path(out: str | None, ckpt_path: str, suffix: str) -> Path:
    """`out`, or by default `<checkpoint without .ckpt>_generator<suffix>` beside the checkpoint."""
    if out:
        return Path(str(out)).expanduser()
    return Path(ckpt_path).expanduser().with_name(default_name(ckpt_path, suffix))


def check_export_config(cfg: DictConfig) -> tuple[ExportFormat, Path]:
    """The format and the output path, or a one-line ConfigError before anything is loaded: the checkpoint
    missing, or `out` a file that may not be written (the checkpoint itself, a folder, an unwritable place)."""
    chosen = export_format(cfg.format)
    checkpoint = check_checkpoint_path(cfg.ckpt_path)
    path = output_path(cfg.out, cfg.ckpt_path, chosen.suffix)
    # out as given, not as a Path: a trailing slash says a folder was meant
    problem = output_file_error(str(cfg.out) if cfg.out else path, {"ckpt_path": checkpoint})
    if problem:
        given = f"out={cfg.out}" if cfg.out else f"out (by default {path})"
        meant_folder = path.is_dir() or str(cfg.out).endswith(os.sep)
        example = (path if meant_folder else checkpoint.parent) / default_name(checkpoint, chosen.suffix)
        raise ConfigError(f"{given} {problem}: give the path of a new file, e.g. out={example}")
    return chosen, path


@torch.no_grad()
def largest_difference(run: Runner, generator: nn.Module, z: torch.Tensor) -> float:
    """max |exported(z) - checkpoint generator(z)| over every pixel of every image."""
    return (run(z) - generator(z)).abs().max().item()


def export(cfg: DictConfig) -> Path:
    """Write the checkpoint's generator in cfg.format to cfg.out, read it back and compare on random z."""
    chosen, path = check_export_config(cfg)
    generator, info = load_generator(cfg.ckpt_path, map_location="cpu")
    metadata = export_metadata(info)
    # Checked before it takes the name: a file that disagrees with its checkpoint never replaces an earlier export.
    with atomic_write(path) as partial:
        chosen.save(generator, metadata, partial)
        run, saved_metadata = chosen.load(partial)
        difference = largest_difference(run, generator, random_latents(VERIFY_BATCH, info.latent_dim, cfg.seed))
        metadata_matches = saved_metadata == metadata
        if not metadata_matches or not difference <= cfg.tolerance:  # `not <=` also catches a NaN difference
            raise FaceganError(
                f"the exported {cfg.format} generator does not match the checkpoint (largest difference "
                f"{difference:.3g}, tolerance={cfg.tolerance}; metadata read back "
                f"{'matches' if metadata_matches else 'differs'}): {path} not written"
            )
    log.info(
        "Wrote %s (%s, %s weights of epoch %d): z (N, %d) -> images (N, 3, %d, %d) in [-1, 1]",
        path,
        cfg.format,
        info.weights,
        info.epoch,
        info.latent_dim,
        info.image_size,
        info.image_size,
    )
    log.info(
        "Checked on %d random z: largest difference from the checkpoint's generator %.3g",
        VERIFY_BATCH,
        difference,
    )
    return path
