"""`mode=train`: steady-state training throughput of facegan against the canonical DCGAN loop.

Both run on the same device, model size, batch size and images, each in a fresh spawned process
(so peak memory is its own), and are timed after `benchmark.warmup_batches` untimed batches:
  facegan    the real LightningModule under a Lightning Trainer, with its data path and the speed
             settings `performance.*` resolve to on this device
  canonical  facegan/benchmarks/canonical.py: the pytorch/examples loop (ImageFolder + workers,
             Sigmoid + BCELoss, fp32, a host sync every step)
`benchmark.contenders` adds facegan rows, each a recipe of train.py overrides on top of the benchmark's, e.g. the
residual tier's step beside DCGAN's at the same batch:
    python scripts/benchmark.py data.root=~/celeba data.batch_size=64 \\
        '+benchmark.contenders.resnet32="model=resnet32"'
"""

import json
import resource
import time
from pathlib import Path

import hydra
import pytorch_lightning as pl
import torch
from hydra import compose
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from facegan.benchmarks import canonical
from facegan.benchmarks.processes import contender_overrides, in_fresh_process, training_overrides
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
    from facegan.assembly import build_module
    from facegan.runtime.performance import resolve_performance

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


def model_name(cfg: dict) -> str:
    """dcgan32, resnet64, ...: the family and size a config trains."""
    return f"{cfg['model'].get('family', 'dcgan')}{cfg['model']['image_size']}"


def image_folder_root(data_cfg: DictConfig) -> str:
    """The ImageFolder root the canonical loop needs: the parent of the folder holding the images."""
    if "root" not in data_cfg:
        raise ConfigError("mode=train compares both loops on an image folder: use data=celeba data.root=<folder>")
    source = find_images(data_cfg.root)
    if source.zip_path is not None:
        raise ConfigError(f"data.root={data_cfg.root} is a zip; the canonical loop reads folders: unzip it first")
    return str(Path(source.location).parent)


def recipe_overrides(base: list[str], recipe: list[str]) -> list[str]:
    """The benchmark's overrides, then a contender's recipe; a key the recipe sets (model=, data.batch_size=) is
    the recipe's alone, as Hydra accepts one value per config group."""
    keys = {override.split("=", 1)[0].lstrip("+~") for override in recipe}
    return [*(override for override in base if override.split("=", 1)[0].lstrip("+~") not in keys), *recipe]


def contender_configs(cfg: DictConfig) -> dict[str, dict]:
    """Each of benchmark.contenders as a resolved config: the benchmark's training overrides with the recipe's on
    top, and the benchmark's own settings (`defaults: ""` is the benchmark's config itself)."""
    configs = {}
    for name, recipe in contender_overrides(OmegaConf.to_container(cfg.benchmark.contenders)).items():
        composed = cfg
        if recipe:
            overrides = recipe_overrides(training_overrides(), recipe)
            composed = compose(config_name=HydraConfig.get().job.config_name, overrides=overrides)
            composed.benchmark = cfg.benchmark
        configs[name] = OmegaConf.to_container(composed, resolve=True)
    return configs


def run(cfg: DictConfig) -> None:
    image_folder = image_folder_root(cfg.data)
    configs = contender_configs(cfg)  # every recipe composes before anything is measured
    results = {}
    for name, contender_cfg in configs.items():
        contender_cfg["benchmark"]["image_folder"] = image_folder
        results[name] = {"model": model_name(contender_cfg), **in_fresh_process(measure_facegan, contender_cfg)}
        results[name]["batch_size"] = contender_cfg["data"]["batch_size"]
    cfg_dict = OmegaConf.to_container(cfg, resolve=True)
    cfg_dict["benchmark"]["image_folder"] = image_folder
    results["canonical"] = {
        "model": f"dcgan{cfg.model.image_size}",
        **in_fresh_process(measure_canonical, cfg_dict),
        "batch_size": cfg.data.batch_size,
    }
    for result in results.values():
        result["img_per_s"] = cfg.benchmark.batches * result["batch_size"] / result["seconds"]
    canonical_speed = results["canonical"]["img_per_s"]

    size = cfg.model.image_size
    print(
        f"Training throughput, {size}x{size}, {cfg.benchmark.batches} timed batches after "
        f"{cfg.benchmark.warmup_batches} warm-up, device {results['canonical']['device']}"
    )
    width = max(10, *(len(name) for name in results))
    print(f"  {'loop':<{width}} {'model':<10} {'batch':>5} {'settings':<64} {'img/s':>10} {'peak MiB':>10}")
    for name, result in results.items():
        print(
            f"  {name:<{width}} {result['model']:<10} {result['batch_size']:>5} {result['settings']:<64} "
            f"{result['img_per_s']:>10,.0f} {result['peak_mem_mb']:>10,.0f}"
        )
    for name in configs:
        label = "facegan" if len(configs) == 1 else name
        print(f"  {label} / canonical: {results[name]['img_per_s'] / canonical_speed:.2f}x")
    first = results[next(iter(configs))]
    summary = {
        "benchmark": "train",
        "device": results["canonical"]["device"],
        "image_size": size,
        "batch_size": cfg.data.batch_size,
        # facegan_*: the first contender (facegan as composed, unless the contenders say otherwise)
        "facegan_img_per_s": round(first["img_per_s"], 3),
        "canonical_img_per_s": round(canonical_speed, 3),
        "ratio": round(first["img_per_s"] / canonical_speed, 3),
        "facegan_peak_mem_mb": round(first["peak_mem_mb"], 1),
        "canonical_peak_mem_mb": round(results["canonical"]["peak_mem_mb"], 1),
        "facegan_settings": first["settings"],
        "contenders": {
            name: {
                "model": results[name]["model"],
                "batch_size": results[name]["batch_size"],
                "img_per_s": round(results[name]["img_per_s"], 3),
                "peak_mem_mb": round(results[name]["peak_mem_mb"], 1),
                "settings": results[name]["settings"],
                "ratio": round(results[name]["img_per_s"] / canonical_speed, 3),
            }
            for name in configs
        },
    }
    print(json.dumps(summary))
