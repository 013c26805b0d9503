"""Images from a trained generator, on the CPU by default (GPU-trained checkpoints load anywhere).

python scripts/sample.py ckpt_path=outputs/train/runs/<date>/checkpoints/last.ckpt
python scripts/sample.py ckpt_path=... num_samples=64 seed=0 outdir=outputs/sample
python scripts/sample.py ckpt_path=... truncation=0.7          # more typical, less varied faces
python scripts/sample.py ckpt_path=... interpolate=true walks=8 steps=10
"""

from facegan import cli

if __name__ == "__main__":
    cli.sample()  # Hydra composes conf/ with the command line's overrides, then runs cli.sample_job
