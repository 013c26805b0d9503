"""Watch the losses for NaN/Inf without a host sync on every step.

`stop` (default): each step records, on the device, the first batch whose D or G loss was not
finite; the flag is read every `check_every_n_batches` batches and before every checkpoint is
written, so a diverged state never overwrites the last good checkpoint.
`skip`: the step's update is dropped when its loss is not finite (Adam skips parameters whose
gradient is None); this reads the loss on the host every step, a sync per step.

With several processes every decision is taken once for all of them (an all-reduce): an update is dropped on
every process when any process's loss was not finite, and a run stops on every process when any diverged, so
no process is left waiting in a gradient all-reduce the others skipped.
"""

import torch
import torch.distributed as dist

from facegan.errors import ConfigError, FaceganError, require_integer
from facegan.runtime.distributed import across_processes

POLICIES = ("stop", "skip")


class TrainingDiverged(FaceganError):
    """A loss became NaN or Inf."""


class DivergenceMonitor:
    def __init__(self, on_nonfinite: str, check_every_n_batches: int):  # conf/train.yaml: divergence
        if on_nonfinite not in POLICIES:
            raise ConfigError(f"divergence.on_nonfinite={on_nonfinite} is not a policy: use stop or skip")
        require_integer("divergence.check_every_n_batches", check_every_n_batches, 1, 20)
        self.policy = on_nonfinite
        self.check_every_n_batches = check_every_n_batches
        self._first_bad: dict[str, torch.Tensor] = {}  # loss name -> first batch (-1: none), on the device
        self.skipped_updates = 0

    def observe(self, name: str, loss: torch.Tensor, batch: int) -> None:
        """Record (on the device, no sync) the first batch at which `loss` was not finite (stop mode)."""
        if self.policy != "stop":
            return
        first_bad = self._first_bad.get(name)
        if first_bad is None or first_bad.device != loss.device:
            first_bad = torch.full((), -1, dtype=torch.long, device=loss.device)
        newly_bad = ~torch.isfinite(loss.detach()) & (first_bad < 0)
        self._first_bad[name] = torch.where(newly_bad, torch.full_like(first_bad, batch), first_bad)

    def keep_update(self, loss: torch.Tensor) -> bool:
        """In skip mode, whether this update may be applied: only if the loss is finite on every process (host
        sync); always True in stop mode."""
        if self.policy != "skip":
            return True
        finite = across_processes(torch.isfinite(loss.detach()).to(torch.int32), dist.ReduceOp.MIN)
        if bool(finite):
            return True
        self.skipped_updates += 1
        return False

    def check(self, epoch: int) -> None:
        """Raise TrainingDiverged naming the loss and the batch, if any loss went non-finite on any process
        (host sync)."""
        names = sorted(self._first_bad)
        if not names:
            return
        never = torch.iinfo(torch.long).max
        first_bad = torch.stack([self._first_bad[name] for name in names])
        first_bad = across_processes(torch.where(first_bad < 0, never, first_bad), dist.ReduceOp.MIN)
        bad = {name: int(batch) for name, batch in zip(names, first_bad.tolist()) if batch != never}
        if bad:
            name = min(bad, key=bad.get)  # the loss that broke first; the others follow from its NaN update
            raise TrainingDiverged(
                f"training diverged: {name} became NaN/Inf at batch {bad[name]} (epoch {epoch}); stopped before "
                "saving, so checkpoints/ keeps the last good state: resume from it with lower learning rates "
                "(e.g. optimizer.lr=1e-4) or loss=lsgan, or set divergence.on_nonfinite=skip"
            )

    def due(self, batch: int) -> bool:
        return self.policy == "stop" and batch % self.check_every_n_batches == 0
