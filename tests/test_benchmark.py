"""scripts/benchmark.py runs its modes end to end and reports both loops (no timing is asserted)."""

import json

import pytest

from helpers import run_cli, write_faces

SMALL_MODEL = ("model.ngf=8", "model.ndf=8", "data.batch_size=8", "data.num_workers=0")


def last_json_line(stdout: str) -> dict:
    return json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])


@pytest.mark.slow
def test_train_mode_compares_facegan_with_the_canonical_loop(tmp_path):
    write_faces(tmp_path / "faces" / "img_align_celeba", 24)
    result = run_cli(
        "benchmark.py", f"data.root={tmp_path / 'faces'}", f"paths.cache_dir={tmp_path / 'cache'}", *SMALL_MODEL,
        "benchmark.batches=2", "benchmark.warmup_batches=1",
    )  # fmt: skip
    summary = last_json_line(result.stdout)
    assert summary["benchmark"] == "train" and summary["device"] == "cpu"
    assert summary["facegan_img_per_s"] > 0 and summary["canonical_img_per_s"] > 0
    assert summary["ratio"] == pytest.approx(summary["facegan_img_per_s"] / summary["canonical_img_per_s"], rel=0.02)
    assert "facegan / canonical" in result.stdout


@pytest.mark.slow
def test_end_to_end_mode_times_both_whole_processes(tmp_path):
    write_faces(tmp_path / "faces" / "img_align_celeba", 16)
    result = run_cli(
        "benchmark.py", "mode=end_to_end", f"data.root={tmp_path / 'faces'}", f"paths.cache_dir={tmp_path / 'cache'}",
        *SMALL_MODEL, "trainer.max_epochs=1",
    )  # fmt: skip
    summary = last_json_line(result.stdout)
    assert summary["epochs"] == 1 and summary["facegan_s"] > 0 and summary["canonical_s"] > 0
    assert "model=dcgan32" in result.stdout  # train.py trains the benchmark's model, not train.yaml's default
