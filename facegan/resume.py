"""Resolve and vet `ckpt_path` before any heavy work: `last` finds the newest run's last.ckpt, a run that its
scheduler restarted resumes from its own checkpoints, and a checkpoint of a different model is refused with a
one-line error instead of a state_dict traceback."""

import logging
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from facegan.distributed import launcher_restart_count
from facegan.errors import ConfigError

log = logging.getLogger(__name__)

# The settings that shape the networks' state_dict, with the value a checkpoint written before the setting
# existed was trained with (spectral norm replaces D's BatchNorm and renames its conv weights).
NETWORK_KEYS = {"image_size": None, "latent_dim": None, "ngf": None, "ndf": None, "spectral_norm": False}


def find_last_checkpoint(runs_root: Path, exclude: Path | None = None) -> Path:
    candidates = [
        path
        for path in runs_root.glob("**/checkpoints/last.ckpt")
        if exclude is None or exclude.resolve() not in path.resolve().parents
    ]
    if not candidates:
        raise ConfigError(f"ckpt_path=last: no checkpoints/last.ckpt under {runs_root}: give the checkpoint's path")
    return max(candidates, key=lambda path: path.stat().st_mtime)


def own_checkpoint_after_restart(output_dir: Path) -> Path | None:
    """The newest checkpoint in this run's own folder when the scheduler restarted the run (a SLURM requeue after
    preemption or timeout, torchrun --max-restarts): it reruns in the same folder and goes on from there.
    Lightning's SLURM auto-requeue saves hpc_ckpt_N.ckpt there instead of checkpoints/last.ckpt."""
    restarts = launcher_restart_count()
    if restarts == 0:
        return None
    candidates = (output_dir / "checkpoints" / "last.ckpt", *output_dir.glob("hpc_ckpt_*.ckpt"))
    saved = [path for path in candidates if path.is_file()]
    if not saved:
        return None
    newest = max(saved, key=lambda path: path.stat().st_mtime)
    log.info("Restart %d of this run: resuming from its own %s", restarts, newest)
    return newest


def resolve_ckpt_path(cfg: DictConfig) -> str | None:
    """The checkpoint file to resume from (None: start fresh)."""
    restarted = own_checkpoint_after_restart(Path(cfg.paths.output_dir))
    if restarted is not None:
        return str(restarted)
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path is None:
        return None
    if ckpt_path == "last":
        runs_root = Path(cfg.paths.log_dir) / cfg.task_name
        return str(find_last_checkpoint(runs_root, exclude=Path(cfg.paths.output_dir)))
    path = Path(ckpt_path).expanduser()
    if not path.is_file():
        raise ConfigError(f"ckpt_path={ckpt_path} is not a file: give a .ckpt path (e.g. <run>/checkpoints/last.ckpt) or ckpt_path=last")
    return str(path)


def check_checkpoint_matches(ckpt_path: str, model_cfg: DictConfig) -> None:
    """Refuse a checkpoint whose networks differ from the configured model."""
    try:
        checkpoint = torch.load(ckpt_path, map_location="cpu", mmap=True, weights_only=False)
    except Exception as error:  # truncated file, not a torch file, wrong format: all mean the same to a user
        raise ConfigError(f"ckpt_path={ckpt_path} is not a readable checkpoint ({type(error).__name__}: {error})") from None
    saved = (checkpoint.get("hyper_parameters") or {}).get("network_config")
    if saved is None:
        raise ConfigError(f"ckpt_path={ckpt_path} was not written by facegan (no network_config): pick a facegan checkpoint")
    wanted = OmegaConf.to_container(model_cfg, resolve=True)
    differences = {
        key: saved.get(key, unsaved)
        for key, unsaved in NETWORK_KEYS.items()
        if saved.get(key, unsaved) != wanted.get(key, unsaved)
    }
    if differences:
        listed = ", ".join(
            f"model.{key}={_as_override(value)} (this run: {_as_override(wanted.get(key))})"
            for key, value in differences.items()
        )
        fix = " ".join(
            f"model=dcgan{value}" if key == "image_size" else f"model.{key}={_as_override(value)}"
            for key, value in differences.items()
        )
        raise ConfigError(f"ckpt_path={ckpt_path} holds a different model: {listed}; resume with the same model settings: {fix}")


def _as_override(value) -> str:
    """A value as it is typed on the command line (Hydra spells booleans in lower case)."""
    return str(value).lower() if isinstance(value, bool) else str(value)
