"""Decode a data source once into the prepared cache that training reuses (see facegan/data/cache.py).

Training builds it on its first run anyway; run this ahead of time, e.g. on a login node before a sweep.
Pass the same data and model overrides as the training run, so that the cache key matches:

    python scripts/prepare_data.py data.root=~/celeba model=dcgan64
    python scripts/prepare_data.py data.root=~/celeba model=dcgan64 paths.cache_dir=/scratch/$USER/facegan-cache
    python scripts/prepare_data.py data=synthetic data.prepare_workers=8
"""

import hydra
from omegaconf import DictConfig

from facegan import cli  # the job, shared with the console script; registers facegan's config resolvers


@hydra.main(version_base="1.3", config_path="../conf", config_name="prepare_data")
def main(cfg: DictConfig) -> None:
    cli.prepare_data_job(cfg)


if __name__ == "__main__":
    main()
