"""Measure facegan's throughput; `mode` picks what (facegan/benchmarks/ has one module per mode).

python scripts/benchmark.py mode=data data.root=~/celeba                # data path alone, img/s
python scripts/benchmark.py mode=data data=synthetic model=dcgan64 benchmark.batches=200
"""

import hydra
from omegaconf import DictConfig

from facegan import cli  # the job, shared with the console script; registers facegan's config resolvers


@hydra.main(version_base="1.3", config_path="../conf", config_name="benchmark")
def main(cfg: DictConfig) -> None:
    cli.benchmark_job(cfg)


if __name__ == "__main__":
    main()
