"""Save checkpoints/last.ckpt when a run is stopped (SIGTERM, Ctrl-C, submitit's SIGUSR2) and every N batches.

SIGTERM (SLURM preemption, `kill`, a container stop): Lightning finishes the batch in flight, agrees on it
across processes (it broadcasts rank 0's flag every batch) and raises SIGTERMException; this callback then
writes last.ckpt, so the run resumes with `ckpt_path=<run>/checkpoints/last.ckpt`.

Ctrl-C and SIGUSR2 (the signal submitit sends before a SLURM job's time limit) may reach only some of the
processes of a run. Each process notes the signal; every `agree_every_n_batches` batches the processes agree
(one all-reduce) on whether any of them got one, so all of them save the same last.ckpt at the same batch and
stop together: none is left waiting in a collective the others have left. Then Ctrl-C stops the run (exit
130), and SIGUSR2 hands over to the handler that was there before (submitit's: requeue the job, whose restart
resumes from last.ckpt), or stops the run (exit 140) when there was none. A second Ctrl-C aborts at once.
`every_n_batches` bounds what a `kill -9` can lose.
"""

import logging
import signal
import threading
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.exceptions import SIGTERMException

from facegan.errors import ConfigError

log = logging.getLogger(__name__)

# The signals this callback agrees on across processes; when several arrive, the later in this tuple wins
# (a job that must be requeued is requeued, even if someone also pressed Ctrl-C).
AGREED_SIGNALS = (signal.SIGINT, signal.SIGUSR2)


class StoppedBySignal(Exception):
    """Raised on every process at the batch they agreed to stop at, after last.ckpt was saved."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


class PreemptionCheckpoint(pl.Callback):
    def __init__(
        self, dirpath: str, every_n_batches: int = 0, filename: str = "last.ckpt", agree_every_n_batches: int = 10
    ):
        if every_n_batches < 0:
            raise ConfigError(f"checkpoint.every_n_batches={every_n_batches}: use 0 (off) or a positive count")
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
        if self._received is None or AGREED_SIGNALS.index(signum) > AGREED_SIGNALS.index(self._received):
            self._received = signum
        log.warning(
            "%s: finishing this batch, saving %s, then stopping%s",
            signal.Signals(signum).name,
            self.path,
            " (Ctrl-C again to abort now)" if signum == signal.SIGINT else "",
        )

    def on_train_start(self, trainer, pl_module) -> None:
        if threading.current_thread() is threading.main_thread():  # signal handlers live on the main thread
            for signum in AGREED_SIGNALS:
                self._previous_handlers[signum] = signal.signal(signum, self._on_signal)

    def on_train_end(self, trainer, pl_module) -> None:
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._previous_handlers = {}

    def save(self, trainer: pl.Trainer, reason: str) -> None:
        trainer.save_checkpoint(self.path, weights_only=False)
        if trainer.is_global_zero:
            log.warning("%s: saved %s; resume with ckpt_path=%s", reason, self.path, self.path)

    def agreed_signal(self, trainer: pl.Trainer, pl_module) -> int | None:
        """The signal every process stops for at this batch: this process's own when it runs alone, else the
        strongest any process got, read at the batches they all check at."""
        if trainer.world_size == 1 or not torch.distributed.is_initialized():
            return self._received
        if pl_module.batches_done % self.agree_every_n_batches:
            return None
        code = 0 if self._received is None else AGREED_SIGNALS.index(self._received) + 1
        flag = torch.tensor([code], device=trainer.strategy.root_device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        agreed = int(flag.item())
        return None if agreed == 0 else AGREED_SIGNALS[agreed - 1]

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        signum = self.agreed_signal(trainer, pl_module)
        if signum is not None:
            self.save(trainer, signal.Signals(signum).name)
            previous = self._previous_handlers.get(signum)
            self.on_train_end(trainer, pl_module)
            if signum == signal.SIGUSR2 and callable(previous):
                previous(signum, None)  # submitit: rank 0 requeues the job and exits, the others return
            raise StoppedBySignal(signum)
        if self.every_n_batches and pl_module.batches_done % self.every_n_batches == 0:
            trainer.save_checkpoint(self.path, weights_only=False)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if isinstance(exception, SIGTERMException):  # raised between batches: the state is consistent
            self.save(trainer, "SIGTERM")
