"""hparams_search=optuna: a real 2-trial Optuna sweep on synthetic faces that minimises metrics/fid."""

import csv
import json

import pytest
from omegaconf import OmegaConf

from helpers import REPO_ROOT, TINY, compose_config, metrics_overrides, run_cli

FIXTURE_CONF = REPO_ROOT / "tests" / "fixtures" / "conf"  # extra config groups the sweep tests search

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


@pytest.mark.slow
def test_a_failed_job_is_recorded_and_the_multirun_goes_on(tmp_path):
    result = run_cli(
        "train.py", "-m", *TINY, "trainer.max_epochs=1", "loss.n_critic=0,1", f"hydra.sweep.dir={tmp_path}"
    )

    summary = json.loads((tmp_path / "sweep_summary.json").read_text())
    failed, completed = summary["jobs"]
    assert failed["state"] == "FAIL" and "loss.n_critic=0" in failed["error"]
    assert json.loads((tmp_path / "0" / "failed.json").read_text())["error"] == failed["error"]
    assert completed["state"] == "COMPLETE" and completed["error"] is None
    assert (tmp_path / "1" / "checkpoints" / "last.ckpt").is_file()  # the job after the failure ran
    assert "1 of 2 jobs failed" in result.stderr + result.stdout
    with (tmp_path / "sweep_summary.csv").open() as file:
        assert [row["state"] for row in csv.DictReader(file)] == ["FAIL", "COMPLETE"]


@pytest.mark.slow
def test_a_failed_optuna_trial_is_recorded_as_fail_and_the_study_goes_on(tmp_path):
    sweep_dir = tmp_path / "sweep"
    run_cli(
        "train.py",
        f"hydra.searchpath=[file://{FIXTURE_CONF}]",
        "hparams_search=n_critic_study",
        *TINY,
        "trainer.max_epochs=1",
        *metrics_overrides(tmp_path),
        f"hydra.sweep.dir={sweep_dir}",
        timeout=600,
    )

    jobs = json.loads((sweep_dir / "sweep_summary.json").read_text())["jobs"]
    states = {job["overrides"]["loss.n_critic"]: job for job in jobs}
    assert states["0"]["state"] == "FAIL" and "loss.n_critic=0" in states["0"]["error"]
    assert states["1"]["state"] == "COMPLETE" and states["1"]["final"]["fid"] > 0
    results = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    assert results.best_params == {"loss.n_critic": 1}
    assert results.best_value == pytest.approx(states["1"]["final"]["fid"])


def test_facegan_search_goes_on_after_failed_trials_as_the_fixture_does():
    searched = compose_config("train", "hparams_search=optuna", return_hydra_config=True)
    fixture = OmegaConf.load(FIXTURE_CONF / "hparams_search" / "n_critic_study.yaml")
    assert searched.hydra.sweeper.max_failure_rate == fixture.hydra.sweeper.max_failure_rate == 1.0
