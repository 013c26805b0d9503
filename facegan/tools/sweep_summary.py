"""A sweep's jobs and their outcome: `run_sweep_job` keeps one failed job from ending a multirun, and a Hydra
callback tabulates the multirun in `sweep_summary.json` and `sweep_summary.csv` in the sweep folder, one row per
job with its state (COMPLETE, PRUNED by an Optuna search's pruner, or FAIL with the error line), its overrides, its
last evaluation and its best FID.

Launcher-agnostic: the callback reads what every job left in its own folder (Hydra's `.hydra/overrides.yaml`,
MetricsCallback's `metrics.jsonl`, `run_sweep_job`'s `failed.json`, TrialPruning's `pruned.json`), not values
passed in memory, so it works for
jobs run anywhere.
"""

import csv
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from facegan.errors import describe, find_user_error
from facegan.fileio import atomic_write, read_json_lines

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
FAILURE_FILE = "failed.json"
PRUNED_FILE = "pruned.json"  # facegan/search/pruning.py
FINAL_FIELDS = ("epoch", "images_seen", "fid", "kid_mean", "kid_std", "num_fake")


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def run_sweep_job(task: Callable[[DictConfig], float | None], cfg: DictConfig) -> float | None:
    """`task(cfg)`; in a multirun, an exception fails this job only: its one line goes to the log and to
    `failed.json` in the job folder, and the sweeper gets no value (Optuna records the trial as FAIL) instead of
    an exception, which would end a basic sweep before its summary. Outside a multirun errors propagate."""
    if not in_multirun():
        return task(cfg)
    try:
        return task(cfg)
    except Exception as error:
        user_error = find_user_error(error)
        if user_error is None:
            log.exception("This job failed")  # not the user's input: the traceback belongs in the job's log
        line = str(user_error) if user_error is not None else describe(error)
        log.error("facegan: error: %s (job recorded as failed in %s; the sweep goes on)", line, FAILURE_FILE)
        with atomic_write(Path(HydraConfig.get().runtime.output_dir) / FAILURE_FILE) as partial:
            partial.write_text(json.dumps({"error": line, "type": type(user_error or error).__name__}) + "\n")
        return None


def read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def job_state(failure: dict | None, pruned: dict | None) -> str:
    return "FAIL" if failure else "PRUNED" if pruned else "COMPLETE"


def read_evaluations(job_dir: Path) -> list[dict[str, Any]]:
    """The job's evaluations, in order; a record a killed job did not finish writing is skipped."""
    return read_json_lines(job_dir / METRICS_FILE)


def parse_overrides(overrides: list[str]) -> dict[str, str]:
    """["loss=lsgan", "optimizer.betas.0=0.3"] -> {"loss": "lsgan", "optimizer.betas.0": "0.3"}."""
    pairs = (override.split("=", 1) for override in overrides)
    return {pair[0]: pair[1] if len(pair) == 2 else "" for pair in pairs}


def job_summary(job_dir: Path, overrides_file: Path) -> dict[str, Any]:
    evaluations = read_evaluations(job_dir)
    final = evaluations[-1] if evaluations else {}
    failure = read_json(job_dir / FAILURE_FILE)
    pruned = read_json(job_dir / PRUNED_FILE)
    return {
        "job": job_dir.name,
        "dir": str(job_dir),
        "state": job_state(failure, pruned),
        "error": failure["error"] if failure else None,
        "pruned_after_epoch": pruned["epoch"] if pruned else None,
        "overrides": parse_overrides(list(OmegaConf.load(overrides_file))),
        "evaluations": len(evaluations),
        "final": {field: final.get(field) for field in FINAL_FIELDS},
        "best_fid": min((evaluation["fid"] for evaluation in evaluations), default=None),
    }


def job_order(job_dir: Path) -> tuple[int, str]:
    """Numbered job folders in numeric order (2 before 10), anything else after them by name."""
    return (int(job_dir.name), "") if job_dir.name.isdigit() else (1 << 62, job_dir.name)


def write_csv(path: Path, jobs: list[dict[str, Any]]) -> None:
    override_keys = sorted({key for job in jobs for key in job["overrides"]})
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["job", "state", *override_keys, *FINAL_FIELDS, "best_fid", "error"])
        for job in jobs:
            overrides = [job["overrides"].get(key, "") for key in override_keys]
            final = [job["final"][field] for field in FINAL_FIELDS]
            writer.writerow([job["job"], job["state"], *overrides, *final, job["best_fid"], job["error"] or ""])


class SweepSummaryCallback(Callback):
    def __init__(self, filename: str = "sweep_summary"):
        self.filename = filename

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        overrides_files = sweep_dir.glob(f"*/{config.hydra.output_subdir}/overrides.yaml")
        job_dirs = {path.parent.parent: path for path in overrides_files}
        jobs = [job_summary(job_dir, job_dirs[job_dir]) for job_dir in sorted(job_dirs, key=job_order)]
        json_path = sweep_dir / f"{self.filename}.json"
        json_path.write_text(json.dumps({"sweep_dir": str(sweep_dir), "jobs": jobs}, indent=2) + "\n")
        write_csv(sweep_dir / f"{self.filename}.csv", jobs)
        log.info("Sweep summary of %d jobs: %s (and .csv)", len(jobs), json_path)
        failed = [job for job in jobs if job["state"] == "FAIL"]
        if failed:
            first = failed[0]
            log.warning(
                "%d of %d jobs failed (state FAIL in the summary); job %s: %s",
                len(failed),
                len(jobs),
                first["job"],
                first["error"],
            )
