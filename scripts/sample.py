"""Images from a trained generator, on the CPU by default (GPU-trained checkpoints load anywhere).

python scripts/sample.py ckpt_path=outputs/train/runs/<date>/checkpoints/last.ckpt
python scripts/sample.py ckpt_path=... num_samples=64 seed=0 outdir=outputs/sample
python scripts/sample.py ckpt_path=... truncation=0.7          # more typical, less varied faces
python scripts/sample.py ckpt_path=... interpolate=true walks=8 steps=10
"""

import hydra
from omegaconf import DictConfig

from facegan import cli  # the job, shared with the console script; registers facegan's config resolvers


@hydra.main(version_base="1.3", config_path="../conf", config_name="sample")
def main(cfg: DictConfig) -> None:
    cli.sample_job(cfg)


if __name__ == "__main__":
    main()
