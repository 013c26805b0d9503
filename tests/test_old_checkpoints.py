"""Checkpoints written before the re-layout (tests/fixtures/README.md) still resume, sample, export and evaluate."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from facegan.checkpoints.trained_generator import load_generator
from facegan.fileio import read_torch_file
from facegan.tools.export import export, load_torchscript
from facegan.train import train
from helpers import REPO_ROOT, TINY, compose_config, compose_train, metrics_overrides, run_cli

OLD_CHECKPOINT = REPO_ROOT / "tests" / "fixtures" / "checkpoint_v0_1.ckpt"
# The model and data the fixture was trained with.
OLD_RUN = (
    *TINY,
    "model.image_size=16",
    "model.latent_dim=8",
    "model.ngf=4",
    "model.ndf=4",
    "data.num_images=32",
    "seed=42",
)


@pytest.fixture
def old_checkpoint(tmp_path) -> Path:
    """A copy, so that no test can change the committed file."""
    return Path(shutil.copy(OLD_CHECKPOINT, tmp_path / "last.ckpt"))


def test_loads_safely_and_rebuilds_its_ema_generator(old_checkpoint):
    assert "generator_ema.net.0.weight" in read_torch_file(old_checkpoint)["state_dict"]  # weights_only=True
    generator, info = load_generator(old_checkpoint)
    assert (info.image_size, info.latent_dim, info.weights, info.epoch) == (16, 8, "generator_ema", 0)
    with torch.no_grad():
        images = generator(torch.randn(3, 8))
    assert images.shape == (3, 3, 16, 16) and images.abs().max() <= 1


@pytest.mark.slow
def test_resumes_where_it_stopped(old_checkpoint, tmp_path):
    before = read_torch_file(old_checkpoint)
    train(compose_train(*OLD_RUN, "trainer.max_epochs=2", f"ckpt_path={old_checkpoint}", output_dir=tmp_path / "run"))
    after = read_torch_file(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert (before["epoch"], after["epoch"]) == (0, 1)
    assert after["global_step"] == 2 * before["global_step"]  # one more epoch of the same 2 batches
    assert after["state_dict"].keys() == before["state_dict"].keys()


@pytest.mark.slow
def test_samples_with_the_cli(old_checkpoint, tmp_path):
    run_cli("sample.py", f"ckpt_path={old_checkpoint}", "num_samples=4", f"outdir={tmp_path / 'out'}")
    assert (tmp_path / "out" / "grid.png").is_file()
    assert len(list((tmp_path / "out" / "samples").glob("sample_*.png"))) == 4


def test_exports_to_torchscript(old_checkpoint, tmp_path):
    cfg = compose_config("export", f"ckpt_path={old_checkpoint}", f"out={tmp_path / 'g.pt'}")
    scripted, metadata = load_torchscript(export(cfg))
    assert (metadata["latent_dim"], metadata["image_size"], metadata["weights"]) == (8, 16, "generator_ema")
    generator, _ = load_generator(old_checkpoint)
    z = torch.randn(2, 8)
    with torch.no_grad():
        torch.testing.assert_close(scripted(z), generator(z))


@pytest.mark.slow
def test_evaluates_with_the_cli(old_checkpoint, tmp_path):
    data = ("data=synthetic", "data.num_images=32", "data.batch_size=16", "seed=42")
    result = run_cli("evaluate.py", f"ckpt_path={old_checkpoint}", *data, *metrics_overrides(tmp_path, num_samples=16))
    scores = json.loads(result.stdout)
    assert scores["fid"] > 0 and (scores["image_size"], scores["weights"]) == (16, "generator_ema")
