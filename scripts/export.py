"""Export a trained generator as a standalone file, checked against the checkpoint on random z.

    python scripts/export.py ckpt_path=outputs/train/runs/<date>/checkpoints/last.ckpt out=generator.pt
    python scripts/export.py ckpt_path=... format=onnx out=generator.onnx   # pip install -e '.[export]'

Loading the TorchScript file needs only torch: see facegan/tools/export.py for the three lines.
"""

import hydra
from omegaconf import DictConfig

from facegan import cli  # the job, shared with the console script; registers facegan's config resolvers


@hydra.main(version_base="1.3", config_path="../conf", config_name="export")
def main(cfg: DictConfig) -> None:
    cli.export_job(cfg)


if __name__ == "__main__":
    main()
