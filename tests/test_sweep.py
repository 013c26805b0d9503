"""hparams_search=optuna: a real 2-trial Optuna sweep on synthetic faces that minimises metrics/fid."""

import csv
import json

import pytest
from omegaconf import OmegaConf

from helpers import TINY, metrics_overrides, run_cli

SEARCHED = {
    "optimizer.generator.lr",
    "optimizer.discriminator.lr",
    "optimizer.betas.0",
    "optimizer.betas.1",
    "loss",
    "model.ngf",
    "model.ndf",
}


@pytest.mark.slow
def test_two_trial_optuna_sweep_minimises_fid_and_writes_a_summary(tmp_path):
    sweep_dir = tmp_path / "sweep"
    run_cli(
        "train.py",
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=2",
        *TINY,  # the sweeper's model.ngf and model.ndf override the preset's
        "trainer.max_epochs=1",
        *metrics_overrides(tmp_path),
        f"hydra.sweep.dir={sweep_dir}",
        timeout=600,
    )

    summary = json.loads((sweep_dir / "sweep_summary.json").read_text())
    jobs = summary["jobs"]
    assert [job["job"] for job in jobs] == ["0", "1"]
    for job in jobs:
        assert set(job["overrides"]) >= SEARCHED
        assert job["evaluations"] == 1 and job["final"]["fid"] == job["best_fid"] > 0
    assert jobs[0]["overrides"] != jobs[1]["overrides"]

    # train() returned each job's FID to Optuna, which reports the lowest.
    results = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    assert results.best_value == pytest.approx(min(job["final"]["fid"] for job in jobs))
    assert set(results.best_params) == SEARCHED

    with (sweep_dir / "sweep_summary.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert [row["job"] for row in rows] == ["0", "1"] and float(rows[0]["fid"]) == jobs[0]["final"]["fid"]
