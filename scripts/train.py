"""Train a DCGAN on faces.

python scripts/train.py                                   # CelebA from data.root (default ./data/celeba)
python scripts/train.py data=synthetic                    # built-in synthetic faces, no download
python scripts/train.py data.root=~/celeba model=dcgan64 loss=lsgan
python scripts/train.py trainer.accelerator=cpu trainer.devices=2
python scripts/train.py -m loss=bce,lsgan model=dcgan32,dcgan64
torchrun --standalone --nproc-per-node 8 scripts/train.py     # one process per GPU (docs/SCALING.md)
python scripts/train.py -m hydra/launcher=slurm hydra.launcher.nodes=2 hydra.launcher.gpus_per_node=8
"""

import hydra
from omegaconf import DictConfig

from facegan import cli  # the job, shared with the console script; registers facegan's config resolvers


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    return cli.train_job(cfg)


if __name__ == "__main__":
    main()
