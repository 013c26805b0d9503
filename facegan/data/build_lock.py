"""One builder per cache folder, across processes and across hosts that share the cache folder (NFS).

The lock is a file created with O_EXCL (atomic on local disks and on NFS v3 and later, where flock may not
reach other hosts), holding the owner's identity (runtime/liveness.py: host, pid, PID namespace, boot) and
start time. While it builds, the owner touches the file every `heartbeat_s`; a waiter takes the lock over only
when its owner is provably gone: a pid of the waiter's own pid table (same host, PID namespace and boot) that no
longer runs, or no heartbeat for `stale_after_s` (another host or container that died or lost the share, or a
record that is torn or not facegan's).
The takeover renames the file first, so of several waiters exactly one wins. A waiter gives up after
`timeout_s` with one line naming the owner, instead of hanging a sweep job forever.
"""

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from facegan.errors import FaceganError, is_number
from facegan.fileio import create_exclusively
from facegan.runtime.liveness import is_process_record, is_running, is_this_process, this_host, this_process

log = logging.getLogger(__name__)

POLL_S = 0.5


class CacheBusyError(FaceganError):
    """Another process has held the cache's build lock for longer than this one may wait."""


def is_owner_record(record: object) -> bool:
    """A record as `try_create` writes it: a process (a str host, an int pid > 0) and the number `started`."""
    return is_process_record(record) and is_number(record.get("started"))


def owner_of(path: Path) -> dict | None:
    """The lock's owner as written by its holder; None when the file is gone, not yet written, torn, or holds
    anything else than an owner record (another program's file): such a lock is judged by its heartbeat alone."""
    try:
        record = json.loads(path.read_bytes())
    except (FileNotFoundError, ValueError):  # ValueError: not JSON, or not UTF-8
        return None
    return record if is_owner_record(record) else None


def is_stale(path: Path, owner: dict | None, stale_after_s: float) -> bool:
    try:
        silent_s = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return False  # released meanwhile: the next attempt takes it
    running = is_running(owner)
    if running is not None:  # a process of this pid table: its pid says
        return not running
    return silent_s > stale_after_s  # another host or container, or no record that names an owner


def try_create(path: Path) -> bool:
    return create_exclusively(path, {**this_process(), "started": time.time()})


def take_over(path: Path, stale_owner: dict | None) -> None:
    """Remove a stale lock: renamed first, so only one of the waiters that found it stale removes it; a lock
    that another waiter took meanwhile (not the owner judged stale) is put back."""
    tombstone = path.with_name(f"{path.name}.stale-{this_host()}-{os.getpid()}")
    try:
        os.rename(path, tombstone)
    except FileNotFoundError:
        return
    if owner_of(tombstone) != stale_owner:
        with contextlib.suppress(FileExistsError):
            os.link(tombstone, path)
    tombstone.unlink()


@contextlib.contextmanager
def build_lock(path: Path, timeout_s: float, stale_after_s: float = 120.0, heartbeat_s: float = 10.0) -> Iterator[None]:
    """Hold the build lock at `path` for the block; wait (at most `timeout_s`) while a live owner holds it."""
    started = time.monotonic()
    announced = False
    while not try_create(path):
        owner = owner_of(path)
        if is_stale(path, owner, stale_after_s):
            log.warning("Taking over the cache build lock %s from %s, which is gone", path, owner or "an unnamed owner")
            take_over(path, owner)
            continue
        waited = time.monotonic() - started
        if waited > timeout_s:
            who = f"{owner['host']} pid {owner['pid']}" if owner else "a process that has not written a readable name"
            raise CacheBusyError(
                f"{who} has been building the cache behind {path} for longer than this run waits "
                f"(data.cache_wait_s={timeout_s:g}): let it finish and start again, raise data.cache_wait_s, or "
                f"delete {path} if that process is gone"
            )
        if not announced:
            log.info("Waiting for %s to finish building the cache (lock %s)", owner, path)
            announced = True
        time.sleep(POLL_S)
    stop = threading.Event()
    heartbeat = threading.Thread(target=beat, args=(path, stop, heartbeat_s), daemon=True)
    heartbeat.start()
    try:
        yield
    finally:
        stop.set()
        heartbeat.join()
        owner = owner_of(path)
        if is_this_process(owner):
            path.unlink(missing_ok=True)


def beat(path: Path, stop: threading.Event, every_s: float) -> None:
    """Touch the lock while the build runs, so that waiters on other hosts see its owner is alive."""
    while not stop.wait(every_s):
        with contextlib.suppress(FileNotFoundError):
            os.utime(path)
