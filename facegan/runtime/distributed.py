"""What the launcher that started this process decides: torchrun and SLURM (srun, or submitit through
`hydra/launcher=slurm`) start every training process themselves, so they, not the config, say how many
processes there are, which one this is, whether the run was restarted, and what its folder is called.

    torchrun --standalone --nproc-per-node 8 scripts/train.py trainer.accelerator=gpu
    python scripts/train.py -m hydra/launcher=slurm hydra.launcher.nodes=2 hydra.launcher.gpus_per_node=8

Every process runs scripts/train.py and composes the config itself, so anything that must agree across
processes (the run folder) comes from variables the launcher sets identically on all of them, never a clock.
"""

import functools
import logging
import os
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.distributed as dist
from lightning_fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment
from omegaconf import DictConfig

from facegan.errors import ConfigError, exit_on_user_error

log = logging.getLogger(__name__)

# The global rank as each launcher sets it: torchrun, srun (also under submitit), Lightning's own child processes
# (`trainer.devices=N` without a launcher; those only tell a child from the main process, which is all we ask).
RANK_VARIABLES = ("RANK", "SLURM_PROCID", "LOCAL_RANK")


def launcher_rank() -> int:
    """This process's rank as its launcher set it; 0 for a process started on its own."""
    for name in RANK_VARIABLES:
        if name in os.environ:
            return int(os.environ[name])
    return 0


def on_rank_zero(rank_zero_value, other_ranks_value):
    """Config resolver: one value for rank 0 and another for the rest (Hydra's .hydra/ and log file: rank 0 only)."""
    return rank_zero_value if launcher_rank() == 0 else other_ranks_value


def shared_run_name(single_process_name: str) -> str:
    """Config resolver for the run folder's name: the same in every process of one launch and again after a
    restart or requeue (so the restarted run finds its own checkpoints); `single_process_name` (a timestamp)
    for a process started on its own."""
    if TorchElasticEnvironment.detect():
        run_id = os.environ["TORCHELASTIC_RUN_ID"]
        if run_id == "none":  # torchrun's default when --master-addr/--master-port make the rendezvous
            with exit_on_user_error():  # raised while Hydra sets the run up, where nothing else would format it
                raise ConfigError(
                    "torchrun has no run id, so its processes cannot agree on a run folder: add --rdzv-id=<unique "
                    "name> (e.g. --rdzv-id=$SLURM_JOB_ID), or --standalone on one machine, or set hydra.run.dir"
                )
        return f"torchrun-{run_id}"
    if SLURMEnvironment.detect() and int(os.environ["SLURM_NTASKS"]) > 1 and "SLURM_STEP_ID" in os.environ:
        return f"slurm-{os.environ['SLURM_JOB_ID']}.{os.environ['SLURM_STEP_ID']}"  # the tasks of one srun
    return single_process_name


@functools.cache  # Hydra may resolve a folder more than once: one process claims one folder
def new_folder(parent: str, timestamp: str) -> str:
    """Config resolver for a folder no other launch has: <parent>/<timestamp>, else <timestamp>-2, -3, ...
    (created here, atomically: two launches in the same second never share one). A multirun's sweep folder."""
    folder, attempt = Path(parent) / timestamp, 1
    while True:
        try:
            folder.mkdir(parents=True)  # atomic: of two launches, exactly one creates it
            return str(folder)
        except FileExistsError:
            attempt += 1
            folder = Path(parent) / f"{timestamp}-{attempt}"


def run_folder(parent: str, timestamp: str) -> str:
    """Config resolver for a run's folder: <parent>/<shared_run_name>. A process started on its own claims a
    new folder (`new_folder`); the processes of a torchrun or srun launch, and its restarts, all get the
    launch's."""
    name = shared_run_name(timestamp)
    if name != timestamp:
        return str(Path(parent) / name)
    return new_folder(parent, timestamp)


def launcher_restart_count() -> int:
    """How often the scheduler restarted this run: SLURM requeues (preemption, timeout), torchrun --max-restarts."""
    return max(int(os.environ.get(name, 0)) for name in ("SLURM_RESTART_COUNT", "TORCHELASTIC_RESTART_COUNT"))


def launcher_layout() -> tuple[str, int, int] | None:
    """(launcher, processes per node, nodes) when torchrun or SLURM started this process, else None.

    torchrun is asked first: `srun torchrun ...` sets both, and torchrun's processes are the training ones."""
    if TorchElasticEnvironment.detect():
        per_node = int(os.environ["LOCAL_WORLD_SIZE"])
        return "torchrun", per_node, int(os.environ["WORLD_SIZE"]) // per_node
    if SLURMEnvironment.detect():
        nodes = int(os.environ["SLURM_NNODES"])
        return "SLURM", int(os.environ["SLURM_NTASKS"]) // nodes, nodes
    return None


def follow_launcher_layout(trainer_cfg: DictConfig) -> None:
    """Set trainer.devices and trainer.num_nodes to the processes the launcher started (Lightning refuses any
    other numbers), so the layout is written once: torchrun's flags or hydra.launcher.nodes/gpus_per_node."""
    layout = launcher_layout()
    if layout is None:
        return
    launcher, per_node, nodes = layout
    if launcher_rank() == 0:
        log.info(
            "%s started %d process(es) per node on %d node(s): trainer.devices=%d trainer.num_nodes=%d "
            "(config had %s, %s)",
            launcher,
            per_node,
            nodes,
            per_node,
            nodes,
            trainer_cfg.get("devices"),
            trainer_cfg.get("num_nodes"),
        )
    trainer_cfg.devices = per_node
    trainer_cfg.num_nodes = nodes


def launcher_plugins() -> list:
    """Lightning checks for SLURM before torchrun; under `srun torchrun ...` torchrun's ranks are the real ones."""
    return [TorchElasticEnvironment()] if TorchElasticEnvironment.detect() else []


def log_data_parallel(trainer: pl.Trainer, per_device_batch: int) -> None:
    """One line on rank 0 that says what several processes mean for the batch and the learning rate."""
    if trainer.world_size == 1 or not trainer.is_global_zero:
        return
    strategy = getattr(trainer.strategy, "strategy_name", type(trainer.strategy).__name__)
    log.info(
        "Data-parallel (%s) over %d processes: global batch %d = data.batch_size %d per device x %d; "
        "learning rates are used as configured, not rescaled (docs/SCALING.md)",
        strategy,
        trainer.world_size,
        per_device_batch * trainer.world_size,
        per_device_batch,
        trainer.world_size,
    )


def across_processes(value: torch.Tensor, op: dist.ReduceOp) -> torch.Tensor:
    """`value` reduced in place with `op` over every process of the run (itself when there is one): the one
    collective behind every decision the processes must take together."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(value, op=op)
    return value
