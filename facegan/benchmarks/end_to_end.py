"""`mode=end_to_end`: wall time of whole processes, as a user runs them, for the same epochs.

    python scripts/benchmark.py mode=end_to_end data.root=../shared/data/celeba_sample trainer.max_epochs=10

times `scripts/train.py` with the same overrides (start-up, checkpoints, grids, plots and TensorBoard
included) against `python -m facegan.benchmarks.canonical` for trainer.max_epochs epochs. The
prepared cache is built first, untimed, as any earlier run on that data would have left it.
"""

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from facegan.benchmarks.throughput import image_folder_root

REPO_ROOT = Path(__file__).resolve().parents[2]


def _timed(command: list[str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def run(cfg: DictConfig) -> None:
    hydra_cfg = HydraConfig.get()
    overrides = [o for o in hydra_cfg.overrides.task if not o.startswith(("mode=", "benchmark."))]
    if not any(o.startswith("model=") for o in overrides):
        # benchmark.yaml picks its own model (conf/benchmark.yaml), not train.yaml's: time train.py on the same one
        overrides.append(f"model={hydra_cfg.runtime.choices['model']}")
    epochs = cfg.trainer.max_epochs
    scripts = REPO_ROOT / "scripts"
    if cfg.data.get("cache", False):
        subprocess.run([sys.executable, str(scripts / "prepare_data.py"), *overrides], cwd=REPO_ROOT, check=True)
    with tempfile.TemporaryDirectory() as run_dir:
        facegan_seconds = _timed([sys.executable, str(scripts / "train.py"), *overrides, f"hydra.run.dir={run_dir}"])
    canonical_seconds = _timed(
        [
            sys.executable, "-m", "facegan.benchmarks.canonical",
            "--dataroot", image_folder_root(cfg.data),
            "--image-size", str(cfg.model.image_size),
            "--batch-size", str(cfg.data.batch_size),
            "--nz", str(cfg.model.latent_dim),
            "--ngf", str(cfg.model.ngf),
            "--ndf", str(cfg.model.ndf),
            "--workers", str(cfg.data.num_workers),
            "--epochs", str(epochs),
        ]
    )  # fmt: skip
    ratio = canonical_seconds / facegan_seconds
    print(
        f"Whole-process wall time, {epochs} epochs, {cfg.model.image_size}x{cfg.model.image_size}, "
        f"batch {cfg.data.batch_size}"
    )
    print(f"  facegan   (scripts/train.py {' '.join(overrides)}): {facegan_seconds:8.1f} s")
    print(f"  canonical (python -m facegan.benchmarks.canonical):   {canonical_seconds:8.1f} s")
    print(f"  facegan is {ratio:.2f}x faster")
    print(
        json.dumps(
            {
                "benchmark": "end_to_end",
                "epochs": epochs,
                "facegan_s": round(facegan_seconds, 1),
                "canonical_s": round(canonical_seconds, 1),
                "speedup": round(ratio, 3),
            }
        )
    )
