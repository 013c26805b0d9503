"""Every CUDA-only path in one run on a GPU, its results in one folder; on a CPU machine, what it would run. Around it,
for a GPU machine without network: the bundle it needs (before) and the scores of its quality run (after).

make gpu-check ARGS='data_root=~/celeba'                      # or: python scripts/gpu_check.py data_root=~/celeba
python scripts/gpu_check.py data_root=~/celeba dry_run=true   # the plan, its timeouts against the deadline
python scripts/gpu_check.py data_root=~/celeba feature_extractor=~/inception.pt results_dir=gpu-results
make offline-bundle ARGS='data_root=~/celeba feature_extractor=~/inception.pt'   # prints the command to run there
python scripts/gpu_check.py score_from=gpu-results data_root=~/celeba feature_extractor=~/inception.pt
"""

from facegan import cli

if __name__ == "__main__":
    cli.gpu_check()  # Hydra composes conf/ with the command line's overrides, then runs cli.gpu_check_job
