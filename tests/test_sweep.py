"""Sweeps: hparams_search=optuna (facegan's sweeper on Optuna >= 4: pruning, failures, the journal file and
resuming from it) on synthetic faces, and a basic multirun whose job fails."""

import csv
import json
import logging
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from facegan.data.build_lock import this_host
from facegan.errors import ConfigError
from facegan.fileio import append_json_line
from facegan.search import study as studies
from facegan.search.space import SearchSpace, override_value
from facegan.tools.sweep_summary import job_summary, read_evaluations
from helpers import REPO_ROOT, TINY, compose_config, metrics_overrides, run_cli

try:
    from optuna.trial import TrialState
except ImportError:  # the search's tests skip without the search extra
    TrialState = None

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
@pytest.mark.long
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
@pytest.mark.long
def test_a_four_trial_study_prunes_one_fails_one_and_resumes_from_its_journal(tmp_path):
    sweep_dir = tmp_path / "sweep"
    study = (
        f"hydra.searchpath=[file://{FIXTURE_CONF}]",
        "hparams_search=four_trials",
        *TINY,
        *metrics_overrides(tmp_path),
        "trainer.max_epochs=1,3",
        "loss.n_critic=0,1",
        "loss=bce,lsgan",
        f"hydra.sweep.dir={sweep_dir}",
    )
    run_cli("train.py", *study, timeout=900)

    jobs = json.loads((sweep_dir / "sweep_summary.json").read_text())["jobs"]
    assert [job["state"] for job in jobs] == ["COMPLETE", "PRUNED", "FAIL", "COMPLETE"]
    complete, pruned, failed, lsgan = jobs
    assert pruned["overrides"]["trainer.max_epochs"] == "3" and pruned["pruned_after_epoch"] == 1
    assert [record["epoch"] for record in read_metrics(sweep_dir / "1")] == [0, 1]  # stopped before epoch 2
    assert (sweep_dir / "1" / "checkpoints" / "last.ckpt").is_file()
    assert "loss.n_critic=0" in failed["error"] and lsgan["overrides"]["loss"] == "lsgan"

    optuna = pytest.importorskip("optuna")
    loaded = studies.load_study(str(sweep_dir / "optuna.journal"), "four_trials")
    states = [trial.state for trial in loaded.trials]
    assert states == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.COMPLETE]
    assert loaded.trials[1].intermediate_values.keys() == {0, 1}  # the job reported after each evaluation
    assert "loss.n_critic=0" in loaded.trials[2].user_attrs["error"]
    assert loaded.best_value == pytest.approx(min(complete["final"]["fid"], lsgan["final"]["fid"]))
    results = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    assert dict(results.trials) == {"COMPLETE": 2, "PRUNED": 1, "FAIL": 1} and optuna.__version__ >= "4"

    # The same study file and one more trial: only the new trial runs, in the next job folder.
    run_cli("train.py", *study, "hydra.sweeper.n_trials=5", timeout=600)
    assert len(studies.load_study(str(sweep_dir / "optuna.journal"), "four_trials").trials) == 5
    assert (sweep_dir / "4" / ".hydra" / "overrides.yaml").is_file() and not (sweep_dir / "5").exists()


def read_metrics(job_dir):
    return [json.loads(line) for line in (job_dir / "metrics.jsonl").read_text().splitlines()]


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_trials_a_dead_sweeper_left_running_fail_and_run_again(tmp_path):
    pytest.importorskip("optuna")
    study = studies.open_study(str(tmp_path / "study.journal"), "interrupted", "minimize")
    distributions = SearchSpace.parse({"optimizer.generator.lr": "choice(0.001, 0.0002)"}, []).distributions
    done = study.ask(distributions)
    study.tell(done, 1.0)
    orphan = study.ask(distributions)
    orphan.set_user_attr(studies.OWNER_ATTR, {"host": this_host(), "pid": dead_pid()})
    alive = study.ask(distributions)
    studies.claim(alive)  # this process: still running its trial

    assert studies.recover_interrupted(study) == 1
    trials = study.get_trials()
    assert trials[orphan.number].state == TrialState.FAIL and trials[orphan.number].user_attrs["facegan_interrupted"]
    assert trials[alive.number].state == TrialState.RUNNING
    assert [trial.number for trial in studies.finished_trials(study)] == [done.number]
    rerun = study.ask(distributions)  # the queued copy of the interrupted trial comes first
    assert rerun.params == orphan.params


def test_the_search_space_reads_hydra_sweeps_and_the_command_line_wins():
    pytest.importorskip("optuna")
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    params = {
        "optimizer.generator.lr": "tag(log, interval(0.00005, 0.001))",
        "model.ngf": "choice(32, 64)",
        "loss": "choice(bce, lsgan)",
        "loss.n_critic": "range(1, 4)",
        "trainer.max_epochs": "tag(int, interval(1, 5))",
    }
    space = SearchSpace.parse(params, ["loss=hinge", "model.ndf=32,64", "data.batch_size=16"])
    lr = space.distributions["optimizer.generator.lr"]
    assert isinstance(lr, FloatDistribution) and lr.log and (lr.low, lr.high) == (0.00005, 0.001)
    assert space.distributions["model.ngf"] == CategoricalDistribution([32, 64])
    assert space.distributions["model.ndf"] == CategoricalDistribution([32, 64])
    assert space.distributions["loss.n_critic"] == CategoricalDistribution([1, 2, 3])
    assert space.distributions["trainer.max_epochs"] == IntDistribution(1, 5)
    assert "loss" not in space.distributions and space.fixed == ["loss=hinge", "data.batch_size=16"]
    overrides = space.overrides({"optimizer.generator.lr": 0.0002, "model.ngf": 64, "loss.n_critic": 2})
    assert overrides == ["loss=hinge", "data.batch_size=16", "optimizer.generator.lr=0.0002", "model.ngf=64",
                         "loss.n_critic=2"]  # fmt: skip
    assert override_value("a b") == "'a b'" and override_value(True) == "true" and override_value(None) == "null"
    with pytest.raises(ConfigError, match="model.ngf"):
        SearchSpace.parse({"model.ngf": "choice([1, 2], [3])"}, [])


def test_a_search_without_optuna_installed_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'facegan\[search\]'"):
        studies.import_optuna()


def test_the_search_shares_the_defaults_failure_rate_and_the_fixture_builds_on_it():
    searched = compose_config("train", "hparams_search=optuna", return_hydra_config=True)
    assert searched.hydra.sweeper.max_failure_rate == 1.0
    assert searched.hydra.sweeper._target_.startswith("hydra_plugins.facegan_optuna_sweeper.")
    assert searched.hydra.sweeper.pruner._target_ == "optuna.pruners.MedianPruner"
    assert searched.callbacks.trial_pruning.trial is None  # a run outside a search reports nowhere
    fixture = OmegaConf.load(FIXTURE_CONF / "hparams_search" / "four_trials.yaml")
    assert "optuna" in fixture.defaults


def test_a_job_killed_mid_write_is_summarised_from_its_whole_records(tmp_path, caplog):
    job = tmp_path / "0"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("- loss=lsgan\n")
    first, second = {"epoch": 0, "fid": 9.0}, {"epoch": 1, "fid": 7.5}
    torn = '{"epoch": 2, "fid": 6'  # what kill -9 leaves of a line
    (job / "metrics.jsonl").write_text(f"{json.dumps(first)}\n{torn}\n{json.dumps(second)}\n{torn}")
    with caplog.at_level(logging.INFO, logger="facegan.fileio"):
        summary = job_summary(job, job / ".hydra" / "overrides.yaml")
    assert summary["evaluations"] == 2 and summary["best_fid"] == 7.5 and summary["final"]["epoch"] == 1
    earlier, last = caplog.records  # the torn line before a whole one warns; the last one, cut off, informs
    assert earlier.levelname == "WARNING" and "skipped line 2" in earlier.message
    assert last.levelname == "INFO" and "skipped its last line 4" in last.message
    append_json_line(job / "metrics.jsonl", {"epoch": 2, "fid": 6.0})  # a resumed run: a line of its own
    assert [evaluation["epoch"] for evaluation in read_evaluations(job)] == [0, 1, 2]
