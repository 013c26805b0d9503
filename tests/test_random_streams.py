"""Each process's own random stream: distinct seeds per rank, different z on two CPU processes from equal weights,
and every rank's stream saved and restored, so a two-process run resumed in place repeats the uninterrupted one."""

import os
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from facegan.runtime.random_streams import capture_rng_state, process_seed, restore_own_rank
from helpers import TINY, run_cli

# 96 images: each of 2 processes trains on 3 batches of 16 per epoch
TWO_PROCESSES = (*TINY, "data.num_images=96", "trainer.accelerator=cpu", "trainer.devices=2")


class RecordStart(pl.Callback):
    """Saves <run>/start-rank<r>.pt on every rank: G's weights when training starts and the first z it trains on."""

    def on_train_start(self, trainer, pl_module):
        record = {"weights": {name: value.clone() for name, value in pl_module.generator.state_dict().items()}}

        def keep_first_z(module, args):
            if module.training and "z" not in record:
                record["z"] = args[0].detach().clone()
                torch.save(record, Path(trainer.default_root_dir) / f"start-rank{trainer.global_rank}.pt")

        pl_module.generator.register_forward_pre_hook(keep_first_z)


def train_two_processes(run_dir: Path, *overrides: str) -> None:
    record = f"+callbacks.record_start._target_={__name__}.{RecordStart.__name__}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}  # the processes import this module's callback
    run_cli("train.py", *TWO_PROCESSES, record, *overrides, f"hydra.run.dir={run_dir}", env=env)


def test_every_rank_of_every_run_has_a_seed_of_its_own():
    seeds = {process_seed(seed, rank, 4) for seed in range(5) for rank in range(4)}
    assert len(seeds) == 20
    assert process_seed(42, 0, 1) == 42  # one process draws from the configured seed itself


def test_a_rank_the_checkpoint_has_no_stream_for_starts_a_fresh_one_of_its_own():
    torch.manual_seed(0)
    saved = [capture_rng_state()]
    restore_own_rank(saved, seed=0, rank=1, world_size=2)
    fresh = torch.randn(4)
    restore_own_rank(saved, seed=0, rank=0, world_size=2)
    assert not torch.equal(torch.randn(4), fresh)


@pytest.mark.slow
def test_two_processes_start_from_equal_weights_and_draw_different_noise(tmp_path):
    train_two_processes(tmp_path / "run", "trainer.max_epochs=1")
    first, second = (torch.load(tmp_path / "run" / f"start-rank{rank}.pt") for rank in (0, 1))
    for name, weights in first["weights"].items():
        assert torch.equal(weights, second["weights"][name]), name
    assert first["z"].shape == second["z"].shape == (16, 100)
    assert not torch.allclose(first["z"], second["z"])


@pytest.mark.slow
def test_two_processes_resumed_in_place_with_ckpt_path_last_repeat_the_uninterrupted_run(tmp_path):
    train_two_processes(tmp_path / "full", "trainer.max_epochs=2")
    interrupted = tmp_path / "interrupted"
    train_two_processes(interrupted, "trainer.max_epochs=1")
    train_two_processes(interrupted, "trainer.max_epochs=2", "ckpt_path=last")  # this run's own last.ckpt

    expected, actual = (torch.load(run / "checkpoints" / "last.ckpt") for run in (tmp_path / "full", interrupted))
    assert actual["global_step"] == expected["global_step"] == 2 * 3 * 2
    assert len(actual["rng_states"]) == 2  # one stream per process
    for name, weights in expected["state_dict"].items():
        assert torch.equal(actual["state_dict"][name], weights), name  # identical bits: rank 1 went on exactly too
