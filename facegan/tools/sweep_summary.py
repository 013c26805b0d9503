"""A Hydra callback that tabulates a multirun: `sweep_summary.json` and `sweep_summary.csv` in the sweep
folder, one row per job with its overrides, its last evaluation and its best FID.

Launcher-agnostic: it reads what every job left in its own folder (Hydra's `.hydra/overrides.yaml` and
MetricsCallback's `metrics.jsonl`), not values passed in memory, so it works for jobs run anywhere.
"""

import csv
import json
import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
FINAL_FIELDS = ("epoch", "images_seen", "fid", "kid_mean", "kid_std", "num_fake")


def read_evaluations(job_dir: Path) -> list[dict[str, Any]]:
    path = job_dir / METRICS_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def parse_overrides(overrides: list[str]) -> dict[str, str]:
    """["loss=lsgan", "optimizer.betas.0=0.3"] -> {"loss": "lsgan", "optimizer.betas.0": "0.3"}."""
    pairs = (override.split("=", 1) for override in overrides)
    return {pair[0]: pair[1] if len(pair) == 2 else "" for pair in pairs}


def job_summary(job_dir: Path, overrides_file: Path) -> dict[str, Any]:
    evaluations = read_evaluations(job_dir)
    final = evaluations[-1] if evaluations else {}
    return {
        "job": job_dir.name,
        "dir": str(job_dir),
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
        writer.writerow(["job", *override_keys, *FINAL_FIELDS, "best_fid"])
        for job in jobs:
            overrides = [job["overrides"].get(key, "") for key in override_keys]
            final = [job["final"][field] for field in FINAL_FIELDS]
            writer.writerow([job["job"], *overrides, *final, job["best_fid"]])


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
