"""The prepared cache: a data source decoded once into one memory-mappable uint8 array.

Decoding and resizing JPEGs every epoch starves a GPU; decoding them once, in parallel processes,
into `images.u8` makes every later run and every sweep job start from raw pixels.

One cache is a folder under paths.cache_dir named `<name>-<S>px-<key>`:
  images.u8       raw uint8 (N, 3, S, S), C order, RGB: np.memmap(path, np.uint8, shape=manifest["shape"])
  manifest.json   what was decoded (source, fingerprint, size, crop, split), the count and the skipped files
The key hashes everything that decides the pixels, so a changed source or size gets a new folder.
A build writes into a hidden `.<folder>.partial-<host>-<pid>` folder and renames it into place only after
the manifest (with "complete": true) is on disk: an interrupted build never looks like a cache.
Builders take a per-folder lock file (build_lock.py), so concurrent sweep jobs, on one host or several,
build once and the others wait, for at most data.cache_wait_s.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import json
import logging
import math
import multiprocessing
import multiprocessing.pool
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from facegan.data.build_lock import build_lock
from facegan.data.decoding import BadImageError
from facegan.data.sources import DataSourceError
from facegan.errors import FaceganError
from facegan.fileio import atomic_directory, fsync_file, stale_partials, writable_folder_error
from facegan.runtime.stop_signals import STOP_SIGNALS, raise_if_stop_requested

log = logging.getLogger(__name__)

# Bump when decoding changes (crop, resampling, layout): every older cache then stops matching.
FORMAT_VERSION = 2
IMAGES_FILE = "images.u8"
MANIFEST_FILE = "manifest.json"
# Skipped files named in the build warning; the manifest lists them all.
NAMED_IN_WARNING = 3


class CacheFolderError(FaceganError):
    """paths.cache_dir cannot take a new cache."""


@dataclass(frozen=True)
class CacheSpec:
    """What to decode, and every value that decides the decoded pixels."""

    name: str  # readable start of the folder name, e.g. "img_align_celeba" or "synthetic-seed42"
    image_size: int
    count: int  # images the source lists; unreadable files are skipped while decoding
    identity: dict[str, Any]  # JSON values that decide the pixels: source, fingerprint, crop, split, ...
    load: Callable[[int], np.ndarray]  # index -> uint8 (S, S, 3); raises BadImageError for unreadable files

    @property
    def key(self) -> str:
        fields = {"format": FORMAT_VERSION, "image_size": self.image_size, "count": self.count, **self.identity}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()

    def folder(self, cache_dir: Path) -> Path:
        return Path(cache_dir) / f"{self.name}-{self.image_size}px-{self.key[:12]}"


@dataclass(frozen=True)
class PreparedImages:
    """A complete cache, memory-mapped: `images` is uint8 (N, 3, S, S), read from disk on first touch."""

    folder: Path
    images: np.ndarray
    manifest: dict[str, Any]

    def __len__(self) -> int:
        return len(self.images)


def open_prepared(spec: CacheSpec, cache_dir: str | Path) -> PreparedImages | None:
    """The cache for `spec` when one is complete and matches it, else None (never a partial one)."""
    folder = spec.folder(Path(cache_dir))
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("complete") is not True or manifest.get("key") != spec.key:
        return None
    shape = tuple(manifest["shape"])
    images_path = folder / IMAGES_FILE
    if not images_path.is_file() or images_path.stat().st_size != math.prod(shape):
        return None
    # mode "c" (copy-on-write) gives a writable array, which torch.from_numpy wants; nothing is ever written back.
    images = np.memmap(images_path, dtype=np.uint8, mode="c", shape=shape)
    return PreparedImages(folder=folder, images=images, manifest=manifest)


def prepare(spec: CacheSpec, cache_dir: str | Path, workers: int, wait_s: float = 3600.0) -> PreparedImages:
    """Open the cache for `spec`, building it first (once, whoever else is waiting) when there is none; wait at
    most `wait_s` for another process or host that builds it."""
    cache_dir = Path(cache_dir)
    prepared = open_prepared(spec, cache_dir)
    if prepared is not None:
        log.info("Using the prepared cache %s (%s)", prepared.folder, _summary(prepared.manifest))
        return prepared
    problem = writable_folder_error(cache_dir)
    if problem is not None:
        raise CacheFolderError(
            f"paths.cache_dir={cache_dir} cannot hold the prepared cache ({problem}): "
            "set paths.cache_dir to a writable folder, or data.cache=false to decode the images every epoch"
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    folder = spec.folder(cache_dir)
    with build_lock(folder.with_name(f".{folder.name}.lock"), timeout_s=wait_s):
        if open_prepared(spec, cache_dir) is None:  # else another process built it while this one waited
            _build(spec, folder, workers)
    prepared = open_prepared(spec, cache_dir)
    assert prepared is not None, f"the cache just built at {folder} does not open"
    return prepared


def _build(spec: CacheSpec, folder: Path, workers: int) -> None:
    # Holding the lock, anything at this name is left over: a stale cache or a killed build.
    for leftover in [folder, *stale_partials(folder)]:
        shutil.rmtree(leftover, ignore_errors=True)
    with atomic_directory(folder) as partial:
        started = time.perf_counter()
        count, skipped = _decode_all(spec, partial / IMAGES_FILE, workers)
        if count == 0:
            raise DataSourceError(
                f"none of the {spec.count} files of {spec.identity.get('source')} is a readable image "
                f"(first: {skipped[0]['file']}: {skipped[0]['reason']}): point data.root at a folder of jpg/png images"
            )
        manifest = {
            "complete": True,
            "format": FORMAT_VERSION,
            "key": spec.key,
            **spec.identity,
            "image_size": spec.image_size,
            "count": count,
            "listed": spec.count,
            "shape": [count, 3, spec.image_size, spec.image_size],
            "dtype": "uint8",
            "layout": "NCHW RGB",
            "skipped": skipped,
            "built": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "build_seconds": round(time.perf_counter() - started, 1),
        }
        manifest_path = partial / MANIFEST_FILE
        manifest_path.write_text(json.dumps(manifest, indent=2))
        fsync_file(manifest_path)
    log.info("Prepared the cache %s (%s) in %.1f s", folder, _summary(manifest), manifest["build_seconds"])
    if skipped:
        more = len(skipped) - NAMED_IN_WARNING
        log.warning(
            "Skipped %d of %d files that are not readable images: %s%s; each is listed with its reason in %s",
            len(skipped),
            spec.count,
            ", ".join(entry["file"] for entry in skipped[:NAMED_IN_WARNING]),
            f" and {more} more" if more > 0 else "",
            folder / MANIFEST_FILE,
        )


def _decode_all(spec: CacheSpec, images_path: Path, workers: int) -> tuple[int, list[dict[str, str]]]:
    """Decode every image in parallel chunks, appending them in source order; return (count, skipped)."""
    # Several chunks per process keep every process busy to the end; small chunks keep the bar moving.
    chunk = max(1, min(256, math.ceil(spec.count / (4 * workers))))
    bounds = [(start, min(start + chunk, spec.count)) for start in range(0, spec.count, chunk)]
    count, skipped = 0, []
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with (
        open(images_path, "wb") as out,
        progress,
        _worker_pool(max(1, min(workers, len(bounds))), spec) as pool,
    ):
        task = progress.add_task(f"Preparing {spec.name} at {spec.image_size}px", total=spec.count)
        for images, bad in _results(pool.imap(_decode_chunk, bounds)):  # in order, so the file follows the source
            out.write(images.data)
            count += len(images)
            skipped.extend(bad)
            progress.advance(task, len(images) + len(bad))
        out.flush()
        os.fsync(out.fileno())
    return count, skipped


def _worker_pool(processes: int, spec: CacheSpec) -> multiprocessing.pool.Pool:
    """The decoding processes, forked with the stop signals blocked: a signal that lands during a fork is then
    delivered after it, in this thread, where its exception cannot be lost (Python discards one raised in an at-fork
    callback), and no worker runs this process's stop handler before its own initializer has replaced it."""
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        return multiprocessing.Pool(processes, _start_worker, (spec.load, spec.image_size))
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _results(chunks: multiprocessing.pool.IMapIterator) -> Iterator[tuple[np.ndarray, list[dict[str, str]]]]:
    """The pool's results in order, checking every second for a stop signal whose exception was lost."""
    while True:
        raise_if_stop_requested()
        try:
            chunk = chunks.next(timeout=1.0)
        except multiprocessing.TimeoutError:
            continue
        except StopIteration:
            return
        yield chunk


PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent (the thread that forked it) ends

# Per worker process: the loader and size, set once by the pool's initializer instead of pickled per chunk.
_worker_load: Callable[[int], np.ndarray] | None = None
_worker_size = 0


def _start_worker(load: Callable[[int], np.ndarray], image_size: int) -> None:
    global _worker_load, _worker_size
    # Ctrl-C is the parent's to handle: it terminates the pool and removes the partial build. The pool ends its
    # workers with SIGTERM, so the parent's stop handler (inherited by fork) must not outlive the fork here.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # blocked while the pool forked (_worker_pool)
    _end_with_parent()
    _worker_load, _worker_size = load, image_size


def _end_with_parent() -> None:
    """Linux: this worker is killed when the thread that forked it ends, so no worker outlives a build that stopped
    (the pool may fork a replacement while it is being torn down, which would otherwise wait for tasks forever and
    hold the terminal's output open). Elsewhere the pool's own terminate() is all there is."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def _decode_chunk(bounds: tuple[int, int]) -> tuple[np.ndarray, list[dict[str, str]]]:
    """Images start..stop-1 as uint8 (k, 3, S, S), and the unreadable ones as {"file", "reason"}."""
    assert _worker_load is not None, "_start_worker must run first"
    expected = (_worker_size, _worker_size, 3)
    images, skipped = [], []
    for index in range(*bounds):
        try:
            pixels = _worker_load(index)  # (S, S, 3)
        except BadImageError as error:
            skipped.append({"file": error.file, "reason": error.reason})
            continue
        if pixels.shape != expected or pixels.dtype != np.uint8:
            raise ValueError(f"image {index} decoded to {pixels.dtype} {pixels.shape}, expected uint8 {expected}")
        images.append(pixels.transpose(2, 0, 1))
    stacked = np.stack(images) if images else np.empty((0, 3, _worker_size, _worker_size), np.uint8)
    return stacked, skipped


def _summary(manifest: dict[str, Any]) -> str:
    count, skipped = manifest["count"], len(manifest["skipped"])
    size_mb = math.prod(manifest["shape"]) / 1e6
    return f"{count:,} images, {size_mb:,.1f} MB" + (f", {skipped:,} unreadable files skipped" if skipped else "")
