"""Two CPU processes: when one is killed or hangs, the other stops within processes.peer_timeout_s, with one line
naming it, instead of waiting in a collective (or leaving with a transport traceback)."""

import os
import signal
import time
from pathlib import Path

import pytest

from helpers import finish, rank_process, start_training

TWO_PROCESSES = ("trainer.accelerator=cpu", "trainer.devices=2", "processes.peer_timeout_s=5")
# The watch beats every second: a verdict comes at most a few beats after the timeout.
BOUND_S = 5 + 15

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds rank 1 through /proc (Linux)"),
]


def ended(pid: int) -> bool:
    """Whether process `pid` is gone (or a zombie nobody reaped yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "hung"])
def test_rank_0_stops_naming_rank_1_when_it_dies_or_hangs(tmp_path, signum):
    process = start_training(tmp_path / "run", *TWO_PROCESSES)
    victim = rank_process(process.pid, local_rank=1)
    os.kill(victim, signum)
    try:
        process.wait(timeout=BOUND_S)
    finally:
        if not ended(victim):
            os.kill(victim, signal.SIGKILL)  # a stopped process is the test's to end (it holds the output pipe)
    output = finish(process)
    assert process.returncode == 1, output[-3000:]
    assert "facegan: error: the training process of rank 1 " in output


def test_rank_1_stops_when_rank_0_is_killed(tmp_path):
    process = start_training(tmp_path / "run", *TWO_PROCESSES)
    survivor = rank_process(process.pid, local_rank=1)
    os.kill(process.pid, signal.SIGKILL)
    started = time.monotonic()
    while not ended(survivor):
        assert time.monotonic() - started < BOUND_S, "rank 1 outlived rank 0"
        time.sleep(0.2)
    output = finish(process)
    assert "facegan: error: the training process of rank 0 " in output
