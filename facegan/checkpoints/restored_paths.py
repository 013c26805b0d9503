"""The checkpoint paths a resume brings back stay inside this run's checkpoint folder.

Resuming restores ModelCheckpoint's record of the files it wrote (the last, the best, the k-th best and the top k),
and Lightning later deletes the ones it counts as old by those paths. A checkpoint is data that may come from
anywhere, and Lightning's own guard compares the paths unresolved (`<run>/checkpoints/../../x` passes it), so every
restored path is resolved (`..` and symlinks followed) and kept only when it lies inside this callback's folder:
nothing outside the run is ever deleted. The saved `dirpath` is only compared with this run's, never used as a folder.
"""

import logging
from pathlib import Path
from typing import Any

from pytorch_lightning.callbacks import ModelCheckpoint

log = logging.getLogger(__name__)

RESTORED_PATHS = ("best_model_path", "kth_best_model_path", "last_model_path")


def is_inside(path: object, folder: Path) -> bool:
    return isinstance(path, str) and folder in Path(path).resolve().parents


class RunFolderModelCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint, resuming only the paths that lie inside its own folder."""

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        folder = Path(self.dirpath).resolve()
        state = dict(state_dict)
        top_k = state.get("best_k_models", {})
        named = [*top_k, *(state.get(key) for key in RESTORED_PATHS)]
        outside = [path for path in named if path and not is_inside(path, folder)]
        if not outside:
            return super().load_state_dict(state_dict)
        log.warning(
            "Resuming: the checkpoint lists %s as this run's, outside its folder %s: dropped, never deleted",
            ", ".join(dict.fromkeys(map(str, outside))),
            folder,
        )
        state["best_k_models"] = kept = {path: score for path, score in top_k.items() if path not in outside}
        if state.get("kth_best_model_path") in outside and kept:
            # Lightning pops the k-th best from best_k_models once it holds k: it must be one of them
            worst = max if self.mode == "min" else min
            state["kth_best_model_path"] = worst(kept, key=kept.get)
            state["kth_value"] = kept[state["kth_best_model_path"]]
        for key in RESTORED_PATHS:
            if state.get(key) in outside:
                state[key] = ""
        super().load_state_dict(state)
