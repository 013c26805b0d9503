"""Every CUDA-only path in one run on a GPU, its results in one folder; on a CPU machine, what it would run. Around it,
for a GPU machine without network: the bundle it needs (before) and the scores of its quality run (after).

make gpu-check ARGS='data_root=~/celeba'                      # or: python scripts/gpu_check.py data_root=~/celeba
python scripts/gpu_check.py data_root=~/celeba dry_run=true   # the plan, its timeouts against the deadline
python scripts/gpu_check.py data_root=~/celeba feature_extractor=~/inception.pt results_dir=gpu-results
make offline-bundle ARGS='data_root=~/celeba feature_extractor=~/inception.pt'   # prints the command to run there
python scripts/gpu_check.py score_from=gpu-results data_root=~/celeba feature_extractor=~/inception.pt
"""

import hydra
from omegaconf import DictConfig

from facegan import cli  # the job, shared with the console script; registers facegan's config resolvers


@hydra.main(version_base="1.3", config_path="../conf", config_name="gpu_check")
def main(cfg: DictConfig) -> None:
    cli.gpu_check_job(cfg)


if __name__ == "__main__":
    main()
