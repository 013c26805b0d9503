"""Resolve and vet `ckpt_path` before any heavy work: `last` is the run folder's own last.ckpt when hydra.run.dir
names a run that has one, else the newest run's last.ckpt; a run that its scheduler restarted resumes from its
own checkpoints, and a checkpoint of a different model is refused with a one-line error instead of a state_dict
traceback."""

import logging
import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from facegan.checkpoints.io import read_checkpoint
from facegan.errors import ConfigError
from facegan.runtime.distributed import launcher_restart_count

log = logging.getLogger(__name__)

# The settings that shape the networks' state_dict (spectral norm replaces D's BatchNorm and renames its weights).
NETWORK_KEYS = ("family", "image_size", "latent_dim", "ngf", "ndf", "spectral_norm")


def find_last_checkpoint(runs_root: Path, checkpoint_subdir: Path, exclude: Path | None = None) -> Path:
    """The newest <run>/<checkpoint_subdir>/last.ckpt under `runs_root`, leaving out the folder `exclude`."""
    candidates = [
        path
        for path in runs_root.glob(f"**/{checkpoint_subdir.as_posix()}/last.ckpt")
        if exclude is None or exclude.resolve() not in path.resolve().parents
    ]
    if not candidates:
        raise ConfigError(
            f"ckpt_path=last: no {checkpoint_subdir.as_posix()}/last.ckpt under {runs_root}: give the checkpoint's path"
        )
    return max(candidates, key=lambda path: path.stat().st_mtime)


def own_checkpoint_after_restart(output_dir: Path, checkpoint_dir: Path) -> Path | None:
    """The newest checkpoint in this run's own folder when the scheduler restarted the run (a SLURM requeue after
    preemption or timeout, torchrun --max-restarts): it reruns in the same folder and goes on from there.
    Lightning's SLURM auto-requeue saves hpc_ckpt_N.ckpt there instead of checkpoints/last.ckpt."""
    restarts = launcher_restart_count()
    if restarts == 0:
        return None
    candidates = (checkpoint_dir / "last.ckpt", *output_dir.glob("hpc_ckpt_*.ckpt"))
    saved = [path for path in candidates if path.is_file()]
    if not saved:
        return None
    newest = max(saved, key=lambda path: path.stat().st_mtime)
    log.info("Restart %d of this run: resuming from its own %s", restarts, newest)
    return newest


# What a run writes into its folder (Hydra's own .hydra/ and train.log come first, from every launch).
RUN_OUTPUTS = ("checkpoints", "tensorboard", "samples", "metrics.jsonl", "loss_plot.png")


def check_run_folder_is_free(output_dir: Path, checkpoint_dir: Path) -> None:
    """A fresh run never writes into another run's folder (its curves would overlay, its checkpoints mix)."""
    taken = [name for name in RUN_OUTPUTS if (output_dir / name).exists()]
    if checkpoint_dir.is_dir() and any(checkpoint_dir.glob("*.ckpt")) and "checkpoints" not in taken:
        taken.append(str(checkpoint_dir))
    if taken:
        raise ConfigError(
            f"hydra.run.dir={output_dir} holds another run's outputs ({', '.join(taken)}): resume it with "
            f"ckpt_path={checkpoint_dir / 'last.ckpt'}, or give a new hydra.run.dir"
        )


def resolve_ckpt_path(cfg: DictConfig) -> str | None:
    """The checkpoint file to resume from (None: start fresh, in a folder no other run wrote to)."""
    output_dir, checkpoint_dir = Path(cfg.paths.output_dir), Path(cfg.paths.checkpoint_dir)
    restarted = own_checkpoint_after_restart(output_dir, checkpoint_dir)
    if restarted is not None:
        return str(restarted)
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path is None:
        if launcher_restart_count() == 0:
            check_run_folder_is_free(output_dir, checkpoint_dir)
        return None
    if ckpt_path == "last":
        own = checkpoint_dir / "last.ckpt"
        if own.is_file():  # hydra.run.dir names a run: it goes on in place
            return str(own)
        runs_root = Path(cfg.paths.log_dir) / cfg.task_name
        checkpoint_subdir = Path(os.path.relpath(checkpoint_dir, output_dir))  # paths.checkpoint_dir inside a run
        return str(find_last_checkpoint(runs_root, checkpoint_subdir, exclude=output_dir))
    path = Path(ckpt_path).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"ckpt_path={ckpt_path} is not a file: give a .ckpt path (e.g. <run>/checkpoints/last.ckpt) "
            "or ckpt_path=last"
        )
    return str(path)


def check_checkpoint_matches(ckpt_path: str, model_cfg: DictConfig) -> None:
    """Refuse a checkpoint whose networks differ from the configured model."""
    checkpoint = read_checkpoint(ckpt_path, mmap=True)
    saved = (checkpoint.get("hyper_parameters") or {}).get("network_config")
    if saved is None:
        raise ConfigError(
            f"ckpt_path={ckpt_path} was not written by facegan (no network_config): pick a facegan checkpoint"
        )
    wanted = OmegaConf.to_container(model_cfg, resolve=True)
    differences = {key: saved.get(key) for key in NETWORK_KEYS if saved.get(key) != wanted.get(key)}
    if differences:
        listed = ", ".join(
            f"model.{key}={_as_override(value)} (this run: {_as_override(wanted.get(key))})"
            for key, value in differences.items()
        )
        saved_model = f"model={saved.get('family')}{saved.get('image_size')}"
        fix = " ".join(
            dict.fromkeys(
                saved_model if key in ("family", "image_size") else f"model.{key}={_as_override(value)}"
                for key, value in differences.items()
            )
        )
        raise ConfigError(
            f"ckpt_path={ckpt_path} holds a different model: {listed}; resume with the same model settings: {fix}"
        )


def _as_override(value) -> str:
    """A value as it is typed on the command line (Hydra spells booleans in lower case)."""
    return str(value).lower() if isinstance(value, bool) else str(value)
