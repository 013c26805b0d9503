"""Every process of a data-parallel run watches the others, so one that dies stops the rest in bounded time.

A collective waits for every process: when one is killed (`kill -9`, the out-of-memory killer, a lost node)
the others would wait in NCCL for its default timeout of 30 minutes, or leave with a transport traceback
that names no process. Here each process runs a thread that beats a counter of its own in a small key-value
store (a TCPStore client of the run's rendezvous, MASTER_ADDR:MASTER_PORT) every `interval_s` and reads
the others' counters. A peer is taken as dead when

  - it runs on this machine and its process has ended (found within a beat, before any launcher's own
    clean-up kills the run without a word),
  - its counter has not moved for `timeout_s` (killed, hung, or its node lost),
  - it left with an error (it says so in the store before its traceback),
  - it left in order (end of training, a stop by signal) and this process has not followed within `timeout_s`,
  - the store itself is unreachable (its host, rank 0 or torchrun's agent, is gone).

Then the watching process prints one line naming the dead rank and exits with status 1 at once: its main
thread may be blocked inside a collective that no Python code can interrupt. The checkpoints on disk are
complete (written atomically), so the run resumes from checkpoints/last.ckpt.
"""

import contextlib
import logging
import os
import sys
import threading
import time
from datetime import timedelta

import torch.distributed as dist

from facegan.runtime.distributed import launcher_restart_count
from facegan.runtime.liveness import pid_runs, this_host

log = logging.getLogger(__name__)

# What a process says in the store when it leaves: training finished, stopped by a signal, or an error.
FINISHED, STOPPED, FAILED = 1, 2, 3
LEAVE_REASONS = {FINISHED: "finished training", STOPPED: "was stopped by a signal", FAILED: "stopped with an error"}
EXIT_PEER_DIED = 1


def open_store(timeout_s: float) -> dist.Store:
    """A client connection of this thread's own to the run's rendezvous store (the one Lightning or torchrun
    started at MASTER_ADDR:MASTER_PORT); keys live under a prefix per launcher attempt, so a torchrun restart
    never reads the counters of the attempt before it."""
    store = dist.TCPStore(
        os.environ["MASTER_ADDR"],
        int(os.environ["MASTER_PORT"]),
        is_master=False,
        timeout=timedelta(seconds=timeout_s),
        wait_for_workers=False,
    )
    return dist.PrefixStore(f"facegan/peer_watch/{launcher_restart_count()}/", store)


class PeerWatch:
    """The watch of process `rank` of `world_size`; `start()` once the process group exists."""

    running = False  # whether a watch runs in this process (a launcher's own observer then stands aside)

    def __init__(self, rank: int, world_size: int, timeout_s: float = 60.0, interval_s: float = 1.0):
        self.rank = rank
        self.world_size = world_size
        self.timeout_s = timeout_s
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._left = False  # whether this process has said it leaves
        self._thread: threading.Thread | None = None
        self._store: dist.Store | None = None

    def start(self) -> None:
        self._store = open_store(max(self.timeout_s, 10.0))
        self._store.set(f"process/{self.rank}", f"{this_host()} {os.getpid()}")
        self._thread = threading.Thread(target=self._watch, name="facegan-peer-watch", daemon=True)
        self._thread.start()
        PeerWatch.running = True

    def leave(self, reason: int) -> None:
        """Tell the peers why this process leaves (the first reason given counts)."""
        if self._store is None or self._left:
            return
        self._left = True
        # the store's host may have left first: the peers then learn it from the store's absence
        with contextlib.suppress(RuntimeError, dist.DistError):
            self._store.add(f"left/{self.rank}", reason)

    def stop(self) -> None:
        self._stop.set()
        PeerWatch.running = False
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.interval_s * 5)
        self._thread = None

    def await_verdict(self) -> None:
        """After a collective failed: give the watch the time to name the dead peer (it exits the process)."""
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s + 5 * self.interval_s)

    def _watch(self) -> None:
        peers = [rank for rank in range(self.world_size) if rank != self.rank]
        beats = dict.fromkeys(peers, -1)
        moved_at = dict.fromkeys(peers, time.monotonic())
        left_at: dict[int, float] = {}
        local_pids: dict[int, int | None] = {}  # peer -> its pid when it runs on this machine, else None
        while not self._stop.wait(self.interval_s):
            now = time.monotonic()
            try:
                self._store.add(f"beat/{self.rank}", 1)
                for peer in peers:
                    reason = self._store.add(f"left/{peer}", 0)  # add(0) reads without blocking on a missing key
                    beat = self._store.add(f"beat/{peer}", 0)
                    if reason == FAILED:
                        self._declare(peer, LEAVE_REASONS[FAILED])
                    if reason:
                        left_at.setdefault(peer, now)
                        if not self._left and now - left_at[peer] > self.timeout_s:
                            self._declare(peer, f"{LEAVE_REASONS[reason]} {self.timeout_s:g} s ago")
                        continue
                    if peer not in local_pids and self._store.check([f"process/{peer}"]):
                        local_pids[peer] = local_pid(self._store.get(f"process/{peer}").decode())
                    if local_pids.get(peer) is not None and not pid_runs(local_pids[peer]):
                        self._declare(peer, "ended (killed or crashed)")
                    if beat != beats[peer]:
                        beats[peer], moved_at[peer] = beat, now
                    elif now - moved_at[peer] > self.timeout_s:
                        self._declare(peer, f"gave no sign of life for {self.timeout_s:g} s (killed, hung or lost)")
            except (RuntimeError, dist.DistError) as error:
                if self._stop.is_set() or self._left:
                    return  # this process is on its way out anyway
                self._declare(0, f"is unreachable: the run's rendezvous store is gone ({type(error).__name__})")

    def _declare(self, peer: int, why: str) -> None:
        if self._stop.is_set():
            return
        line = (
            f"facegan: error: the training process of rank {peer} {why}; rank {self.rank} stops too "
            "(resume with ckpt_path=<run>/checkpoints/last.ckpt)"
        )
        record = log.makeRecord(log.name, logging.ERROR, __file__, 0, line, None, None)
        for handler in logging.getLogger().handlers:  # the run's log file gets the line too, the terminal once
            if isinstance(handler, logging.FileHandler):
                handler.handle(record)
                handler.flush()
        print(line, file=sys.stderr, flush=True)
        os._exit(EXIT_PEER_DIED)


def local_pid(record: str) -> int | None:
    """The pid in a peer's "<host> <pid>" record when the peer runs on this machine."""
    host, pid = record.rsplit(" ", 1)
    return int(pid) if host == this_host() else None
