"""A data-parallel strategy that suits a G/D pair under manual optimisation.

Lightning's default DDP wraps the whole LightningModule in one DistributedDataParallel. A GAN step
runs two backward passes per forward, and D's pass leaves G's parameters without gradients, so
DDP fails ("parameters that were not used in producing the loss") unless find_unused_parameters
scans the autograd graph on every backward, which is slow. Here the module is not wrapped: every
rank starts from rank 0's weights, and just before each optimizer step the gradients of exactly
that optimizer's parameters are averaged across ranks in one flat all-reduce. Same maths as DDP,
one collective per update, no graph scan.

Every process also runs a PeerWatch (facegan/runtime/peer_watch.py): when one process dies, the others stop
within `peer_timeout_s` with one line naming it, instead of waiting in a collective.
"""

import os
import traceback
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
from lightning_fabric.strategies.launchers.subprocess_script import _ChildProcessObserver
from lightning_fabric.utilities.distributed import _set_num_threads_if_needed
from pytorch_lightning.overrides.distributed import _sync_module_states
from pytorch_lightning.strategies import DDPStrategy
from pytorch_lightning.strategies.launchers.subprocess_script import _SubprocessScriptLauncher
from pytorch_lightning.trainer.states import TrainerStatus
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

from facegan.runtime.peer_watch import FAILED, FINISHED, STOPPED, PeerWatch
from facegan.runtime.stop_signals import StoppedBySignal

STRATEGY_NAME = "gan_ddp"


def average_gradients(optimizer: torch.optim.Optimizer, world_size: int) -> None:
    """All-reduce (mean) the gradients of the optimizer's parameters, batched into one flat buffer."""
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    if not grads or world_size == 1:
        return
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    flat.div_(world_size)
    for grad, averaged in zip(grads, _unflatten_dense_tensors(flat, grads)):
        grad.copy_(averaged)


class GANDDPStrategy(DDPStrategy):
    """DDP processes and launcher, with gradient averaging per optimizer step instead of a DDP wrapper."""

    strategy_name = STRATEGY_NAME

    def __init__(self, *args: Any, peer_timeout_s: float = 60.0, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.peer_timeout_s = peer_timeout_s
        self.peer_watch: PeerWatch | None = None

    def _configure_launcher(self) -> None:
        super()._configure_launcher()
        if isinstance(self._launcher, _SubprocessScriptLauncher):  # trainer.devices=N without torchrun or SLURM
            self._launcher = WatchedScriptLauncher(self.cluster_environment, self.num_processes, self.num_nodes)

    def setup_distributed(self) -> None:
        super().setup_distributed()
        if self.world_size > 1:  # from here on (the cache build included) a dead peer stops this process
            self.peer_watch = PeerWatch(self.global_rank, self.world_size, timeout_s=self.peer_timeout_s)
            self.peer_watch.start()

    def on_exception(self, exception: BaseException) -> None:
        if self.peer_watch is not None:
            if failed_collective(exception):  # a peer is gone: the watch names it and exits
                self.peer_watch.await_verdict()
            self.peer_watch.leave(STOPPED if isinstance(exception, StoppedBySignal) else FAILED)
        super().on_exception(exception)

    def teardown(self) -> None:
        if self.peer_watch is not None:
            self.peer_watch.leave(FINISHED)
            trainer = self.lightning_module.trainer if self.lightning_module is not None else None
            if trainer is not None and trainer.state.status != TrainerStatus.INTERRUPTED:
                self.barrier("peer_watch_finished")  # no process leaves while another still watches it
            self.peer_watch.stop()
            self.peer_watch = None
        super().teardown()

    def configure_ddp(self) -> None:
        # No wrapper: start every rank from rank 0's weights and buffers (e.g. the fixed noise).
        _sync_module_states(self.model)

    def optimizer_step(self, optimizer: Any, closure: Callable[[], Any], model: Any = None, **kwargs: Any) -> Any:
        average_gradients(optimizer, self.world_size)
        return super().optimizer_step(optimizer, closure, model, **kwargs)


class WatchedScriptLauncher(_SubprocessScriptLauncher):
    """Lightning's launcher of the further processes of `trainer.devices=N`, whose observer of those processes
    stays quiet while PeerWatch runs: Lightning's would kill the whole run with SIGKILL a few seconds after a
    child died, before the watch could name it in a line of its own and exit."""

    def launch(self, function: Callable, *args: Any, trainer: Any = None, **kwargs: Any) -> Any:
        self.cluster_environment.validate_settings(num_devices=self.num_processes, num_nodes=self.num_nodes)
        if not self.cluster_environment.creates_processes_externally:
            self._call_children_scripts()
            ObserverUnlessWatched(child_processes=self.procs, main_pid=os.getpid()).start()
        _set_num_threads_if_needed(num_processes=self.num_processes)
        return function(*args, **kwargs)


class ObserverUnlessWatched(_ChildProcessObserver):
    """Lightning's observer, before the processes' PeerWatch starts (a child dying while the process group forms)
    and after it stops."""

    def _run(self) -> bool:
        return False if PeerWatch.running else super()._run()


def failed_collective(exception: BaseException) -> bool:
    """Whether `exception` came out of torch.distributed (a collective or the store), as a dead peer causes."""
    return isinstance(exception, RuntimeError) and any(
        "torch/distributed" in frame.filename.replace("\\", "/")
        for frame in traceback.extract_tb(exception.__traceback__)
    )
