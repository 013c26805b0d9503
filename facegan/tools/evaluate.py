"""`evaluate(cfg)`: FID, KID, precision and recall of a checkpoint's generator against a dataset's real images, and
the memorization check (each generated face's nearest training image), on any device (a GPU run's checkpoint
evaluates on a CPU-only machine). scripts/evaluate.py prints the result as one JSON line."""

import time
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig

from facegan.checkpoints.trained_generator import check_checkpoint_path, load_generator
from facegan.errors import ConfigError, require_boolean, require_integer
from facegan.fileio import output_file_error
from facegan.metrics.evaluator import GeneratorEvaluator
from facegan.metrics.extractors import load_feature_extractor
from facegan.metrics.settings import MetricSettings
from facegan.runtime.devices import resolve_device


def memorization_figure_path(cfg: DictConfig, checkpoint: Path) -> Path:
    """Where memorization.png goes: memorization.figure, or by default the checkpoint's run folder (the folder above
    checkpoints/), named after the checkpoint so that best and last keep a figure each. Refused in one line when it
    cannot be written or would overwrite the checkpoint."""
    given = cfg.memorization.figure
    folder = checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent
    path = Path(given).expanduser() if given else folder / f"memorization-{checkpoint.stem}.png"
    problem = output_file_error(str(given) if given else path, {"ckpt_path": checkpoint})
    if problem:
        setting = f"memorization.figure={given}" if given else f"memorization.figure (by default {path})"
        raise ConfigError(f"{setting} {problem}: give the path of a new .png, or memorization.enabled=false")
    return path


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """The scores, sample counts, extractor, checkpoint and seconds taken, as one JSON-ready dict."""
    started = time.perf_counter()
    # Cheap checks first: settings, device, checkpoint and figure paths fail in one line before anything loads,
    # and a missing extractor before the data (whose prepared cache may take long to build).
    settings: MetricSettings = hydra.utils.instantiate(cfg.metrics)
    device = resolve_device(cfg.device)
    remember = cfg.memorization
    require_boolean("memorization.enabled", remember.enabled)
    require_integer("memorization.pairs", remember.pairs, 1, 8)  # (name, value, smallest, example)
    checkpoint = check_checkpoint_path(cfg.ckpt_path)
    figure = memorization_figure_path(cfg, checkpoint) if remember.enabled else None
    evaluator = GeneratorEvaluator(load_feature_extractor(settings), settings)

    generator, info = load_generator(checkpoint, map_location=device)
    cfg.model.image_size = info.image_size  # the real images are compared at the generator's size
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    evaluator.prepare(datamodule, device)

    def sample(z: torch.Tensor) -> torch.Tensor:
        return generator(z.to(device))

    fake = evaluator.generated_features(sample, info.latent_dim, device)
    scores = evaluator.score(fake)
    result = {
        **scores.as_dict(),
        # the same numbers under the sample count's names, as training logs them (metrics/fid10k -> fid10k)
        **{settings.key(name).removeprefix("metrics/"): value for name, value in scores.logged().items()},
    }
    if figure is not None:
        training = evaluator.training_features(datamodule, device)
        report = evaluator.memorization(
            fake, sample, info.latent_dim, datamodule, training, figure, pairs=cfg.memorization.pairs
        )
        details = report.as_dict()
        result["memorization_ratio"] = details.pop("ratio")
        result["memorization"] = {**details, "figure": str(figure)}
    return {
        **result,
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
