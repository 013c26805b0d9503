"""Disk space for a run's checkpoints: estimated before training (a run whose first checkpoint cannot fit is
refused), and a disk that fills while one is written turned into one line, the previous checkpoint intact."""

import logging
import shutil
from pathlib import Path

from torch import nn

from facegan.errors import FaceganError

log = logging.getLogger(__name__)

MEGABYTE = 1024 * 1024


class DiskFullError(FaceganError):
    """The disk that holds the run's checkpoints has no room for the next one."""


def checkpoint_bytes(module: nn.Module) -> int:
    """About the size of one checkpoint of `module`: every tensor of its state dict, and the optimizer states,
    which for Adam are two moments per trainable parameter. Lightning's loop and callback states are small."""
    tensors = sum(tensor.numel() * tensor.element_size() for tensor in module.state_dict().values())
    moments = 2 * sum(param.numel() * param.element_size() for param in module.parameters() if param.requires_grad)
    return tensors + moments


def checkpoint_files_kept(keep_epochs: int, keeps_best: bool) -> int | None:
    """Checkpoint files a run holds at once: the newest `keep_epochs` epochs', last.ckpt and best.ckpt."""
    return None if keep_epochs == -1 else keep_epochs + 1 + int(keeps_best)


def free_bytes(folder: str | Path) -> int:
    """Free space on the filesystem that holds `folder` (or its nearest existing parent: it may not exist yet)."""
    path = Path(folder).absolute()
    while not path.exists():
        path = path.parent
    return shutil.disk_usage(path).free


def check_room_for_checkpoints(folder: str | Path, one_checkpoint: int, files_kept: int | None) -> None:
    """Refuse a run whose first checkpoint cannot fit in `folder`; warn when the ones it keeps will not.
    `files_kept` is how many checkpoint files the run keeps at once (None: every epoch's, no bound)."""
    free = free_bytes(folder)
    if one_checkpoint > free:
        raise DiskFullError(
            f"paths.checkpoint_dir={folder} has {free / MEGABYTE:.1f} MB free, less than the "
            f"{one_checkpoint / MEGABYTE:.1f} MB one checkpoint of this model takes: free space or set paths.log_dir "
            "to a disk with room"
        )
    # the atomic write holds a new file beside the one it replaces until the rename
    needed = one_checkpoint * (files_kept + 1) if files_kept is not None else None
    if needed is None or needed > free:
        bound = "every epoch's" if needed is None else f"{needed / MEGABYTE:.1f} MB for the {files_kept} kept"
        log.warning(
            "Checkpoints take %.1f MB each (%s) and %s has %.1f MB free: the run stops with one line if the disk "
            "fills, its last complete checkpoint intact; checkpoint.keep_epochs bounds how many are kept",
            one_checkpoint / MEGABYTE,
            bound,
            folder,
            free / MEGABYTE,
        )


def disk_full_error(path: str | Path) -> DiskFullError:
    """The one line for a disk that filled while `path` was being written."""
    path = Path(path)
    free = free_bytes(path.parent) / MEGABYTE
    return DiskFullError(
        f"no space left on the disk of {path.parent} while writing {path.name} ({free:.1f} MB free): the "
        "checkpoints written before are intact; free space or lower checkpoint.keep_epochs, then resume with "
        "ckpt_path=last"
    )
