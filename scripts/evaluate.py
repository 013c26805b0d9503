"""FID and KID of a trained generator: prints one JSON line (the log goes to stderr).

    python scripts/evaluate.py ckpt_path=outputs/train/runs/<date>/checkpoints/best.ckpt data.root=~/celeba
    python scripts/evaluate.py ckpt_path=... data.root=... metrics.num_samples=10000 device=cuda
    python scripts/evaluate.py ckpt_path=... data.root=../shared/data/celeba_sample \\
        metrics.feature_extractor=../shared/models/inception-2015-12-05.pt metrics.num_samples=200   # offline, CPU
    python scripts/evaluate.py ckpt_path=... data=synthetic    # a run trained on the synthetic faces
"""

import contextlib
import json
import sys

from facegan import runtime
from facegan.runtime import startup

with startup.imports_without_gc():  # faster start-up and exit: facegan/runtime/startup.py
    import hydra
    from omegaconf import DictConfig

    from facegan.errors import exit_on_user_error
    from facegan.tools.evaluate import evaluate

    runtime.register()  # facegan's config resolvers and strategy, before Hydra composes a config


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    with exit_on_user_error():
        with contextlib.redirect_stdout(sys.stderr):  # progress bars too: stdout carries only the JSON line
            result = evaluate(cfg)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
