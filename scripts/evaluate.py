"""FID and KID of a trained generator: prints one JSON line (the log goes to stderr).

    python scripts/evaluate.py ckpt_path=outputs/train/runs/<date>/checkpoints/best.ckpt data.root=~/celeba
    python scripts/evaluate.py ckpt_path=... data.root=... metrics.num_samples=10000 device=cuda
    python scripts/evaluate.py ckpt_path=... data.root=~/celeba \\
        metrics.feature_extractor=~/models/inception-2015-12-05.pt metrics.num_samples=200   # offline, CPU
    python scripts/evaluate.py ckpt_path=... data=synthetic    # a run trained on the synthetic faces
"""

from facegan import cli

if __name__ == "__main__":
    cli.evaluate()  # Hydra composes conf/ with the command line's overrides, then runs cli.evaluate_job
