"""Export a trained generator as a standalone file, checked against the checkpoint on random z.

    python scripts/export.py ckpt_path=outputs/train/runs/<date>/checkpoints/last.ckpt out=generator.pt
    python scripts/export.py ckpt_path=... format=onnx out=generator.onnx   # pip install -e '.[export]'

Loading the TorchScript file needs only torch: see facegan/tools/export.py for the three lines.
"""

from facegan import runtime
from facegan.runtime import startup

with startup.imports_without_gc():  # faster start-up and exit: facegan/runtime/startup.py
    import hydra
    from omegaconf import DictConfig

    from facegan.errors import exit_on_user_error
    from facegan.tools.export import export

    runtime.register()  # facegan's config resolvers and strategy, before Hydra composes a config


@hydra.main(version_base="1.3", config_path="../conf", config_name="export")
def main(cfg: DictConfig) -> None:
    with exit_on_user_error():
        export(cfg)


if __name__ == "__main__":
    main()
