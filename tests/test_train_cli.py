"""End-to-end runs of the real `scripts/train.py` in a subprocess, on tiny synthetic data."""

import pytest
import torch

from facegan.train import train
from helpers import NEEDS_REAL_FACES, REAL_FACES, TINY, compose_train, run_cli, tensorboard_tags

# Progress bar on: the CLI runs as a user sees it.
TINY_CLI = (
    *TINY,
    "data.num_images=96",
    "trainer.limit_train_batches=3",
    "trainer.enable_progress_bar=true",
    "callbacks.rich_progress_bar={_target_:facegan.callbacks.GANProgressBar}",
)
STEP_SCALARS = {"loss/d", "loss/g", "loss/d_real", "loss/d_fake", "d/real", "d/fake"}


@pytest.mark.slow
def test_run_writes_tensorboard_grids_plot_and_checkpoints(tmp_path):
    """The train command's smoke test; every loss and model trains in tests/test_losses.py."""
    run_dir = tmp_path / "run"
    result = run_cli("train.py", *TINY_CLI, f"hydra.run.dir={run_dir}")
    assert "Outputs in" in result.stdout + result.stderr

    tags = tensorboard_tags(run_dir)
    assert tags["scalars"] >= STEP_SCALARS
    assert {f"{name}_epoch" for name in STEP_SCALARS} <= tags["scalars"]
    assert {"samples/fixed_noise", "samples/real"} <= tags["images"]

    for name in ("loss_plot.png", "samples/real.png", "samples/epoch_000.png", "samples/epoch_001.png"):
        assert (run_dir / name).stat().st_size > 0, name
    for name in ("last.ckpt", "epoch_000.ckpt", "epoch_001.ckpt"):
        assert (run_dir / "checkpoints" / name).is_file(), name

    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert checkpoint["state_dict"]["fixed_noise"].shape == (64, 100)
    assert checkpoint["hyper_parameters"]["network_config"]["image_size"] == 32
    # global_step counts both optimizer steps: 2 epochs x 3 batches x (D + G)
    assert checkpoint["global_step"] == 12


@pytest.mark.slow
def test_a_fresh_run_never_writes_into_another_runs_folder(tmp_path):
    run_dir = tmp_path / "run"
    train(compose_train(*TINY_CLI, output_dir=run_dir))
    (run_dir / ".hydra").mkdir()
    (run_dir / ".hydra" / "config.yaml").write_text("the first run's config\n")  # as Hydra wrote it
    last = run_dir / "checkpoints" / "last.ckpt"
    before = last.read_bytes()

    again = run_cli("train.py", *TINY_CLI, f"hydra.run.dir={run_dir}", check=False)
    assert again.returncode == 2
    (error,) = [line for line in again.stderr.splitlines() if line.startswith("facegan: error:")]
    assert f"hydra.run.dir={run_dir} holds another run's outputs" in error and f"ckpt_path={last}" in error
    assert last.read_bytes() == before and not list(run_dir.glob("checkpoints/*-v1.ckpt"))
    # refused before Hydra wrote anything: the first run's config and log are as they were
    assert (run_dir / ".hydra" / "config.yaml").read_text() == "the first run's config\n"
    assert not (run_dir / "train.log").exists() and not (run_dir / "run.lock").exists()
    assert len(list((run_dir / "tensorboard").rglob("events.*"))) == 1  # no second run's curves

    # Going on in place, as the message says, is a resume and allowed.
    train(compose_train(*TINY_CLI, "trainer.max_epochs=3", f"ckpt_path={last}", output_dir=run_dir))
    assert torch.load(last, map_location="cpu", weights_only=True)["epoch"] == 2


@pytest.mark.slow
def test_max_steps_counts_batches(tmp_path):
    run_dir = tmp_path / "run"
    overrides = ("trainer.max_epochs=-1", "trainer.max_steps=4", "trainer.limit_train_batches=1.0")
    train(compose_train(*TINY_CLI, *overrides, output_dir=run_dir))
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert checkpoint["global_step"] == 4 * 2  # 4 batches, each one D and one G step


@pytest.mark.slow
def test_two_process_cpu_ddp_writes_one_run_folder(tmp_path):
    run_cli(
        "train.py",
        *TINY_CLI,
        "loss=lsgan",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.max_epochs=1",
        f"paths.log_dir={tmp_path}",
    )
    runs = list((tmp_path / "train" / "runs").iterdir())
    assert len(runs) == 1, runs
    assert (runs[0] / "checkpoints" / "last.ckpt").is_file()
    assert (runs[0] / "samples" / "epoch_000.png").is_file()
    assert len(list((runs[0] / "tensorboard").glob("events.out.tfevents.*"))) == 1  # rank 0 only


@pytest.mark.slow
def test_multirun_gives_each_job_its_own_folder(tmp_path):
    run_cli("train.py", "-m", *TINY_CLI, "trainer.max_epochs=1", "loss=bce,lsgan", f"hydra.sweep.dir={tmp_path}")
    for job in ("0", "1"):
        assert (tmp_path / job / "checkpoints" / "last.ckpt").is_file()
        assert "loss/d" in tensorboard_tags(tmp_path / job)["scalars"]


@pytest.mark.slow
@pytest.mark.skipif(not REAL_FACES.is_dir(), reason=NEEDS_REAL_FACES)
def test_trains_on_real_celeba_images(tmp_path):
    run_dir = tmp_path / "run"
    run_cli(
        "train.py",
        f"data.root={REAL_FACES}",
        "data.batch_size=32",
        "model.ngf=16",
        "model.ndf=16",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=4",
        f"hydra.run.dir={run_dir}",
    )
    assert (run_dir / "samples" / "real.png").is_file() and (run_dir / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.slow
def test_a_bad_value_is_one_line_and_writes_nothing(tmp_path):
    """The mechanism once through the CLI (Hydra's callback before the run folder, the one line, exit 2); every
    rule is checked in-process in tests/test_config.py."""
    outputs, cache = tmp_path / "outputs", tmp_path / "cache"
    overrides = (*TINY_CLI, "model.latent_dim=0", f"paths.log_dir={outputs}", f"paths.cache_dir={cache}")
    result = run_cli("train.py", *overrides, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("facegan: error:")]
    assert "model.latent_dim=0 must be an integer >= 1" in error
    assert not outputs.exists() and not cache.exists()  # refused before the run folder and the cache
