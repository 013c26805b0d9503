"""Throughput benchmarks, one module per mode, each with `run(cfg)`: `python scripts/benchmark.py mode=<name>`."""

import importlib

from omegaconf import DictConfig

from facegan.errors import ConfigError

# mode -> the module that measures it; imported only when chosen, so each mode pays for its own imports.
MODES = {
    "train": "facegan.benchmarks.train_speed",
    "end_to_end": "facegan.benchmarks.end_to_end",
    "data": "facegan.benchmarks.data_speed",
    "quality": "facegan.benchmarks.quality",
}


def run_benchmark(cfg: DictConfig) -> None:
    if cfg.mode not in MODES:
        raise ConfigError(f"mode={cfg.mode} is not a benchmark: use one of {', '.join(MODES)}")
    importlib.import_module(MODES[cfg.mode]).run(cfg)
