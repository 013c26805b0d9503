"""Ctrl-C and submitit's SIGUSR2 save last.ckpt once and stop every process of a run at the same batch."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from helpers import REPO_ROOT, TINY

LONG_RUN = (*TINY, "data.num_images=4096", "data.batch_size=32", "trainer.max_epochs=50")


def start_training(run_dir: Path, *overrides: str) -> subprocess.Popen:
    """train.py in its own process group (as a terminal runs it), its log and Lightning's in one pipe (little is
    written before the signal, so the pipe never fills), returned once it has trained a batch."""
    script = str(REPO_ROOT / "scripts" / "train.py")
    command = [sys.executable, script, *LONG_RUN, *overrides, f"hydra.run.dir={run_dir}"]
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    deadline = time.time() + 300
    while not (run_dir / "samples" / "real.png").exists():  # rank 0 writes it after the first batch
        assert process.poll() is None, process.stdout.read()[-3000:]
        assert time.time() < deadline, "training did not start"
        time.sleep(0.2)
    return process


def rank_process(parent: int, local_rank: int) -> int:
    """The pid of the training process Lightning started for `local_rank` (a child of rank 0)."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    for child in children:
        environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        if f"LOCAL_RANK={local_rank}".encode() in environ:
            return int(child)
    raise AssertionError(f"no process with LOCAL_RANK={local_rank} among {children}")


def finish(process: subprocess.Popen) -> str:
    """Everything the run printed, once it has ended; kills its group if it does not end."""
    try:
        output, _ = process.communicate(timeout=180)  # a process left in a collective would hang here
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    return output


def saved_step(run_dir: Path) -> int:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu")["global_step"]


@pytest.mark.slow
def test_ctrl_c_saves_last_and_exits_130(tmp_path):
    process = start_training(tmp_path / "run")
    process.send_signal(signal.SIGINT)
    output = finish(process)
    assert process.returncode == 130, output[-3000:]
    assert output.count("SIGINT: saved") == 1 and saved_step(tmp_path / "run") > 0


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds rank 1 through /proc (Linux)")
def test_sigusr2_on_one_rank_stops_both_after_one_save(tmp_path):
    two_processes = ("trainer.accelerator=cpu", "trainer.devices=2", "callbacks.preemption.agree_every_n_batches=1")
    process = start_training(tmp_path / "run", *two_processes)
    os.kill(rank_process(process.pid, local_rank=1), signal.SIGUSR2)  # rank 0 never sees the signal
    output = finish(process)
    assert process.returncode == 128 + signal.SIGUSR2, output[-3000:]
    assert output.count("SIGUSR2: saved") == 1 and saved_step(tmp_path / "run") > 0


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds rank 1 through /proc (Linux)")
def test_ctrl_c_on_two_processes_saves_once_and_stops_both(tmp_path):
    process = start_training(tmp_path / "run", "trainer.accelerator=cpu", "trainer.devices=2")
    os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: every process of the group
    output = finish(process)
    assert process.returncode == 130, output[-3000:]
    assert output.count("SIGINT: saved") == 1 and saved_step(tmp_path / "run") > 0
