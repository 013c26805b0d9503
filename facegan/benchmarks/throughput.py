"""`mode=train`: steady-state training throughput of facegan against the canonical DCGAN loop.

Both run on the same device, model size, batch size and images, each in a fresh spawned process
(so peak memory is its own), and are timed after `benchmark.warmup_batches` untimed batches:
  facegan    the real LightningModule under a Lightning Trainer, with its data path and the speed
             settings `performance.*` resolve to on this device
  canonical  facegan/benchmarks/canonical.py: the pytorch/examples loop (ImageFolder + workers,
             Sigmoid + BCELoss, fp32, a host sync every step)
"""

import json
import resource
import time
from pathlib import Path

import hydra
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from facegan.benchmarks import canonical
from facegan.benchmarks.processes import in_fresh_process
from facegan.data.sources import find_images
from facegan.errors import ConfigError
from facegan.gan.module import GAN
from facegan.runtime.devices import training_device_type


class BatchTimer:
    """Wall time of the batches after the warm-up, synchronised with the device at both ends."""

    def __init__(self, device: torch.device, warmup: int, count: int):
        self.device, self.warmup, self.count = device, warmup, count
        self.started: float | None = None
        self.seconds: float | None = None

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def batch_done(self, batches: int) -> bool:
        """Call after each batch; True once the timed batches are done."""
        if batches == self.warmup:
            self._sync()
            self.started = time.perf_counter()
        elif batches == self.warmup + self.count:
            self._sync()
            self.seconds = time.perf_counter() - self.started
            return True
        return False


class _TimerCallback(pl.Callback):
    def __init__(self, timer: BatchTimer):
        self.timer = timer

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.timer.batch_done(pl_module.batches_done):
            trainer.should_stop = True


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure_facegan(cfg_dict: dict) -> dict:
    from facegan.runtime.performance import resolve_performance
    from facegan.train import build_module

    cfg = OmegaConf.create(cfg_dict)
    bench = cfg.benchmark
    performance = resolve_performance(cfg)
    pl.seed_everything(cfg.seed, verbose=False)
    device = torch.device(performance.device_type)
    timer = BatchTimer(device, bench.warmup_batches, bench.batches)
    trainer = pl.Trainer(
        accelerator=performance.device_type if performance.device_type == "cpu" else "gpu",
        devices=1,
        precision=performance.precision,
        max_epochs=-1,
        max_steps=(bench.warmup_batches + bench.batches + 1) * GAN.optimizer_steps_per_batch,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        benchmark=True,
        callbacks=[_TimerCallback(timer)],
    )
    trainer.fit(build_module(cfg, performance), datamodule=hydra.utils.instantiate(cfg.data))
    settings = (
        f"{performance.precision}, channels_last={performance.channels_last}, fused_adam={performance.fused_adam}, "
        f"compile={performance.compile}"
    )
    if performance.compile:
        settings += f" ({performance.compile_mode})"
    return {
        "seconds": timer.seconds,
        "peak_mem_mb": _peak_memory_mb(device),
        "settings": settings,
        "device": str(device),
    }


def measure_canonical(cfg_dict: dict) -> dict:
    cfg = OmegaConf.create(cfg_dict)
    bench = cfg.benchmark
    torch.manual_seed(cfg.seed)
    device = torch.device(training_device_type(cfg.trainer))
    loader = canonical.make_loader(bench.image_folder, cfg.model.image_size, cfg.data.batch_size, cfg.data.num_workers)
    timer = BatchTimer(device, bench.warmup_batches, bench.batches)
    canonical.train(
        loader,
        cfg.model.image_size,
        device,
        cfg.model.latent_dim,
        cfg.model.ngf,
        cfg.model.ndf,
        epochs=10**6,
        max_batches=bench.warmup_batches + bench.batches,
        on_batch_end=timer.batch_done,
        quiet=True,
    )
    return {
        "seconds": timer.seconds,
        "peak_mem_mb": _peak_memory_mb(device),
        "settings": "32-true eager",
        "device": str(device),
    }


def image_folder_root(data_cfg: DictConfig) -> str:
    """The ImageFolder root the canonical loop needs: the parent of the folder holding the images."""
    if "root" not in data_cfg:
        raise ConfigError("mode=train compares both loops on an image folder: use data=celeba data.root=<folder>")
    source = find_images(data_cfg.root)
    if source.zip_path is not None:
        raise ConfigError(f"data.root={data_cfg.root} is a zip; the canonical loop reads folders: unzip it first")
    return str(Path(source.location).parent)


def run(cfg: DictConfig) -> None:
    cfg_dict = OmegaConf.to_container(cfg, resolve=True)
    cfg_dict["benchmark"]["image_folder"] = image_folder_root(cfg.data)
    images = cfg.benchmark.batches * cfg.data.batch_size
    results = {
        "facegan": in_fresh_process(measure_facegan, cfg_dict),
        "canonical": in_fresh_process(measure_canonical, cfg_dict),
    }
    for result in results.values():
        result["img_per_s"] = images / result["seconds"]
    ratio = results["facegan"]["img_per_s"] / results["canonical"]["img_per_s"]

    size, batch = cfg.model.image_size, cfg.data.batch_size
    print(
        f"Training throughput, {size}x{size}, batch {batch}, {cfg.benchmark.batches} timed batches after "
        f"{cfg.benchmark.warmup_batches} warm-up, device {results['facegan']['device']}"
    )
    print(f"  {'loop':<10} {'settings':<64} {'img/s':>10} {'peak MiB':>10}")
    for name, result in results.items():
        print(f"  {name:<10} {result['settings']:<64} {result['img_per_s']:>10,.0f} {result['peak_mem_mb']:>10,.0f}")
    print(f"  facegan / canonical: {ratio:.2f}x")
    summary = {
        "benchmark": "train",
        "device": results["facegan"]["device"],
        "image_size": size,
        "batch_size": batch,
        "facegan_img_per_s": round(results["facegan"]["img_per_s"], 1),
        "canonical_img_per_s": round(results["canonical"]["img_per_s"], 1),
        "ratio": round(ratio, 3),
        "facegan_peak_mem_mb": round(results["facegan"]["peak_mem_mb"], 1),
        "canonical_peak_mem_mb": round(results["canonical"]["peak_mem_mb"], 1),
        "facegan_settings": results["facegan"]["settings"],
    }
    print(json.dumps(summary))
