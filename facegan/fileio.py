"""Files on disk: every write is atomic, and every torch file is read without running code.

A reader (a resume, a viewer, another sweep job) sees the previous file or the new one, never half of
one: each writer writes to a hidden partial beside the target (same filesystem, so the rename is
atomic), named per process so that concurrent writers never share one, then renames it into place.

    with atomic_write(path) as partial:
        torch.save(state, partial)

Logs that grow by one record at a time (metrics.jsonl) are appended instead: `append_json_line` and
`read_json_lines`, whose reader skips the torn line a killed writer leaves.
"""

import contextlib
import json
import logging
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)


def partial_path(target: Path) -> Path:
    """Where a write to `target` goes first: `.<name>.partial-<host>-<pid>` beside it (the host too: processes
    on two hosts that share the folder may have the same pid)."""
    return target.with_name(f".{target.name}.partial-{socket.gethostname()}-{os.getpid()}")


def stale_partials(target: Path) -> list[Path]:
    """Partials of `target` that any process (a killed one included) left behind."""
    return sorted(target.parent.glob(f".{target.name}.partial-*"))


def fsync_file(path: Path) -> None:
    """Flush a written file to the disk, so a power cut after the rename cannot leave it empty."""
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


@contextlib.contextmanager
def atomic_write(path: str | Path, durable: bool = False) -> Iterator[Path]:
    """Yield the partial path to write; after the block, rename it over `path` (fsynced first when `durable`).
    On an error the partial is removed and `path` keeps its previous content."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(path)
    try:
        yield partial
        if durable:
            fsync_file(partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield an empty partial folder to fill; after the block, publish it as `path`, which must not exist.
    On an error the partial folder is removed, so an interrupted build never looks finished."""
    path = Path(path)
    partial = partial_path(path)
    partial.mkdir(parents=True)
    try:
        yield partial
        os.rename(partial, path)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def create_exclusively(path: str | Path, record: dict) -> bool:
    """Create `path` holding `record` as JSON, atomically only if it does not exist yet (O_EXCL): of processes that
    race for it, exactly one gets True. A lock or claim file's one way in."""
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w") as handle:
        json.dump(record, handle)
    return True


def read_torch_file(path: str | Path, map_location: Any = "cpu", mmap: bool = False) -> Any:
    """torch.load with weights_only=True: tensors and plain Python values only, so a crafted file cannot run
    code. Every file facegan writes (checkpoints, feature caches) holds nothing else."""
    return torch.load(path, map_location=map_location, mmap=mmap, weights_only=True)


def writable_folder_error(folder: str | Path) -> str | None:
    """Why files cannot be created in `folder` (made if missing), or None when they can. Checks the nearest
    existing ancestor, so nothing is created just to ask."""
    path = Path(folder).expanduser().absolute()
    existing = next(candidate for candidate in (path, *path.parents) if candidate.exists())
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return None


def same_file(first: str | Path, second: str | Path) -> bool:
    """Whether two paths name one file: the same path once symlinks are resolved, or one inode (a hard link)."""
    first, second = Path(first).expanduser(), Path(second).expanduser()
    if first.resolve() == second.resolve():
        return True
    try:
        return os.path.samefile(first, second)
    except OSError:  # either one does not exist: they cannot share an inode
        return False


def output_file_error(path: str | Path, inputs: dict[str, str | Path]) -> str | None:
    """Why a command must not write the file `path`, or None when it may: it is one of the command's `inputs`
    ({setting: path}), an existing folder, or in a folder that cannot be created or written. Completes a sentence
    that starts with the output's setting, e.g. `out=... is a folder, not a file`."""
    for key, source in inputs.items():
        if same_file(path, source):
            return f"is the file {key}={source} names, which it would overwrite"
    if str(path).endswith(os.sep) or Path(path).expanduser().is_dir():
        return "is a folder, not a file"
    problem = writable_folder_error(Path(path).expanduser().parent)
    return f"cannot be written: {problem}" if problem else None


def append_json_line(path: str | Path, record: dict) -> None:
    """Append `record` as one line of the JSON Lines file `path`. A line that a killed writer left without its
    newline is ended first, so the new record never joins it (readers skip the torn line: `read_json_lines`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as file:  # writes go to the end, whatever was read
        size = file.seek(0, os.SEEK_END)
        if size:
            file.seek(size - 1)
        unfinished = size > 0 and file.read(1) != b"\n"
        file.write((b"\n" if unfinished else b"") + json.dumps(record).encode() + b"\n")  # one write call


def read_json_lines(path: str | Path) -> list[dict]:
    """The records of a JSON Lines file that appenders write (`append_json_line`), [] when it does not exist.
    A line that does not parse as a JSON object is skipped and logged: as the last line, a write its writer did
    not finish (killed mid-line); before it, the same left by an earlier crash, or damage (a warning)."""
    path = Path(path)
    try:
        lines = path.read_bytes().split(b"\n")
    except FileNotFoundError:
        return []
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:  # a JSONDecodeError, or bytes that are not UTF-8
            record = None
        if isinstance(record, dict):
            records.append(record)
        elif number == len(lines):  # no newline after it: a write that never finished
            log.info("%s: skipped its last line %d, a record whose writer stopped mid-line", path, number)
        else:
            log.warning(
                "%s: skipped line %d, not a JSON record (cut off by an earlier crash, or damaged)", path, number
            )
    return records
