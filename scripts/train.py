"""Train a DCGAN on faces.

python scripts/train.py                                   # CelebA from data.root (default ./data/celeba)
python scripts/train.py data=synthetic                    # built-in synthetic faces, no download
python scripts/train.py data.root=~/celeba model=dcgan64 loss=lsgan
python scripts/train.py trainer.accelerator=cpu trainer.devices=2
python scripts/train.py -m loss=bce,lsgan model=dcgan32,dcgan64
torchrun --standalone --nproc-per-node 8 scripts/train.py     # one process per GPU (docs/SCALING.md)
python scripts/train.py -m hydra/launcher=slurm hydra.launcher.nodes=2 hydra.launcher.gpus_per_node=8
"""

from facegan import cli

if __name__ == "__main__":
    cli.train()  # Hydra composes conf/ with the command line's overrides, then runs cli.train_job
