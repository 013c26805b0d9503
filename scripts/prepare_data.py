"""Decode a data source once into the prepared cache that training reuses (see facegan/data/cache.py).

Training builds it on its first run anyway; run this ahead of time, e.g. on a login node before a sweep.
Pass the same data and model overrides as the training run, so that the cache key matches:

    python scripts/prepare_data.py data.root=~/celeba model=dcgan64
    python scripts/prepare_data.py data.root=~/celeba model=dcgan64 paths.cache_dir=/scratch/$USER/facegan-cache
    python scripts/prepare_data.py data=synthetic data.prepare_workers=8
"""

from facegan import runtime
from facegan.runtime import startup

with startup.imports_without_gc():  # faster start-up and exit: facegan/runtime/startup.py
    import hydra
    from omegaconf import DictConfig

    from facegan.errors import ConfigError, exit_on_user_error

    runtime.register()  # facegan's config resolvers and strategy, before Hydra composes a config


@hydra.main(version_base="1.3", config_path="../conf", config_name="prepare_data")
def main(cfg: DictConfig) -> None:
    with exit_on_user_error():
        if not cfg.data.cache:
            raise ConfigError("data.cache=false: there is nothing to prepare; drop that override")
        hydra.utils.instantiate(cfg.data).prepare_data()


if __name__ == "__main__":
    main()
