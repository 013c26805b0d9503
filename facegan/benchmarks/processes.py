"""The processes a benchmark starts: scripts run as a user runs them, functions in a fresh interpreter, and
the training overrides those processes are given (the benchmark's own, and each contender's recipe)."""

import multiprocessing
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig

from facegan.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]


def facegan_command(name: str) -> list[str]:
    """One of facegan's commands (train, prepare_data, benchmark, ...) as a user runs it, `python -m facegan <name>`:
    the same job as scripts/<name>.py, in a checkout and in an installed facegan alike."""
    return [sys.executable, "-m", "facegan", name]


def run_timed(command: list[str]) -> float:
    """Run a command in this process's folder (relative paths mean the same to it), its output discarded; its wall
    time, or RuntimeError with the end of its stderr when it fails."""
    started = time.perf_counter()
    result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def in_fresh_process(function: Callable[..., Any], *args: Any) -> Any:
    """function(*args) in a newly spawned interpreter, so its peak memory and start-up are its own."""
    # An executor, not a Pool: Pool workers are daemonic and may not start DataLoader workers.
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as executor:
        return executor.submit(function, *args).result()


def training_overrides(*skip: str) -> list[str]:
    """The benchmark's command-line overrides that scripts/train.py understands (leaving out the benchmark's own
    and those starting with `skip`), plus the model the benchmark composed: conf/benchmark.yaml picks its own
    model, not train.yaml's, so train.py must be told to train the same one."""
    hydra_cfg = HydraConfig.get()
    own = ("mode=", "benchmark.", "budget=")
    # `+benchmark.contenders.x=...` and `~key` are the benchmark's too: compare without Hydra's +, ++ and ~ marks.
    overrides = [
        override for override in hydra_cfg.overrides.task if not override.lstrip("+~").startswith((*own, *skip))
    ]
    if not any(override.startswith("model=") for override in overrides):
        overrides.append(f"model={hydra_cfg.runtime.choices['model']}")
    return overrides


def contender_overrides(contenders: dict) -> dict[str, list[str]]:
    """benchmark.contenders as {name: [override, ...]}; a name is a run folder's name, so plain."""
    if not contenders:
        raise ConfigError(
            "benchmark.contenders is empty: give at least one recipe, e.g. benchmark.contenders={defaults: ''}"
        )
    parsed = {}
    for name, overrides in contenders.items():
        if not str(name).replace("_", "").replace("-", "").isalnum() or name == "canonical":
            raise ConfigError(
                f"benchmark.contenders.{name}: name a contender with letters, digits, - and _ (not canonical)"
            )
        if overrides is None:
            overrides = ""
        parsed[str(name)] = str(overrides).split() if isinstance(overrides, str) else [str(item) for item in overrides]
    return parsed
