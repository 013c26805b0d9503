"""The Optuna study of a search: where it is stored, who runs its trials, and what each finished job did to it.

The study lives in Optuna's journal file (one append-only file beside the sweep, no database server), which every
process of the search reads and appends to: the sweeper asks for trials and tells their outcome, and each trial's
training job reports its metric there after every evaluation, which is how the pruner sees every trial. Several
sweepers (processes, SLURM jobs) can share one study through the same file; a search that was interrupted resumes
from it.
"""

import logging
import math
import os
from pathlib import Path
from typing import Any

from facegan.errors import ConfigError, describe
from facegan.runtime.liveness import pid_runs, this_host
from facegan.tools.sweep_summary import FAILURE_FILE, PRUNED_FILE, read_json

log = logging.getLogger(__name__)

OWNER_ATTR = "facegan_sweeper"  # which sweeper process runs a trial: {"host": ..., "pid": ...}
INTERRUPTED_ATTR = "facegan_interrupted"


def import_optuna():
    try:
        import optuna
    except ImportError as error:
        raise ConfigError(
            "hparams_search=optuna needs Optuna, which facegan's core install leaves out: pip install 'facegan[search]'"
        ) from error
    major = int(optuna.__version__.split(".")[0])
    if major < 4:
        raise ConfigError(f"hparams_search=optuna needs optuna>=4, found {optuna.__version__}: pip install -U optuna")
    return optuna


def storage_of(location: str):
    """A path (the journal file, created on first use) or a database URL such as sqlite:///study.db."""
    optuna = import_optuna()
    if "://" in location:
        return location
    from optuna.storages.journal import JournalFileBackend

    Path(location).parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(JournalFileBackend(str(location)))


def open_study(location: str, name: str, direction: str, sampler=None, pruner=None):
    optuna = import_optuna()
    return optuna.create_study(
        study_name=name,
        storage=storage_of(location),
        direction=direction,
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )


def load_study(location: str, name: str, pruner=None):
    return import_optuna().load_study(study_name=name, storage=storage_of(location), pruner=pruner)


def trial_of(study, number: int):
    """The live trial `number` of a study opened in another process (a training job reporting to its trial)."""
    optuna = import_optuna()
    trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    return optuna.trial.Trial(study, trial_id)


def claim(trial) -> None:
    trial.set_user_attr(OWNER_ATTR, {"host": this_host(), "pid": os.getpid()})


def is_orphan(trial) -> bool:
    """A running trial whose sweeper process on this host is gone: the search was interrupted while it ran."""
    owner = trial.user_attrs.get(OWNER_ATTR)
    return bool(owner) and owner["host"] == this_host() and owner["pid"] != os.getpid() and not pid_runs(owner["pid"])


def recover_interrupted(study) -> int:
    """Trials a dead sweeper left running: FAIL, marked interrupted, and their parameters queued to run again."""
    optuna = import_optuna()
    running = study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.RUNNING])
    orphans = [trial for trial in running if is_orphan(trial)]
    for frozen in orphans:
        trial_of(study, frozen.number).set_user_attr(INTERRUPTED_ATTR, True)
        study.tell(frozen.number, state=optuna.trial.TrialState.FAIL)
        study.enqueue_trial(frozen.params, skip_if_exists=False)
    if orphans:
        log.warning(
            "Resuming the study: %d trial(s) were interrupted (%s); they run again",
            len(orphans),
            ", ".join(str(trial.number) for trial in orphans),
        )
    return len(orphans)


def finished_trials(study) -> list:
    """Trials that count towards n_trials: complete, pruned or failed, but not those an interruption ended."""
    optuna = import_optuna()
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)
    return [
        trial for trial in study.get_trials(deepcopy=False, states=done) if not trial.user_attrs.get(INTERRUPTED_ATTR)
    ]


def job_folder(job_return) -> Path | None:
    """The job's output folder (its working_dir is the process's cwd: facegan runs do not chdir)."""
    hydra_cfg = job_return.hydra_cfg
    return Path(hydra_cfg.hydra.runtime.output_dir) if hydra_cfg is not None else None


def job_outcome(job_return) -> tuple[str, float | None, str | None]:
    """(state, value, error) of a finished job: COMPLETE with its metric, PRUNED (the job stopped itself when the
    pruner said so), or FAIL with the one-line error (failed.json; an exception; no or a non-finite metric)."""
    job_dir = job_folder(job_return)
    try:
        value = job_return.return_value  # raises the job's exception when it failed outside run_sweep_job
    except Exception as error:
        return "FAIL", None, describe(error)
    if job_dir is not None and (job_dir / PRUNED_FILE).is_file():
        return "PRUNED", None, None
    if value is None:
        failure = read_json(job_dir / FAILURE_FILE) if job_dir is not None else None
        return "FAIL", None, failure["error"] if failure else "the job returned no metric (are metrics off?)"
    value = float(value)
    if not math.isfinite(value):
        return "FAIL", None, f"the job's metric is {value}"
    return "COMPLETE", value, None


def tell(study, trial, job_return) -> str:
    """Record a finished job as its trial's outcome; returns the state."""
    optuna = import_optuna()
    state, value, error = job_outcome(job_return)
    job_dir = job_folder(job_return)
    if job_dir is not None:
        trial.set_user_attr("job_dir", str(job_dir))
    if error:
        trial.set_user_attr("error", error)
    if state == "COMPLETE":
        study.tell(trial, value)
    else:
        study.tell(trial, state=getattr(optuna.trial.TrialState, state))
    if state == "FAIL":
        log.warning("trial %d: FAIL (%s); the study goes on", trial.number, error)
    else:
        log.info("trial %d: %s%s", trial.number, state, "" if value is None else f", {value:.4g}")
    return state


def results(study) -> dict[str, Any]:
    """What optimization_results.yaml holds: the best trial's parameters and value, and every state's count."""
    optuna = import_optuna()
    trials = study.get_trials(deepcopy=False)
    counts = {state.name: 0 for state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)}
    counts["FAIL"] = 0
    for trial in trials:
        if trial.state.name in counts:
            counts[trial.state.name] += 1
    summary: dict[str, Any] = {"name": "optuna", "study_name": study.study_name, "trials": counts}
    complete = [trial for trial in trials if trial.state == optuna.trial.TrialState.COMPLETE]
    if complete:
        summary["best_params"] = dict(study.best_trial.params)
        summary["best_value"] = float(study.best_value)
        summary["best_trial"] = study.best_trial.number
    return summary
