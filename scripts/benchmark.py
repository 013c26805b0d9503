"""Measure facegan's throughput; `mode` picks what (facegan/benchmarks/ has one module per mode).

python scripts/benchmark.py mode=data data.root=~/celeba                # data path alone, img/s
python scripts/benchmark.py mode=data data=synthetic model=dcgan64 benchmark.batches=200
"""

from facegan import cli

if __name__ == "__main__":
    cli.benchmark()  # Hydra composes conf/ with the command line's overrides, then runs cli.benchmark_job
