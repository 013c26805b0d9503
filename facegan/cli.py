"""facegan's commands, once: the checkout's scripts (`python scripts/train.py ...`, configs from conf/) and the
console scripts of an installed facegan (`facegan-train ...`, configs shipped in the package) run the same jobs.

    facegan-train data=synthetic            # = python scripts/train.py data=synthetic
    facegan-sample ckpt_path=...            facegan-evaluate ckpt_path=... data.root=...
    facegan-export ckpt_path=... out=...    facegan-prepare data.root=...     facegan-bench mode=train data.root=...
    facegan-explore ckpt_path=...           (the web app; pip install 'facegan[app]')
"""

import contextlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig

from facegan import runtime
from facegan.errors import ConfigError, exit_on_user_error
from facegan.runtime import startup


def config_dir() -> str:
    """The configs of an installed facegan (facegan/conf in the wheel), else conf/ of the checkout it runs from."""
    packaged = Path(__file__).resolve().parent / "conf"
    return str(packaged if packaged.is_dir() else Path(__file__).resolve().parents[1] / "conf")


def train_job(cfg: DictConfig) -> float | None:
    with startup.imports_without_gc():
        from facegan.tools.sweep_summary import run_sweep_job
        from facegan.train import train

    with exit_on_user_error():
        return run_sweep_job(train, cfg)  # in a multirun, a failed job is recorded and the sweep goes on


def sample_job(cfg: DictConfig) -> None:
    with startup.imports_without_gc():
        from facegan.tools.sample import sample

    with exit_on_user_error():
        sample(cfg)


def export_job(cfg: DictConfig) -> None:
    with startup.imports_without_gc():
        from facegan.tools.export import export

    with exit_on_user_error():
        export(cfg)


def evaluate_job(cfg: DictConfig) -> None:
    with startup.imports_without_gc():
        from facegan.tools.evaluate import evaluate

    with exit_on_user_error():
        with contextlib.redirect_stdout(sys.stderr):  # progress bars too: stdout carries only the JSON line
            result = evaluate(cfg)
        print(json.dumps(result), flush=True)


def prepare_data_job(cfg: DictConfig) -> None:
    import hydra

    with exit_on_user_error():
        if not cfg.data.cache:
            raise ConfigError("data.cache=false: there is nothing to prepare; drop that override")
        hydra.utils.instantiate(cfg.data).prepare_data()


def benchmark_job(cfg: DictConfig) -> None:
    with startup.imports_without_gc():
        from facegan.benchmarks import run_benchmark

    with exit_on_user_error():
        run_benchmark(cfg)


def explore_job(cfg: DictConfig) -> None:
    with startup.imports_without_gc():
        from facegan.tools.explore import explore

    with exit_on_user_error():
        explore(cfg)


def gpu_check_job(cfg: DictConfig) -> None:
    with startup.imports_without_gc():
        from facegan.tools.gpu_check import gpu_check

    with exit_on_user_error():
        gpu_check(cfg)


def console_script(job: Callable[[DictConfig], object], config_name: str) -> Callable[[], None]:
    def main() -> None:
        with startup.imports_without_gc():  # faster start-up and exit: facegan/runtime/startup.py
            import hydra

            runtime.register()  # facegan's config resolvers and strategy, before Hydra composes a config
        hydra.main(version_base="1.3", config_path=config_dir(), config_name=config_name)(job)()

    main.__doc__ = f"facegan's {config_name} command with the configs of the installed package"
    return main


train = console_script(train_job, "train")
sample = console_script(sample_job, "sample")
export = console_script(export_job, "export")
evaluate = console_script(evaluate_job, "evaluate")
prepare_data = console_script(prepare_data_job, "prepare_data")
benchmark = console_script(benchmark_job, "benchmark")
gpu_check = console_script(gpu_check_job, "gpu_check")
explore = console_script(explore_job, "explore")
