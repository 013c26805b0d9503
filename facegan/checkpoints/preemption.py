"""Save checkpoints/last.ckpt when a run is stopped (SIGTERM, Ctrl-C) and every N batches.

SIGTERM (SLURM preemption, `kill`, a container stop): Lightning finishes the batch in flight and
raises SIGTERMException; this callback then writes last.ckpt, so the run resumes with
`ckpt_path=<run>/checkpoints/last.ckpt`. Ctrl-C is treated the same way (finish the batch, save,
stop); a second Ctrl-C aborts at once. `every_n_batches` bounds what a `kill -9` can lose.
"""

import logging
import signal
import threading
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.utilities.exceptions import SIGTERMException

from facegan.errors import ConfigError

log = logging.getLogger(__name__)


class PreemptionCheckpoint(pl.Callback):
    def __init__(self, dirpath: str, every_n_batches: int = 0, filename: str = "last.ckpt"):
        if every_n_batches < 0:
            raise ConfigError(f"checkpoint.every_n_batches={every_n_batches}: use 0 (off) or a positive count")
        self.path = Path(dirpath) / filename
        self.every_n_batches = every_n_batches
        self._interrupted = False
        self._previous_sigint = None

    def _on_sigint(self, signum, frame) -> None:
        if self._interrupted:  # second Ctrl-C: stop now, without saving
            raise KeyboardInterrupt
        self._interrupted = True
        log.warning("Ctrl-C: finishing this batch, saving %s, then stopping (Ctrl-C again to abort now)", self.path)

    def on_train_start(self, trainer, pl_module) -> None:
        if threading.current_thread() is threading.main_thread():  # signal handlers live on the main thread
            self._previous_sigint = signal.signal(signal.SIGINT, self._on_sigint)

    def on_train_end(self, trainer, pl_module) -> None:
        if self._previous_sigint is not None:
            signal.signal(signal.SIGINT, self._previous_sigint)
            self._previous_sigint = None

    def save(self, trainer: pl.Trainer, reason: str) -> None:
        trainer.save_checkpoint(self.path)
        if trainer.is_global_zero:
            log.warning("%s: saved %s; resume with ckpt_path=%s", reason, self.path, self.path)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._interrupted:
            self.save(trainer, "Interrupted")
            self.on_train_end(trainer, pl_module)
            raise KeyboardInterrupt  # Lightning's graceful shutdown path
        if self.every_n_batches and pl_module.batches_done % self.every_n_batches == 0:
            trainer.save_checkpoint(self.path)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if isinstance(exception, SIGTERMException):  # raised between batches: the state is consistent
            self.save(trainer, "SIGTERM")
