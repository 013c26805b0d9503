"""Decode a data source once into the prepared cache that training reuses (see facegan/data/cache.py).

Training builds it on its first run anyway; run this ahead of time, e.g. on a login node before a sweep.
Pass the same data and model overrides as the training run, so that the cache key matches:

    python scripts/prepare_data.py data.root=~/celeba model=dcgan64
    python scripts/prepare_data.py data.root=~/celeba model=dcgan64 paths.cache_dir=/scratch/$USER/facegan-cache
    python scripts/prepare_data.py data=synthetic data.prepare_workers=8
"""

from facegan import cli

if __name__ == "__main__":
    cli.prepare_data()  # Hydra composes conf/ with the command line's overrides, then runs cli.prepare_data_job
