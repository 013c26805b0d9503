"""`mode=end_to_end`: wall time of whole processes, as a user runs them, for the same epochs.

    python scripts/benchmark.py mode=end_to_end data.root=~/celeba trainer.max_epochs=10

times `scripts/train.py` with the same overrides (start-up, checkpoints, grids, plots and TensorBoard
included) against `python -m facegan.benchmarks.canonical` for trainer.max_epochs epochs. The
prepared cache is built first, untimed, as any earlier run on that data would have left it.
"""

import json
import subprocess
import sys
import tempfile

from omegaconf import DictConfig

from facegan.benchmarks.processes import facegan_command, run_timed, training_overrides
from facegan.benchmarks.train_speed import image_folder_root


def run(cfg: DictConfig) -> None:
    overrides = training_overrides()
    epochs = cfg.trainer.max_epochs
    if cfg.data.get("cache", False):
        subprocess.run([*facegan_command("prepare_data"), *overrides], check=True)
    with tempfile.TemporaryDirectory() as run_dir:
        facegan_seconds = run_timed([*facegan_command("train"), *overrides, f"hydra.run.dir={run_dir}"])
    canonical_seconds = run_timed(
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
