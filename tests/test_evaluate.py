"""scripts/evaluate.py: one JSON line of FID/KID for a checkpoint, one-line errors for bad input."""

import json
from pathlib import Path

import pytest

from facegan.errors import exit_on_user_error
from facegan.tools.evaluate import evaluate
from helpers import TINY, compose_config, metrics_overrides, run_cli

DATA = ("data=synthetic", "data.num_images=256")  # the synthetic faces the checkpoint was trained on


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("trained") / "run"
    tiny_run = (*TINY, "data.num_images=256", "trainer.limit_train_batches=2", "trainer.max_epochs=1")
    run_cli("train.py", *tiny_run, "metrics.enabled=false", f"hydra.run.dir={run_dir}")
    return run_dir / "checkpoints" / "last.ckpt"


@pytest.mark.slow
def test_prints_one_json_line_with_scores_counts_extractor_and_checkpoint(checkpoint, tmp_path):
    result = run_cli("evaluate.py", f"ckpt_path={checkpoint}", *DATA, *metrics_overrides(tmp_path, num_samples=48))

    (line,) = result.stdout.splitlines()  # the log goes to stderr
    scores = json.loads(line)
    assert scores["fid"] > 0 and scores["kid_std"] >= 0 and isinstance(scores["kid_mean"], float)
    assert (scores["num_real"], scores["num_fake"]) == (48, 48)
    assert scores["extractor"].startswith("tiny_extractor-")
    assert scores["fid48"] == scores["fid"] and scores["kid48"] == scores["kid_mean"]  # as training logs them
    assert scores["precision48"] == scores["precision"] and scores["recall48"] == scores["recall"]
    assert 0 <= scores["precision"] <= 1 and 0 <= scores["recall"] <= 1
    # the memorization check: one number, its details, and the figure in the checkpoint's run folder
    memorization = scores["memorization"]
    assert scores["memorization_ratio"] > 0 and memorization["num_generated"] == 48
    assert memorization["num_training"] == 256 and memorization["reference"] == "training images, leave-one-out"
    assert len(memorization["closest"]) == 8 and memorization["figure"] == str(
        checkpoint.parents[1] / "memorization-last.png"
    )
    assert Path(memorization["figure"]).read_bytes().startswith(b"\x89PNG")
    assert scores["protocol"] == "default" and not scores["quantized"] and "bilinear" in scores["resizer"]
    assert scores["ckpt_path"] == str(checkpoint) and scores["device"] == "cpu" and scores["seconds"] > 0
    assert "Real-image features: 48 images" in result.stderr

    again = run_cli("evaluate.py", f"ckpt_path={checkpoint}", *DATA, *metrics_overrides(tmp_path, num_samples=48))
    assert json.loads(again.stdout)["fid"] == scores["fid"]  # same z, same real images ...
    assert "from the cache" in again.stderr  # ... whose features were not extracted again


def test_mimicry_protocol_is_50k_samples_against_the_whole_dataset():
    metrics = compose_config("evaluate", "protocol=mimicry").metrics
    assert (metrics.num_samples, metrics.num_real, metrics.quantize) == (50000, "all", True)
    assert (metrics.kid_subsets, metrics.kid_subset_size, metrics.feature_extractor) == (10, 5000, None)


@pytest.mark.slow
def test_mimicry_protocol_scores_quantized_samples_against_every_real_image(checkpoint, tmp_path):
    small = (*metrics_overrides(tmp_path, num_samples=40), "metrics.kid_subset_size=20")
    result = run_cli("evaluate.py", f"ckpt_path={checkpoint}", *DATA, "protocol=mimicry", *small)
    scores = json.loads(result.stdout)
    assert scores["protocol"] == "mimicry" and scores["quantized"]
    assert (scores["num_fake"], scores["num_real"]) == (40, 256)  # every image of the dataset
    assert scores["fid40"] == scores["fid"] > 0


@pytest.mark.parametrize(
    "overrides,expected",
    [
        (("ckpt_path=/nonexistent/last.ckpt",), "ckpt_path=/nonexistent/last.ckpt is not a file"),
        (("metrics.num_samples=1",), "metrics.num_samples=1"),
        (("metrics.num_real=most",), "metrics.num_real=most"),
        (("device=cuda:7",), "device=cuda:7"),
        (("memorization.pairs=0",), "memorization.pairs=0"),
        (("memorization.enabled=maybe",), "memorization.enabled=maybe"),
    ],
)
def test_bad_input_is_one_line_before_anything_loads(tmp_path, capsys, overrides, expected):
    cfg = compose_config("evaluate", f"ckpt_path={tmp_path / 'last.ckpt'}", *DATA, *overrides)
    with pytest.raises(SystemExit) as exit_status, exit_on_user_error():
        evaluate(cfg)
    assert exit_status.value.code == 2
    (error,) = capsys.readouterr().err.splitlines()
    assert error.startswith("facegan: error: ") and expected in error


@pytest.mark.slow
def test_the_cli_reports_a_missing_extractor_in_one_line_with_nothing_on_stdout(checkpoint, tmp_path):
    not_weights = tmp_path / "weights.pth"
    not_weights.write_bytes(b"not weights")
    overrides = (f"metrics.inception_weights={not_weights}", f"paths.cache_dir={tmp_path / 'cache'}")
    result = run_cli("evaluate.py", f"ckpt_path={checkpoint}", *DATA, *overrides, check=False)
    assert result.returncode == 2 and result.stdout == "" and "Traceback" not in result.stderr
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("facegan: error:")]
    assert "metrics.feature_extractor=<TorchScript Inception .pt>" in error


@pytest.mark.slow
def test_a_memorization_figure_over_the_checkpoint_is_one_line_before_loading(checkpoint, capsys):
    before = checkpoint.read_bytes()
    cfg = compose_config("evaluate", f"ckpt_path={checkpoint}", *DATA, f"memorization.figure={checkpoint}")
    with pytest.raises(SystemExit), exit_on_user_error():
        evaluate(cfg)
    (error,) = capsys.readouterr().err.splitlines()
    assert f"memorization.figure={checkpoint} is the file ckpt_path=" in error and "memorization.enabled=false" in error
    assert checkpoint.read_bytes() == before
