"""ThroughputCallback's arithmetic with a fake clock: images/s and seconds per batch between log points, over all
processes, without the pauses between epochs, and without reading a tensor's values (no host-device sync)."""

from types import SimpleNamespace

import pytest
import torch

from facegan.callbacks import throughput
from facegan.callbacks.throughput import IMAGES_PER_S, STEP_S, ThroughputCallback


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class ScalarRecorder:
    def __init__(self):
        self.scalars: list[tuple[str, float, int]] = []

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.scalars.append((tag, value, step))


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(throughput.time, "perf_counter", fake)
    return fake


@pytest.fixture
def writer(monkeypatch) -> ScalarRecorder:
    recorder = ScalarRecorder()
    monkeypatch.setattr(throughput, "tensorboard_writer", lambda trainer: recorder)
    return recorder


def meta_batch(size: int) -> torch.Tensor:
    """A batch whose values cannot be read at all: .item(), .tolist() or float() on it raise."""
    return torch.empty(size, 3, 8, 8, device="meta")


def started(log_every_n_steps: int, world_size: int, is_global_zero: bool = True):
    """A trainer, a module and a ThroughputCallback at the start of training."""
    trainer = SimpleNamespace(log_every_n_steps=log_every_n_steps, world_size=world_size, is_global_zero=is_global_zero)
    module = SimpleNamespace(batches_done=0, progress_bar_values={})
    callback = ThroughputCallback()
    callback.on_train_start(trainer, module)
    return trainer, module, callback


def run_batches(callback, trainer, module, clock, seconds_per_batch: float, batches: int, batch: torch.Tensor):
    for _ in range(batches):
        clock.now += seconds_per_batch
        module.batches_done += 1
        callback.on_train_batch_end(trainer, module, None, batch, module.batches_done - 1)


def test_images_per_second_counts_every_process_between_log_points(clock, writer):
    trainer, module, callback = started(log_every_n_steps=10, world_size=2)
    callback.on_train_epoch_start(trainer, module)
    run_batches(callback, trainer, module, clock, 0.5, 10, meta_batch(32))  # start-up: only starts the clock
    assert writer.scalars == [] and "img/s" not in module.progress_bar_values
    run_batches(callback, trainer, module, clock, 0.2, 10, meta_batch(32))
    assert writer.scalars == [(IMAGES_PER_S, pytest.approx(32 * 2 / 0.2), 20), (STEP_S, pytest.approx(0.2), 20)]
    assert module.progress_bar_values["img/s"] == pytest.approx(320.0)


def test_the_pause_between_epochs_is_not_training_time(clock, writer):
    trainer, module, callback = started(log_every_n_steps=4, world_size=1)
    callback.on_train_epoch_start(trainer, module)
    run_batches(callback, trainer, module, clock, 1.0, 6, meta_batch(8))  # the clock starts at batch 4
    clock.now += 100.0  # grids, checkpoints and FID after the epoch
    callback.on_train_epoch_start(trainer, module)
    run_batches(callback, trainer, module, clock, 1.0, 2, meta_batch(8))  # an interval spanning the two epochs
    assert writer.scalars == [(IMAGES_PER_S, pytest.approx(8.0), 8), (STEP_S, pytest.approx(1.0), 8)]


def test_a_resumed_run_starts_the_clock_again(clock, writer):
    trainer, module, callback = started(log_every_n_steps=5, world_size=1)
    run_batches(callback, trainer, module, clock, 1.0, 5, meta_batch(4))
    clock.now += 1000.0  # stopped, then resumed from last.ckpt
    callback.on_train_start(trainer, module)
    run_batches(callback, trainer, module, clock, 2.0, 10, meta_batch(4))
    assert writer.scalars == [(IMAGES_PER_S, pytest.approx(2.0), 15), (STEP_S, pytest.approx(2.0), 15)]


def test_only_rank_zero_writes_and_every_rank_shows_its_bar(clock, writer):
    trainer, module, callback = started(log_every_n_steps=1, world_size=4, is_global_zero=False)
    run_batches(callback, trainer, module, clock, 0.5, 3, meta_batch(16))
    assert writer.scalars == []
    assert module.progress_bar_values["img/s"] == pytest.approx(16 * 4 / 0.5)
