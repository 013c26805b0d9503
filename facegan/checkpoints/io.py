"""Checkpoint files: written atomically (a crash or kill mid-write never leaves a corrupt last.ckpt) and read
back with the one loader every facegan command uses."""

from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.plugins.io import TorchCheckpointIO

from facegan.checkpoints.disk import disk_full_error
from facegan.errors import ConfigError, describe, is_disk_full
from facegan.fileio import atomic_write, read_torch_file


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, through facegan.fileio.atomic_write (fsynced before the rename)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if "://" in str(path):  # object stores: Lightning's own writer, which uploads in one request
            return super().save_checkpoint(checkpoint, path, storage_options)
        try:
            with atomic_write(path, durable=True) as partial, open(partial, "wb") as handle:
                torch.save(checkpoint, handle)
        except OSError as error:
            if is_disk_full(error):  # atomic_write has removed the partial file: the previous one is intact
                raise disk_full_error(path) from None
            raise


def read_checkpoint(ckpt_path: str | Path, map_location: Any = "cpu", mmap: bool = False) -> dict[str, Any]:
    """A checkpoint as a dict, or a one-line ConfigError naming `ckpt_path` when it cannot be read."""
    try:
        checkpoint = read_torch_file(ckpt_path, map_location=map_location, mmap=mmap)
    except Exception as error:  # truncated file, not a torch file, pickled code: all mean the same to a user
        raise ConfigError(
            f"ckpt_path={ckpt_path} could not be read as a checkpoint ({describe(error)}): "
            "give a .ckpt written by scripts/train.py"
        ) from None
    return checkpoint if isinstance(checkpoint, dict) else {}
