"""Every CUDA-only path in one run on a GPU, written to one report; on a CPU machine, what it would run.

make gpu-check                                   # or: python scripts/gpu_check.py
python scripts/gpu_check.py dry_run=true         # the plan only
python scripts/gpu_check.py data_root=~/celeba feature_extractor=/path/inception.pt report=gpu.md
"""

from facegan import runtime
from facegan.runtime import startup

with startup.imports_without_gc():  # faster start-up and exit: facegan/runtime/startup.py
    import hydra
    from omegaconf import DictConfig

    from facegan.errors import exit_on_user_error
    from facegan.tools.gpu_check import gpu_check

    runtime.register()  # facegan's config resolvers and strategy, before Hydra composes a config


@hydra.main(version_base="1.3", config_path="../conf", config_name="gpu_check")
def main(cfg: DictConfig) -> None:
    with exit_on_user_error():
        gpu_check(cfg)


if __name__ == "__main__":
    main()
