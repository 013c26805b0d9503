"""SIGTERM, Ctrl-C and submitit's SIGUSR2 at every stage of a training run.

`stop_on_signals()` wraps the whole of train(): from its first line until training starts (checks, the cache
build, setting up the processes) and after training ends, a stop signal raises StoppedBySignal in the main
thread at once, so `finally` blocks remove partial files and locks, and the run exits 128 + the signal's
number (143 for SIGTERM, 130 for Ctrl-C). While training runs, PreemptionCheckpoint
(facegan/checkpoints/preemption.py) installs its own handlers over these: it finishes the batch in flight,
agrees with the other processes, saves last.ckpt once and raises StoppedBySignal on every process together.
On every way out, the handlers found before are put back.
"""

import contextlib
import signal
import threading
from collections.abc import Iterator

# The signals that stop a run; when several arrive, the later in this tuple wins (a job that must be requeued
# is requeued, a scheduler's SIGTERM beats a Ctrl-C).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR2)


class StoppedBySignal(BaseException):
    """Raised on every process of a run that a stop signal ended; train() turns it into exit 128 + signum.
    A BaseException, as KeyboardInterrupt is: no library's `except Exception` may swallow a stop."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


def strongest(first: int | None, second: int) -> int:
    """Of two stop signals, the one that decides how the run ends."""
    if first is None or STOP_SIGNALS.index(second) > STOP_SIGNALS.index(first):
        return second
    return first


_requested: dict[str, int | None] = {"signum": None}  # a stop signal received outside training


def _raise_stop(signum, frame) -> None:
    _requested["signum"] = signum
    raise StoppedBySignal(signum)


def raise_if_stop_requested() -> None:
    """At the safe points of a long step before training (each chunk of the cache build): raise the stop a signal
    asked for when its first raise was lost. Python discards an exception raised inside an at-fork callback, and
    a signal that lands while a worker pool forks is handled in one."""
    if _requested["signum"] is not None:
        raise StoppedBySignal(_requested["signum"])


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Outside training, a stop signal raises StoppedBySignal at once; the previous handlers come back on exit."""
    if threading.current_thread() is not threading.main_thread():  # handlers belong to the main thread
        yield
        return
    previous = {
        signum: signal.signal(signum, _raise_stop)
        for signum in STOP_SIGNALS
        if not (signum == signal.SIGUSR2 and callable(signal.getsignal(signum)))  # submitit's requeue stays
    }
    _requested["signum"] = None
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _requested["signum"] = None
