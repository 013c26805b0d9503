"""Every CUDA-only path in one run on a GPU, written to one report; on a CPU machine, what it would run.

make gpu-check                                   # or: python scripts/gpu_check.py
python scripts/gpu_check.py dry_run=true         # the plan only
python scripts/gpu_check.py data_root=~/celeba feature_extractor=/path/inception.pt report=gpu.md
"""

import hydra
from omegaconf import DictConfig

from facegan import cli  # the job, shared with the console script; registers facegan's config resolvers


@hydra.main(version_base="1.3", config_path="../conf", config_name="gpu_check")
def main(cfg: DictConfig) -> None:
    cli.gpu_check_job(cfg)


if __name__ == "__main__":
    main()
