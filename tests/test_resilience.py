"""Never lose a run: exact resume, preemption, atomic checkpoints, divergence, bad configuration."""

import errno
import logging
import os
import shutil
import time
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from facegan.assembly import build_module
from facegan.checkpoints import disk
from facegan.checkpoints.disk import DiskFullError, checkpoint_bytes
from facegan.checkpoints.io import AtomicCheckpointIO
from facegan.checkpoints.resume import resolve_ckpt_path
from facegan.errors import ConfigError, exit_on_user_error
from facegan.gan.divergence import TrainingDiverged
from facegan.gan.losses import BCELoss
from facegan.gan.schedule import batches_from_steps
from facegan.train import train
from helpers import TINY, compose_train, run_cli

SMALL = (*TINY, "data.num_images=128", "data.batch_size=32")


def load(path):
    return torch.load(path, map_location="cpu")  # weights_only=True, as Lightning loads on resume


@pytest.mark.slow
def test_disk_holds_last_and_the_newest_epochs_and_last_is_never_versioned(tmp_path):
    # every_n_batches below the epoch's batches: the mid-epoch last.ckpt and the epoch's own share one file
    train(compose_train(*TINY, "trainer.max_epochs=4", "checkpoint.keep_epochs=2", "checkpoint.every_n_batches=1",
                        output_dir=tmp_path))  # fmt: skip
    names = sorted(path.name for path in (tmp_path / "checkpoints").iterdir())
    assert names == ["epoch_002.ckpt", "epoch_003.ckpt", "last.ckpt"]
    last = load(tmp_path / "checkpoints" / "last.ckpt")
    assert batches_from_steps(last["global_step"], 1) == 4 * 4  # 4 epochs of 64 images in batches of 16


@pytest.mark.slow
def test_a_time_boxed_run_stops_on_its_clock_and_saves_last(tmp_path):
    train(compose_train(*TINY, "trainer.max_epochs=-1", "trainer.max_time=00:00:00:04", output_dir=tmp_path))
    last = load(tmp_path / "checkpoints" / "last.ckpt")
    assert batches_from_steps(last["global_step"], 1) > 0
    assert len(list((tmp_path / "checkpoints").glob("epoch_*.ckpt"))) <= 3  # the default checkpoint.keep_epochs


@pytest.mark.slow
@pytest.mark.parametrize("model", ["dcgan32", "resnet32"])
def test_resume_after_epoch_one_matches_the_uninterrupted_run_bit_for_bit(tmp_path, model):
    """Networks, the EMA generator's average and statistics, the optimizers: all as if never stopped."""
    full = tmp_path / "full"
    train(compose_train(*SMALL, f"model={model}", "trainer.max_epochs=2", output_dir=full))
    resumed = tmp_path / "resumed"
    ckpt = f"ckpt_path={full}/checkpoints/epoch_000.ckpt"
    train(compose_train(*SMALL, f"model={model}", "trainer.max_epochs=2", ckpt, output_dir=resumed))
    expected, actual = load(full / "checkpoints" / "last.ckpt"), load(resumed / "checkpoints" / "last.ckpt")
    assert actual["global_step"] == expected["global_step"]
    assert any(key.startswith("generator_ema.") for key in expected["state_dict"])
    for key, value in expected["state_dict"].items():
        assert torch.equal(actual["state_dict"][key], value), key  # tolerance 0: identical bits on CPU
    for g_state, g_expected in zip(actual["optimizer_states"], expected["optimizer_states"]):
        for index, state in g_expected["state"].items():
            assert torch.equal(g_state["state"][index]["exp_avg"], state["exp_avg"])


@pytest.mark.slow
def test_every_n_batches_bounds_what_kill_9_loses(tmp_path):
    train(
        compose_train(
            *SMALL,
            "trainer.max_epochs=1",
            "checkpoint.every_n_batches=2",
            "~callbacks.model_checkpoint",
            output_dir=tmp_path,
        )
    )
    assert load(tmp_path / "checkpoints" / "last.ckpt")["global_step"] == 2 * 4  # batch 4 of 4


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"step": 1}, target)

    def crash_mid_write(obj, handle, *args, **kwargs):
        handle.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash_mid_write)
    with pytest.raises(OSError):
        io.save_checkpoint({"step": 2}, target)
    monkeypatch.undo()
    assert torch.load(target) == {"step": 1}  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no partial file left behind


def disk_full_mid_write(obj, handle, *args, **kwargs):
    handle.write(b"half a checkpoint")
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_mid_write_is_one_line_and_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    target = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"step": 1}, target)
    monkeypatch.setattr(torch, "save", disk_full_mid_write)
    with pytest.raises(DiskFullError, match=r"no space left .* while writing last\.ckpt .*ckpt_path=last"):
        AtomicCheckpointIO().save_checkpoint({"step": 2}, target)
    monkeypatch.undo()
    assert torch.load(target) == {"step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_any_write_that_finds_the_disk_full_is_one_line(capsys):
    with pytest.raises(SystemExit) as stop, exit_on_user_error():
        raise OSError(errno.ENOSPC, "No space left on device", "/runs/a/samples/epoch_003.png")
    assert stop.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("facegan: error: no space left on the device writing /runs/a/samples/epoch_003.png")


@pytest.mark.slow
def test_a_disk_that_fills_mid_run_stops_it_and_last_resumes(tmp_path, monkeypatch):
    saves, real_save = {"count": 0}, torch.save

    def fill_the_disk_after_epoch_one(obj, handle, *args, **kwargs):
        saves["count"] += 1
        if saves["count"] > 1:  # epoch 0's last.ckpt is written, epoch 1's finds the disk full
            return disk_full_mid_write(obj, handle)
        return real_save(obj, handle, *args, **kwargs)

    monkeypatch.setattr(torch, "save", fill_the_disk_after_epoch_one)
    cfg = compose_train(*SMALL, "trainer.max_epochs=3", "checkpoint.keep_epochs=0", output_dir=tmp_path / "run")
    with pytest.raises(DiskFullError, match="while writing last.ckpt"):
        train(cfg)
    monkeypatch.undo()
    assert load(tmp_path / "run" / "checkpoints" / "last.ckpt")["epoch"] == 0
    train(compose_train(*SMALL, "trainer.max_epochs=2", f"ckpt_path={tmp_path}/run/checkpoints/last.ckpt",
                        output_dir=tmp_path / "resumed"))  # fmt: skip
    assert load(tmp_path / "resumed" / "checkpoints" / "last.ckpt")["epoch"] == 1


@pytest.mark.slow
def test_the_checkpoint_estimate_matches_the_file_and_a_disk_without_room_is_refused(tmp_path, monkeypatch):
    overrides = (*SMALL, "model.ngf=16", "model.ndf=16", "trainer.max_epochs=1")
    train(compose_train(*overrides, output_dir=tmp_path / "run"))
    written = (tmp_path / "run" / "checkpoints" / "last.ckpt").stat().st_size
    estimate = checkpoint_bytes(build_module(compose_train(*overrides)))
    assert 0.9 < written / estimate < 1.1

    monkeypatch.setattr(disk.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9, estimate // 2))
    with pytest.raises(DiskFullError, match=r"paths.checkpoint_dir=.* MB free, less than the .* MB one checkpoint"):
        train(compose_train(*overrides, output_dir=tmp_path / "refused"))
    assert not (tmp_path / "refused" / "checkpoints").exists()


def nan_generator_loss_from_call(monkeypatch, first_bad_call: int) -> None:
    calls = {"count": 0}
    original = BCELoss.generator_loss

    def generator_loss(self, fake_logits):
        calls["count"] += 1
        loss = original(self, fake_logits)
        return loss * float("nan") if calls["count"] == first_bad_call else loss

    monkeypatch.setattr(BCELoss, "generator_loss", generator_loss)


@pytest.mark.slow
def test_nan_loss_stops_naming_batch_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    nan_generator_loss_from_call(monkeypatch, first_bad_call=7)  # batch 6 (0-based) of epoch 1
    cfg = compose_train(*SMALL, "trainer.max_epochs=3", "divergence.check_every_n_batches=1", output_dir=tmp_path)
    with pytest.raises(TrainingDiverged, match=r"loss/g became NaN/Inf at batch 6 \(epoch 1\)"):
        train(cfg)
    last = load(tmp_path / "checkpoints" / "last.ckpt")
    assert last["epoch"] == 0  # written after epoch 0, never overwritten by the diverged state
    assert all(torch.isfinite(value).all() for value in last["state_dict"].values() if value.is_floating_point())


@pytest.mark.slow
def test_nan_loss_found_by_the_checkpoint_check_between_reads(tmp_path, monkeypatch):
    nan_generator_loss_from_call(monkeypatch, first_bad_call=6)  # batch 5: within epoch 1, before its checkpoint
    cfg = compose_train(*SMALL, "trainer.max_epochs=3", "divergence.check_every_n_batches=1000", output_dir=tmp_path)
    with pytest.raises(TrainingDiverged, match="at batch 5"):
        train(cfg)
    assert load(tmp_path / "checkpoints" / "last.ckpt")["epoch"] == 0


@pytest.mark.slow
def test_skip_policy_drops_the_bad_update_and_trains_on(tmp_path, monkeypatch):
    nan_generator_loss_from_call(monkeypatch, first_bad_call=3)
    train(compose_train(*SMALL, "trainer.max_epochs=2", "divergence.on_nonfinite=skip", output_dir=tmp_path))
    last = load(tmp_path / "checkpoints" / "last.ckpt")
    assert last["global_step"] == 2 * 8  # every batch still counts both updates
    assert all(torch.isfinite(value).all() for value in last["state_dict"].values() if value.is_floating_point())


def test_ckpt_path_last_finds_the_newest_run(tmp_path):
    older = tmp_path / "train" / "runs" / "a" / "checkpoints" / "last.ckpt"
    newer = tmp_path / "train" / "runs" / "b" / "checkpoints" / "last.ckpt"
    for path in (older, newer):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"x")
        time.sleep(0.01)
    cfg = compose_train("data=synthetic", "ckpt_path=last", f"paths.log_dir={tmp_path}", output_dir=tmp_path / "new")
    assert resolve_ckpt_path(cfg) == str(newer)
    with pytest.raises(ConfigError, match="no checkpoints/last.ckpt"):
        resolve_ckpt_path(compose_train("data=synthetic", "ckpt_path=last", f"paths.log_dir={tmp_path / 'empty'}"))


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides,expected",
    [
        (
            ("model=dcgan64", "model.ngf=8", "model.ndf=8"),
            "holds a different model: model.image_size=32 (this run: 64); "
            "resume with the same model settings: model=dcgan32",
        ),
        (
            ("model=dcgan32", "model.spectral_norm=true"),
            "holds a different model: model.spectral_norm=false (this run: true); "
            "resume with the same model settings: model.spectral_norm=false",
        ),
        (("ckpt_path=/nonexistent.ckpt",), "ckpt_path=/nonexistent.ckpt is not a file"),
    ],
)
def test_a_checkpoint_that_cannot_resume_is_refused_before_training(tmp_path, overrides, expected):
    first = tmp_path / "first"
    if "holds a different model" in expected:  # resume a checkpoint of SMALL's model with another one
        train(compose_train(*SMALL, "trainer.max_epochs=1", output_dir=first))
        overrides = (*overrides, f"ckpt_path={first}/checkpoints/last.ckpt")
    with pytest.raises(ConfigError) as refused:
        train(compose_train(*SMALL, *overrides, output_dir=tmp_path / "run"))
    assert expected in str(refused.value)
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.slow
def test_unknown_loss_is_refused_before_training(tmp_path):
    result = run_cli("train.py", "loss=hinge2", f"hydra.run.dir={tmp_path / 'run'}", check=False)
    assert result.returncode != 0
    assert "Could not find 'loss/hinge2'" in result.stderr
    assert not (tmp_path / "run").exists()


class NanGeneratorLossOnRankOne(pl.Callback):
    """Rank 1's G loss is NaN at its third batch, rank 0's never: only rank 1 sees the bad update."""

    def on_train_start(self, trainer, pl_module):
        if trainer.global_rank != 1:
            return
        generator_loss, calls = pl_module.loss.generator_loss, {"count": 0}

        def nan_once(logits):
            calls["count"] += 1
            loss = generator_loss(logits)
            return loss * float("nan") if calls["count"] == 3 else loss

        pl_module.loss.generator_loss = nan_once


@pytest.mark.slow
def test_skip_policy_over_two_processes_drops_the_update_on_both_and_trains_on(tmp_path):
    nan_on_rank_one = f"+callbacks.nan._target_={__name__}.{NanGeneratorLossOnRankOne.__name__}"
    two_processes = ("trainer.accelerator=cpu", "trainer.devices=2", "divergence.on_nonfinite=skip")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}  # the processes import this module's callback
    run_cli("train.py", *SMALL, *two_processes, nan_on_rank_one, f"hydra.run.dir={tmp_path}", timeout=120, env=env)
    last = load(tmp_path / "checkpoints" / "last.ckpt")
    assert last["global_step"] == 2 * 2 * 2  # 2 epochs of 64 images per process in batches of 32, D and G steps
    assert all(torch.isfinite(value).all() for value in last["state_dict"].values() if value.is_floating_point())


@pytest.mark.slow
def test_a_resumed_checkpoint_never_deletes_a_file_outside_the_run(tmp_path, caplog):
    """Resuming restores the checkpoint callbacks' record of the files they wrote, by which old ones are deleted
    later: a crafted record naming files outside the run (elsewhere, through `..`, through a symlink) is dropped with
    a warning, and the top-k pruning of checkpoint.keep_epochs=1 and the next last.ckpt delete nothing of it."""
    first, second = tmp_path / "first", tmp_path / "second"
    train(compose_train(*TINY, "trainer.max_epochs=1", output_dir=first))
    victims = {name: tmp_path / f"{name}.txt" for name in ("top_k", "last", "best")}
    for victim in victims.values():
        victim.write_text("not a checkpoint")
    folder = Path(os.path.realpath(second / "checkpoints"))  # the folder Lightning compares the record's dirpath with
    folder.mkdir(parents=True)
    (folder / "elsewhere").symlink_to(tmp_path)
    top_k, last = f"{folder}/../../top_k.txt", f"{folder}/elsewhere/last.txt"  # inside the folder until resolved
    crafted = load(first / "checkpoints" / "last.ckpt")
    for key, state in crafted["callbacks"].items():
        if key.startswith("ModelCheckpoint"):  # EpochCheckpoint's and BestMetricCheckpoint's records
            state.update(dirpath=str(folder), best_k_models={top_k: torch.tensor(0)}, kth_best_model_path=top_k)
            state.update(kth_value=torch.tensor(0), last_model_path=last, best_model_path=str(victims["best"]))
    torch.save(crafted, tmp_path / "crafted.ckpt")

    resume = (f"ckpt_path={tmp_path / 'crafted.ckpt'}", "checkpoint.keep_epochs=1", "trainer.max_epochs=2")
    with caplog.at_level(logging.WARNING, logger="facegan.checkpoints.restored_paths"):
        train(compose_train(*TINY, *resume, output_dir=second))
    assert all(victim.read_text() == "not a checkpoint" for victim in victims.values())
    assert sorted(path.name for path in folder.glob("*.ckpt")) == ["epoch_001.ckpt", "last.ckpt"]
    assert all(path in caplog.text for path in (top_k, last, str(victims["best"]))) and "never deleted" in caplog.text
