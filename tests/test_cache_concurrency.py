"""Two processes, or two hosts sharing a cache folder, build one cache once and never delete each other's work."""

import json
import multiprocessing
import os
import re
import time

import numpy as np
import pytest

from facegan.data import build_lock
from facegan.data.build_lock import CacheBusyError
from facegan.data.cache import CacheSpec, open_prepared, prepare
from facegan.runtime.liveness import boot_id, pid_namespace

SIZE = 8
COUNT = 20
FORK = multiprocessing.get_context("fork")  # the events and the loader reach the children as they are


class GatedLoader:
    """Decodes constant images; the first image signals `building` and waits for `release`."""

    def __init__(self, building=None, release=None):
        self.building, self.release = building, release

    def __call__(self, index: int) -> np.ndarray:
        if index == 0 and self.building is not None:
            self.building.set()
            assert self.release.wait(120), "the test never released the build"
        return np.full((SIZE, SIZE, 3), index, np.uint8)


def spec(load=None) -> CacheSpec:
    load = load or GatedLoader()
    return CacheSpec(name="shared", image_size=SIZE, count=COUNT, identity={"source": "test"}, load=load)


def build_in_child(cache_dir, loader, results, waiting=None) -> None:
    if waiting is not None:  # tell the test, from inside the lock's wait loop, that this process is waiting
        real_sleep = build_lock.time.sleep

        def sleep(seconds):
            waiting.set()
            real_sleep(seconds)

        build_lock.time.sleep = sleep
    prepared = prepare(spec(loader), cache_dir, workers=1, wait_s=120)
    results.put((os.getpid(), prepared.manifest["built"], prepared.manifest["build_seconds"], len(prepared)))


def lock_path(cache_dir):
    folder = spec().folder(cache_dir)
    return folder, folder.with_name(f".{folder.name}.lock")


def test_two_processes_build_once_the_second_waits_and_nothing_is_deleted(tmp_path):
    cache_dir = tmp_path / "cache"
    building, release, waiting = FORK.Event(), FORK.Event(), FORK.Event()
    results = FORK.Queue()
    builder = FORK.Process(target=build_in_child, args=(cache_dir, GatedLoader(building, release), results))
    builder.start()
    assert building.wait(120), "the first process never started building"
    waiter = FORK.Process(target=build_in_child, args=(cache_dir, GatedLoader(), results, waiting))
    waiter.start()
    assert waiting.wait(120), "the second process did not wait for the lock"
    folder, _ = lock_path(cache_dir)
    partials = list(cache_dir.glob(f".{folder.name}.partial-*"))
    assert len(partials) == 1 and not folder.exists()  # only the builder's partial, still being written
    release.set()
    first, second = results.get(timeout=120), results.get(timeout=120)
    builder.join(60)
    waiter.join(60)
    assert builder.exitcode == 0 and waiter.exitcode == 0
    assert first[1:] == second[1:]  # the same build, read by both: the waiter did not build its own
    assert first[3] == COUNT
    assert sorted(path.name for path in cache_dir.iterdir()) == [folder.name]  # lock and partial are gone


def hold_lock_as(path, host: str, pid: int, silent_s: float = 0, **identity) -> None:
    """A lock whose owner is `host` pid `pid` (in the PID namespace and boot of `identity`, when given), with its
    last heartbeat `silent_s` ago."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host": host, "pid": pid, **identity, "started": time.time() - silent_s}))
    os.utime(path, (time.time() - silent_s, time.time() - silent_s))


# Where pids of this process's table live: its host is not enough (other containers may share the name). Without
# PID namespaces (macOS) there are none to record.
THIS_PID_TABLE = {"pid_ns": pid_namespace(), "boot": boot_id()}


def test_a_live_build_on_another_host_is_waited_for_then_one_line(tmp_path):
    cache_dir = tmp_path / "cache"
    folder, lock = lock_path(cache_dir)
    hold_lock_as(lock, "other-host", 4242)  # fresh heartbeat: alive
    their_partial = folder.with_name(f".{folder.name}.partial-other-host-4242")
    their_partial.mkdir()
    with pytest.raises(CacheBusyError, match=r"^other-host pid 4242 has been building .*data\.cache_wait_s=0\.5"):
        prepare(spec(), cache_dir, workers=1, wait_s=0.5)
    assert their_partial.is_dir() and lock.is_file()  # their work and their lock untouched


@pytest.mark.parametrize(
    "host,pid,silent_s,identity",
    [("other-host", 4242, 3600, {}), (build_lock.this_host(), 2**22 + 12345, 0, THIS_PID_TABLE)],
    ids=["another host without heartbeat", "this host, pid gone"],
)
def test_a_dead_builder_is_taken_over_and_its_partial_replaced(tmp_path, host, pid, silent_s, identity):
    cache_dir = tmp_path / "cache"
    folder, lock = lock_path(cache_dir)
    hold_lock_as(lock, host, pid, silent_s, **identity)
    dead_partial = folder.with_name(f".{folder.name}.partial-{host}-{pid}")
    dead_partial.mkdir()
    prepared = prepare(spec(), cache_dir, workers=1, wait_s=60)
    assert len(prepared) == COUNT and open_prepared(spec(), cache_dir) is not None
    assert sorted(path.name for path in cache_dir.iterdir()) == [folder.name]


UNNAMED_OWNER = r"^a process that has not written a readable name has been building"


@pytest.mark.parametrize(
    "record",
    [b"[4242]", b'{"host": "HOST"}', b'{"host": "HOST", "pid": "1"}', b'{"host": "HOST", "pid": 4242}',
     b'{"host": "HOST", "pi', b"\xff\xfe"],
    ids=["a list", "no pid", "pid a string", "no start time", "torn", "not UTF-8"],
)  # fmt: skip
def test_a_lock_without_an_owner_record_is_judged_by_its_heartbeat_alone(tmp_path, record):
    cache_dir = tmp_path / "cache"
    folder, lock = lock_path(cache_dir)
    lock.parent.mkdir(parents=True)
    lock.write_bytes(record.replace(b"HOST", build_lock.this_host().encode()))  # this host: the pid would say
    with pytest.raises(CacheBusyError, match=UNNAMED_OWNER):  # a fresh heartbeat: whoever it is builds
        prepare(spec(), cache_dir, workers=1, wait_s=0.5)
    assert lock.is_file()
    os.utime(lock, (time.time() - 3600, time.time() - 3600))  # silent for an hour: gone
    assert len(prepare(spec(), cache_dir, workers=1, wait_s=60)) == COUNT


@pytest.mark.parametrize(
    "identity",
    [
        pytest.param({**THIS_PID_TABLE, "pid_ns": (pid_namespace() or 0) + 1}, id="another PID namespace"),
        pytest.param({**THIS_PID_TABLE, "boot": "an-earlier-boot"}, id="another boot"),
        pytest.param({}, id="no namespace recorded", marks=pytest.mark.skipif(pid_namespace() is None, reason="none")),
    ],
)
def test_a_builder_of_this_host_name_outside_this_pid_table_is_judged_by_its_heartbeat(tmp_path, identity):
    cache_dir = tmp_path / "cache"
    folder, lock = lock_path(cache_dir)
    host, pid = build_lock.this_host(), 2**22 + 12345  # a pid that does not run here: it may in its own namespace
    hold_lock_as(lock, host, pid, **identity)
    their_partial = folder.with_name(f".{folder.name}.partial-{host}-{pid}")
    their_partial.mkdir()
    with pytest.raises(CacheBusyError, match=rf"^{re.escape(host)} pid {pid} has been building"):
        prepare(spec(), cache_dir, workers=1, wait_s=0.5)
    assert their_partial.is_dir() and lock.is_file()  # alive while it beats: nothing of theirs touched
    hold_lock_as(lock, host, pid, silent_s=3600, **identity)
    assert len(prepare(spec(), cache_dir, workers=1, wait_s=60)) == COUNT
