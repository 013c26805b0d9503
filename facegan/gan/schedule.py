"""Batches versus optimizer steps, and which updates a batch makes.

facegan counts in batches (trainer.max_steps, the sample and checkpoint intervals, TensorBoard's x-axis).
Every batch makes one D update; a G update follows on every n_critic-th batch only (WGAN-GP's critic
schedule; 1 for the other losses). Lightning's global_step counts optimizer steps instead, and moves in the
middle of a batch, so the module reads the batch index once, before its first update, and asks the
schedule everything else from that index.
"""

from dataclasses import dataclass


def optimizer_steps(batches: int, n_critic: int = 1) -> int:
    """Lightning's global_step after `batches` batches: a D step on every batch, a G step on every n_critic-th."""
    return batches + batches // n_critic


def batches_from_steps(global_step: int, n_critic: int = 1) -> int:
    """Batches completed after `global_step` optimizer steps, the inverse of optimizer_steps(). A cycle of
    n_critic batches takes n_critic + 1 steps: each of its D steps completes a batch, except the last one,
    whose batch still awaits its G step."""
    cycles, steps = divmod(global_step, n_critic + 1)
    return cycles * n_critic + min(steps, n_critic - 1)


@dataclass(frozen=True)
class UpdateSchedule:
    """The updates of batch number `batch` (0-based: the batches completed before it)."""

    n_critic: int = 1

    # At most, with every batch taking a D and a G step (n_critic = 1); optimizer_steps() is exact.
    optimizer_steps_per_batch = 2

    def batches_done(self, global_step: int) -> int:
        return batches_from_steps(global_step, self.n_critic)

    def updates_generator(self, batch: int) -> bool:
        """G steps on the last batch of every cycle of n_critic batches."""
        return (batch + 1) % self.n_critic == 0
