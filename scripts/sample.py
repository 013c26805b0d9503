"""Images from a trained generator, on the CPU by default (GPU-trained checkpoints load anywhere).

python scripts/sample.py ckpt_path=outputs/train/runs/<date>/checkpoints/last.ckpt
python scripts/sample.py ckpt_path=... num_samples=64 seed=0 outdir=outputs/sample
python scripts/sample.py ckpt_path=... truncation=0.7          # more typical, less varied faces
python scripts/sample.py ckpt_path=... interpolate=true walks=8 steps=10
"""

from facegan import runtime
from facegan.runtime import startup

with startup.imports_without_gc():  # faster start-up and exit: facegan/runtime/startup.py
    import hydra
    from omegaconf import DictConfig

    from facegan.errors import exit_on_user_error
    from facegan.tools.sample import sample

    runtime.register()  # facegan's config resolvers and strategy, before Hydra composes a config


@hydra.main(version_base="1.3", config_path="../conf", config_name="sample")
def main(cfg: DictConfig) -> None:
    with exit_on_user_error():
        sample(cfg)


if __name__ == "__main__":
    main()
