"""`mode=data`: images per second of the data path alone, no model.

Each path yields float (B, 3, S, S) batches in [-1, 1] on its device, exactly what training consumes:
  data.cache=false   the DataLoader decoding images in data.num_workers processes
  data.cache=true    batches gathered from the memory-mapped prepared cache on the CPU
and, when a GPU is present, both again onto the GPU: the DataLoader plus a pinned copy, the cache
resident in device memory, and the cache's fallback for datasets too big for it (pinned host buffers).
"""

import itertools
import time
from collections.abc import Iterable

import hydra
import torch
from omegaconf import DictConfig

from facegan.data.batches import EpochBatches, StagedImages
from facegan.data.cache import open_prepared
from facegan.data.datamodules import FaceDataModule
from facegan.runtime.devices import resolve_device, visible_gpus


def images_per_second(batches: Iterable[torch.Tensor], count: int, device: torch.device) -> float:
    """Throughput over `count` batches after one untimed warm-up batch (worker start-up, first upload)."""
    stream = itertools.chain.from_iterable(itertools.repeat(batches))  # epoch after epoch
    next(stream).to(device)
    _synchronize(device)
    started = time.perf_counter()
    images = sum(next(stream).to(device, non_blocking=True).shape[0] for _ in range(count))
    _synchronize(device)
    return images / (time.perf_counter() - started)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run(cfg: DictConfig) -> None:
    count = cfg.benchmark.batches
    cpu = torch.device("cpu")
    plain: FaceDataModule = hydra.utils.instantiate(cfg.data, cache=False, flip=False)
    plain.setup()
    cached: FaceDataModule = hydra.utils.instantiate(cfg.data, cache=True)
    reused = open_prepared(cached.cache_spec(), cached.cache_dir) is not None
    started = time.perf_counter()
    cached.prepare_data()
    prepare_seconds = time.perf_counter() - started
    cached.setup()

    loader_label = f"data.cache=false: DataLoader, {plain.num_workers} workers"
    rows = [
        (loader_label, cpu, images_per_second(plain.train_dataloader(), count, cpu)),
        ("data.cache=true: memory-mapped cache", cpu, images_per_second(cached.epoch_batches(cpu), count, cpu)),
    ]
    if visible_gpus():
        gpu = resolve_device("cuda")
        staged = StagedImages(torch.from_numpy(cached.prepared.images), gpu, cached.batch_size)
        rows += [
            (loader_label, gpu, images_per_second(plain.train_dataloader(), count, gpu)),
            ("data.cache=true: device-resident cache", gpu, images_per_second(cached.epoch_batches(gpu), count, gpu)),
            (
                "data.cache=true: pinned host fallback",
                gpu,
                images_per_second(EpochBatches(staged, cached.batch_size, cached.seed, lambda: 0), count, gpu),
            ),
        ]

    prepared = cached.prepared
    shape = prepared.manifest["shape"]
    print(
        f"Data path throughput: {shape[0]:,} images at {shape[2]}x{shape[3]}, batch {cached.batch_size}, "
        f"{count} timed batches per path, {torch.get_num_threads()} torch CPU threads"
    )
    print(f"Prepared cache: {prepared.folder} ({'reused' if reused else f'built in {prepare_seconds:.1f} s'})")
    width = max(len(label) + len(str(device)) for label, device, _ in rows) + 4
    for label, device, rate in rows:
        print(f"  {f'{label} -> {device}':<{width}} {rate:>12,.0f} img/s")
