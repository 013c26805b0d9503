"""Measure facegan's throughput; `mode` picks what (facegan/benchmarks/ has one module per mode).

python scripts/benchmark.py mode=data data.root=~/celeba                # data path alone, img/s
python scripts/benchmark.py mode=data data=synthetic model=dcgan64 benchmark.batches=200
"""

from facegan import runtime
from facegan.runtime import startup

with startup.imports_without_gc():  # faster start-up and exit: facegan/runtime/startup.py
    import hydra
    from omegaconf import DictConfig

    from facegan.benchmarks import run_benchmark
    from facegan.errors import exit_on_user_error

    runtime.register()  # facegan's config resolvers and strategy, before Hydra composes a config


@hydra.main(version_base="1.3", config_path="../conf", config_name="benchmark")
def main(cfg: DictConfig) -> None:
    with exit_on_user_error():
        run_benchmark(cfg)


if __name__ == "__main__":
    main()
