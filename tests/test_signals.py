"""SIGTERM, Ctrl-C and submitit's SIGUSR2: during training they save last.ckpt once and stop every process of a run at
the same batch, also when only one process got the signal; before training (the cache build) they stop at once and
leave no partial files; the previous handlers are back after every run."""

import os
import signal
from pathlib import Path

import pytest
import pytorch_lightning as pl

from facegan.runtime.stop_signals import STOP_SIGNALS
from facegan.train import train
from helpers import TINY, compose_train, finish, rank_process, saved_step, start_training


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_saves_last_and_exits_128_plus_the_signal(tmp_path, signum):
    process = start_training(tmp_path / "run")
    process.send_signal(signum)
    output = finish(process)
    assert process.returncode == 128 + signum, output[-3000:]
    assert output.count(f"{signal.Signals(signum).name}: saved") == 1 and saved_step(tmp_path / "run") > 0


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


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds rank 1 through /proc (Linux)")
def test_sigterm_to_one_rank_stops_both_after_one_save_with_143(tmp_path):
    two_processes = ("trainer.accelerator=cpu", "trainer.devices=2", "callbacks.preemption.agree_every_n_batches=1")
    process = start_training(tmp_path / "run", *two_processes)
    os.kill(rank_process(process.pid, local_rank=1), signal.SIGTERM)  # rank 0 never sees it
    output = finish(process)
    assert process.returncode == 143, output[-3000:]
    assert output.count("SIGTERM: saved") == 1 and saved_step(tmp_path / "run") > 0


@pytest.mark.slow
@pytest.mark.parametrize("signum,status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stop_during_the_cache_build_exits_at_once_and_leaves_no_partial_cache_or_lock(tmp_path, signum, status):
    cache = tmp_path / "cache"
    building = ("data.num_images=50000", f"paths.cache_dir={cache}")  # minutes of drawing faces into the cache

    def partial_cache_exists() -> bool:
        return any(path.name.startswith(".") for path in cache.glob("*"))

    process = start_training(tmp_path / "run", *building, ready=partial_cache_exists)
    process.send_signal(signum)
    output = finish(process)
    assert process.returncode == status, output[-3000:]
    assert list(cache.iterdir()) == [], "a partial cache or its lock was left behind"
    assert not (tmp_path / "run" / "checkpoints").exists()  # nothing was trained: nothing to save


def test_signal_handlers_are_the_previous_ones_after_a_run_that_failed(tmp_path):
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    failing = f"+callbacks.fail._target_={__name__}.{FailAfterFirstBatch.__name__}"
    with pytest.raises(RuntimeError, match="a bug in a callback"):
        train(compose_train(*TINY, failing, output_dir=tmp_path))
    assert {signum: signal.getsignal(signum) for signum in STOP_SIGNALS} == previous


class FailAfterFirstBatch(pl.Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        raise RuntimeError("a bug in a callback")
