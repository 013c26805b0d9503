"""Every rule of a training config, checked before the run folder exists and before anything heavy is built.

Each rule has one home, worded once (facegan/errors.py words the common kinds):
- an object's own settings are checked by its constructor: the datamodule (`data.*`), the networks
  (`model.*`), the loss (`loss.*`), the EMA, DiffAugment (`augment.*`), the divergence monitor (`divergence.*`),
  the metric settings (`metrics.*`) and the speed settings (`performance.*`). `check_config` builds those cheap
  objects, so their rules run here too, before any file is written;
- the settings no facegan object owns (the seed, the optimizers' learning rates, Lightning's trainer, the
  checkpoint intervals, the process watch) and the rules between groups live here.
"""

import copy
import re
from pathlib import Path

import hydra
from hydra.errors import InstantiationException
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

from facegan.assembly import build_module
from facegan.checkpoints.resume import check_checkpoint_matches, resolve_ckpt_path
from facegan.errors import (
    ConfigError,
    exit_on_user_error,
    require_boolean,
    require_integer,
    require_positive,
    user_errors_unwrapped,
)
from facegan.fileio import writable_folder_error
from facegan.runtime.devices import asks_for_gpu, requested_processes, training_device_type, visible_gpus
from facegan.runtime.distributed import follow_launcher_layout, launcher_rank
from facegan.runtime.performance import resolve_performance
from facegan.runtime.run_claim import claim_run_folder, release_run_folder

MODEL_SIZES = (32, 64, 128)  # conf/model/dcgan<size>.yaml and resnet<size>.yaml

# (config key, smallest allowed value, an example): integer settings that no facegan object owns.
INTEGER_MINIMUMS = (
    ("seed", 0, 42),
    ("trainer.max_epochs", -1, 10),  # -1: no limit (with trainer.max_time)
    ("trainer.max_steps", -1, 1000),
    ("trainer.log_every_n_steps", 1, 10),
    ("checkpoint.every_n_batches", 0, 500),
    ("checkpoint.keep_epochs", -1, 3),  # -1 keeps every epoch's
)
# (config key, an example): numbers > 0 that no facegan object owns (torch's optimizers accept a zero rate).
POSITIVE_NUMBERS = (
    ("optimizer.generator.lr", 2e-4),
    ("optimizer.discriminator.lr", 2e-4),
    ("processes.peer_timeout_s", 60),
)
BOOLEANS = ("trainer.deterministic",)


def check_unowned_values(cfg: DictConfig) -> None:
    for key, minimum, example in INTEGER_MINIMUMS:
        value = OmegaConf.select(cfg, key, default=None)
        if value is not None:
            require_integer(key, value, minimum, example)
    for key, example in POSITIVE_NUMBERS:
        value = OmegaConf.select(cfg, key, default=None)
        if value is not None:
            require_positive(key, value, example)
    for key in BOOLEANS:
        value = OmegaConf.select(cfg, key, default=None)
        if value is not None:
            require_boolean(key, value)
    if "precision" in cfg.trainer:
        raise ConfigError(
            f"trainer.precision={cfg.trainer.precision}: facegan sets the precision with performance.precision "
            f"(auto picks it per device): use performance.precision={cfg.trainer.precision}"
        )


def check_feature_cache_folder(cfg: DictConfig) -> None:
    """The real-image features of FID/KID are first saved after epoch 1: say now if they cannot be."""
    folder = OmegaConf.select(cfg, "metrics.cache_dir", default=None)
    enabled = OmegaConf.select(cfg, "metrics.enabled", default=False)
    if folder is None or enabled is False or (enabled == "auto" and not asks_for_gpu(cfg.trainer)):
        return
    problem = writable_folder_error(folder)
    if problem is not None:
        raise ConfigError(
            f"metrics.cache_dir={folder} cannot hold the FID real-feature cache ({problem}): set paths.cache_dir "
            "(or metrics.cache_dir) to a writable folder, or metrics.enabled=false"
        )


def check_between_groups(cfg: DictConfig) -> None:
    data_size, model_size = cfg.data.image_size, cfg.model.image_size
    if data_size != model_size:
        size_models = ", ".join(f"model=dcgan{size}" for size in MODEL_SIZES)
        raise ConfigError(
            f"data.image_size={data_size} does not match model.image_size={model_size}: drop the data.image_size "
            f"override (it follows the model) or choose a model of another size ({size_models})"
        )
    trainer = cfg.trainer
    unlimited = trainer.get("max_epochs") in (None, -1) and trainer.get("max_steps", -1) in (None, -1)
    if unlimited and trainer.get("max_time") is None:
        raise ConfigError(
            "trainer.max_epochs, trainer.max_steps and trainer.max_time are all unset: set one, "
            "e.g. trainer.max_epochs=10 or trainer.max_time=00:02:00:00"
        )
    if trainer.get("max_epochs") == 0:
        raise ConfigError("trainer.max_epochs=0 trains nothing: give a positive count, or -1 with trainer.max_time")
    if asks_for_gpu(trainer) and visible_gpus() == 0:
        raise ConfigError(f"trainer.accelerator={trainer.accelerator} but no CUDA GPU is visible: use trainer=cpu")
    processes = requested_processes(trainer)
    if asks_for_gpu(trainer) and processes > visible_gpus() * int(trainer.get("num_nodes", 1)):
        raise ConfigError(
            f"trainer.devices={trainer.devices} asks for more GPUs than the {visible_gpus()} visible: "
            "lower trainer.devices"
        )
    if trainer.get("sync_batchnorm") and processes > 1 and training_device_type(trainer) != "cuda":
        raise ConfigError(
            "trainer.sync_batchnorm=true needs GPUs (PyTorch's SyncBatchNorm has no CPU version): "
            "drop it on the CPU, each process then normalises over its own data.batch_size"
        )
    check_feature_cache_folder(cfg)


UNKNOWN_SETTING = re.compile(r"unexpected keyword argument '(\w+)'[\s\S]*full_key: ([\w.]+)")


def unknown_setting(error: InstantiationException) -> ConfigError | None:
    """A key the object does not take (e.g. data.num_images of the synthetic faces left over after data=celeba)."""
    match = UNKNOWN_SETTING.search(str(error))
    if match is None:
        return None
    key = f"{match.group(2)}.{match.group(1)}"
    return ConfigError(f"{key} is not a setting of {match.group(2)}: drop it (~{key}) or check its spelling")


def build_cheap_objects(cfg: DictConfig) -> None:
    """Construct what owns its settings' rules: no file is read beyond listing the data, none is written."""
    try:
        with user_errors_unwrapped():
            hydra.utils.instantiate(cfg.data)
            hydra.utils.instantiate(cfg.metrics)
            build_module(cfg, resolve_performance(cfg))  # networks, loss, EMA, DiffAugment, divergence, optimizers
    except InstantiationException as error:
        known = unknown_setting(error)
        if known is None:
            raise
        raise known from None


def check_config(cfg: DictConfig) -> None:
    """Raise a one-line ConfigError for any value that cannot work. Under torchrun or SLURM the launcher's process
    layout is written into cfg.trainer first, as training uses it."""
    follow_launcher_layout(cfg.trainer)
    check_unowned_values(cfg)
    check_between_groups(cfg)
    build_cheap_objects(cfg)


def named_run_folder(config: DictConfig) -> Path | None:
    """hydra.run.dir when the user named it; None when facegan names it by the clock (a new folder, free by
    construction), which is left unresolved here: resolving it creates the folder."""
    raw = OmegaConf.to_container(config.hydra.run, resolve=False)["dir"]
    return None if "${facegan.run_folder:" in str(raw) else Path(str(config.hydra.run.dir)).expanduser()


def check_resume(cfg: DictConfig) -> None:
    """ckpt_path and the run folder, as train() will use them: a named folder that holds another run's outputs, a
    checkpoint that is not there or holds another model."""
    ckpt_path = resolve_ckpt_path(cfg)
    if ckpt_path is not None:
        check_checkpoint_matches(ckpt_path, cfg.model)


class CheckBeforeRunFolder(Callback):
    """Hydra callback: a single run's checks before Hydra creates or writes its run folder, so that a refused
    launch leaves nothing behind and touches no other run's files (conf/hydra/default.yaml): the config, then the
    folder and checkpoint it resumes when the user named the folder, which it then claims for this launch
    (runtime/run_claim.py; released when the run ends). Each job of a multirun is checked in the job itself: its
    failure is recorded there and the sweep goes on (facegan/tools/sweep_summary.py)."""

    def __init__(self) -> None:
        self.claim: Path | None = None

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        if launcher_rank() != 0:  # a process Lightning, torchrun or srun started for a run rank 0 checked
            return
        cfg = copy.deepcopy(config)
        with open_dict(cfg), exit_on_user_error():
            check_config(cfg)
            run_dir = named_run_folder(cfg)
            if run_dir is None:
                return
            if run_dir.exists() and not run_dir.is_dir():
                raise ConfigError(f"hydra.run.dir={run_dir} is a file, not a folder: give a folder")
            cfg.paths.output_dir = str(run_dir)
            check_resume(cfg)
            self.claim = claim_run_folder(run_dir)

    def on_run_end(self, config: DictConfig, **kwargs) -> None:
        if self.claim is not None:
            release_run_folder(self.claim)
