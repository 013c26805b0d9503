"""`evaluate(cfg)`: FID and KID of a checkpoint's generator against a dataset's real images, on any
device (a GPU run's checkpoint evaluates on a CPU-only machine). scripts/evaluate.py prints the result."""

import time
from typing import Any

import hydra
from omegaconf import DictConfig

from facegan.checkpoints.trained_generator import check_checkpoint_path, load_generator
from facegan.metrics.evaluator import FidKidEvaluator
from facegan.metrics.extractors import load_feature_extractor
from facegan.metrics.settings import MetricSettings
from facegan.runtime.devices import resolve_device


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """The scores, sample counts, extractor, checkpoint and seconds taken, as one JSON-ready dict."""
    started = time.perf_counter()
    # Cheap checks first: settings, device and checkpoint path fail in one line before anything loads,
    # and a missing extractor before the data (whose prepared cache may take long to build).
    settings: MetricSettings = hydra.utils.instantiate(cfg.metrics)
    device = resolve_device(cfg.device)
    check_checkpoint_path(cfg.ckpt_path)
    evaluator = FidKidEvaluator(load_feature_extractor(settings), settings)

    generator, info = load_generator(cfg.ckpt_path, map_location=device)
    cfg.model.image_size = info.image_size  # the real images are compared at the generator's size
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    evaluator.prepare(datamodule, device)
    scores = evaluator(lambda z: generator(z.to(device)), info.latent_dim, device)
    return {
        **scores.as_dict(),
        # the same numbers under the sample count's names, as training logs them (metrics/fid10k -> fid10k)
        settings.fid_key.removeprefix("metrics/"): scores.fid,
        settings.kid_key.removeprefix("metrics/"): scores.kid_mean,
        "protocol": cfg.protocol.name,
        "extractor": evaluator.extractor.name,
        "resizer": evaluator.extractor.resizer,
        "quantized": settings.quantize,
        "ckpt_path": info.ckpt_path,
        "weights": info.weights,
        "epoch": info.epoch,
        "image_size": info.image_size,
        "device": str(device),
        "seconds": round(time.perf_counter() - started, 2),
    }
