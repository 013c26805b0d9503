"""One launch per run folder: a launch into a named folder (hydra.run.dir=...) claims it atomically before anything
is written there, so two launches started at the same moment cannot both train into it. (Folders named by the
clock are exclusive already: runtime/distributed.py `run_folder` creates them with mkdir.)

The claim is a file, `<run folder>/run.lock`, created with O_EXCL and holding its owner's process record
(runtime/liveness.py); the launch removes it when it ends. A claim whose owner is gone (kill -9, a crash) is stale
and the next launch takes it over; one whose owner cannot be looked up from here (another host or container) is
refused, naming the file to delete once no run uses the folder.
"""

import json
from pathlib import Path

from facegan.errors import ConfigError
from facegan.fileio import create_exclusively
from facegan.runtime.liveness import is_process_record, is_running, is_this_process, this_process

CLAIM_FILE = "run.lock"


def read_claim(path: Path) -> dict | None:
    """The claim's owner record; None when the file is gone, torn or not a record (a crash mid-write)."""
    try:
        record = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return record if is_process_record(record) else None


def claim_run_folder(run_dir: Path) -> Path:
    """Claim `run_dir` for this launch (creating it), or raise a one-line ConfigError if another launch holds it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / CLAIM_FILE
    for _ in range(2):  # once more after removing a stale claim: of two launches that both found it stale, one wins
        if create_exclusively(path, this_process()):
            return path
        owner = read_claim(path)
        if owner is not None and is_this_process(owner):
            return path
        running = is_running(owner) if owner is not None else False
        if running is not False:
            who = f"process {owner['pid']} on {owner['host']}"
            if running is None:
                raise ConfigError(
                    f"hydra.run.dir={run_dir} is claimed by {who}, which cannot be checked from here: give another "
                    f"hydra.run.dir, or delete {path} once no run uses that folder"
                )
            raise ConfigError(f"hydra.run.dir={run_dir} is in use by {who}: give another hydra.run.dir")
        path.unlink(missing_ok=True)  # its owner is gone (or the record is torn): the claim is stale
    raise ConfigError(f"hydra.run.dir={run_dir} was claimed by another launch just now: give another hydra.run.dir")


def release_run_folder(path: Path) -> None:
    """Remove this launch's claim (never another's)."""
    owner = read_claim(path)
    if owner is not None and is_this_process(owner):
        path.unlink(missing_ok=True)
