"""The explorer: a local web page on a trained generator (needs the app extra: pip install 'facegan[app]').

python scripts/explore.py ckpt_path=outputs/train/runs/<date>/checkpoints/last.ckpt
python scripts/explore.py ckpt_path=... data.root=~/celeba metrics.feature_extractor=...   # nearest training images
python scripts/explore.py ckpt_path=.../last.ckpt compare_ckpt_path=.../epoch_003.ckpt      # two epochs side by side
"""

from facegan import cli

if __name__ == "__main__":
    cli.explore()  # Hydra composes conf/explore.yaml with the command line's overrides, then runs cli.explore_job
