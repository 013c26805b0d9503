"""Save checkpoints/last.ckpt when a run is stopped (SIGTERM, Ctrl-C, submitit's SIGUSR2) and every N batches.

A stop signal may reach only some of the processes of a run (`kill` of one process, a node's own SIGTERM).
While training runs, each process notes the signal; every `agree_every_n_batches` batches the processes agree
(one all-reduce) on whether any of them got one, so all of them save the same last.ckpt at the same batch and
stop together: none is left waiting in a collective the others have left. Then SIGTERM stops the run (exit
143, what schedulers expect), Ctrl-C too (exit 130), and SIGUSR2 hands over to the handler that was there
before (submitit's: requeue the job, whose restart resumes from last.ckpt), or stops the run (exit 140) when
there was none. A signal still unsettled when training ends (e.g. during the last evaluation) stops the run
there, after the final checkpoints. A second Ctrl-C aborts at once. Before and after training,
facegan/runtime/stop_signals.py handles the same signals. `every_n_batches` bounds what a `kill -9` can lose.
"""

import logging
import signal
import threading
from pathlib import Path

import pytorch_lightning as pl
import torch

from facegan.errors import ConfigError
from facegan.runtime.distributed import across_processes
from facegan.runtime.stop_signals import STOP_SIGNALS, StoppedBySignal, strongest

log = logging.getLogger(__name__)


class PreemptionCheckpoint(pl.Callback):
    def __init__(
        self, dirpath: str, every_n_batches: int = 0, filename: str = "last.ckpt", agree_every_n_batches: int = 10
    ):
        if agree_every_n_batches < 1:
            raise ConfigError(f"agree_every_n_batches={agree_every_n_batches} must be >= 1, e.g. 10")
        self.path = Path(dirpath) / filename
        self.every_n_batches = every_n_batches
        self.agree_every_n_batches = agree_every_n_batches
        self._received: int | None = None  # the signal this process got, until the processes agree
        self._previous_handlers: dict[int, object] = {}

    def _on_signal(self, signum, frame) -> None:
        if signum == signal.SIGINT and self._received == signal.SIGINT:  # second Ctrl-C: stop now, unsaved
            raise KeyboardInterrupt
        self._received = strongest(self._received, signum)
        log.warning(
            "%s: finishing this batch, saving %s, then stopping%s",
            signal.Signals(signum).name,
            self.path,
            " (Ctrl-C again to abort now)" if signum == signal.SIGINT else "",
        )

    def on_train_start(self, trainer, pl_module) -> None:
        if threading.current_thread() is threading.main_thread():  # signal handlers live on the main thread
            for signum in STOP_SIGNALS:  # over Lightning's SIGTERM handler, which only rank 0's signal moves
                self._previous_handlers[signum] = signal.signal(signum, self._on_signal)

    def restore_handlers(self) -> None:
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._previous_handlers = {}

    def on_train_end(self, trainer, pl_module) -> None:
        signum = self.agreed_signal(trainer, pl_module, at_end=True)
        self.restore_handlers()
        if signum is not None:  # the final checkpoints are written: stop as the signal asks, not as a success
            raise StoppedBySignal(signum)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self.restore_handlers()

    def save(self, trainer: pl.Trainer, reason: str) -> None:
        trainer.save_checkpoint(self.path, weights_only=False)
        if trainer.is_global_zero:
            log.warning("%s: saved %s; resume with ckpt_path=%s", reason, self.path, self.path)

    def agreed_signal(self, trainer: pl.Trainer, pl_module, at_end: bool = False) -> int | None:
        """The signal every process stops for at this batch: this process's own when it runs alone, else the
        strongest any process got, read at the batches they all check at (and once more when training ends)."""
        if trainer.world_size == 1 or not torch.distributed.is_initialized():
            return self._received
        if pl_module.batches_done % self.agree_every_n_batches and not at_end:
            return None
        code = 0 if self._received is None else STOP_SIGNALS.index(self._received) + 1
        flag = torch.tensor([code], device=trainer.strategy.root_device)
        agreed = int(across_processes(flag, torch.distributed.ReduceOp.MAX).item())
        return None if agreed == 0 else STOP_SIGNALS[agreed - 1]

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        signum = self.agreed_signal(trainer, pl_module)
        if signum is not None:
            self.save(trainer, signal.Signals(signum).name)
            previous = self._previous_handlers.get(signum)
            self.restore_handlers()
            if signum == signal.SIGUSR2 and callable(previous):
                previous(signum, None)  # submitit: rank 0 requeues the job and exits, the others return
            raise StoppedBySignal(signum)
        if self.every_n_batches and pl_module.batches_done % self.every_n_batches == 0:
            trainer.save_checkpoint(self.path, weights_only=False)
