"""Train a DCGAN on faces.

python scripts/train.py                                   # CelebA from data.root (default ./data/celeba)
python scripts/train.py data=synthetic                    # built-in synthetic faces, no download
python scripts/train.py data.root=~/celeba model=dcgan64 loss=lsgan
python scripts/train.py trainer.accelerator=cpu trainer.devices=2
python scripts/train.py -m loss=bce,lsgan model=dcgan32,dcgan64
torchrun --standalone --nproc-per-node 8 scripts/train.py     # one process per GPU (docs/SCALING.md)
python scripts/train.py -m hydra/launcher=slurm hydra.launcher.nodes=2 hydra.launcher.gpus_per_node=8
"""

from facegan import runtime
from facegan.runtime import startup

with startup.imports_without_gc():  # faster start-up and exit: facegan/runtime/startup.py
    import hydra
    from omegaconf import DictConfig

    from facegan.errors import exit_on_user_error
    from facegan.tools.sweep_summary import run_sweep_job
    from facegan.train import train

    runtime.register()  # facegan's config resolvers and strategy, before Hydra composes a config


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    with exit_on_user_error():
        return run_sweep_job(train, cfg)  # in a multirun, a failed job is recorded and the sweep goes on


if __name__ == "__main__":
    main()
