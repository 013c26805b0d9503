"""Export a trained generator as a standalone file, checked against the checkpoint on random z.

    python scripts/export.py ckpt_path=outputs/train/runs/<date>/checkpoints/last.ckpt out=generator.pt
    python scripts/export.py ckpt_path=... format=onnx out=generator.onnx   # pip install -e '.[export]'

Loading the TorchScript file needs only torch: see facegan/tools/export.py for the three lines.
"""

from facegan import cli

if __name__ == "__main__":
    cli.export()  # Hydra composes conf/ with the command line's overrides, then runs cli.export_job
