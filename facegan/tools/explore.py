"""`explore(cfg)`: facegan-explore, the local web app on a trained generator (facegan/explore/). Every input is
checked in one line before a model loads or a port opens; the server binds to 127.0.0.1 unless told otherwise."""

import logging
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from facegan.checkpoints.io import read_checkpoint
from facegan.checkpoints.trained_generator import check_checkpoint_path, generator_weights, load_generator
from facegan.errors import ConfigError, require_integer
from facegan.runtime.devices import resolve_device

log = logging.getLogger(__name__)

EXTRA_HELP = "facegan-explore needs Gradio, facegan's app extra: pip install 'facegan[app]'"


def require_gradio() -> None:
    try:
        import gradio  # noqa: F401
    except ImportError as error:
        raise ConfigError(f"{EXTRA_HELP} ({error})") from None


def generator_variants(ckpt_path: Path) -> list[str]:
    """The generators a checkpoint holds, by weights choice: ["ema", "raw"] when the run kept an EMA, else ["raw"]."""
    state_dict = read_checkpoint(ckpt_path, map_location="cpu").get("state_dict", {})
    return [choice for choice in ("ema", "raw") if generator_weights(state_dict, choice)[1]]


def load_generators(cfg: DictConfig, device: torch.device) -> dict[str, Any]:
    """name -> generator: the checkpoint's (its EMA first when kept, then G itself), then compare_ckpt_path's."""
    generators = {}
    checkpoints = [check_checkpoint_path(cfg.ckpt_path)]
    if cfg.compare_ckpt_path:
        checkpoints.append(check_checkpoint_path(cfg.compare_ckpt_path))
    for number, path in enumerate(checkpoints):
        label = path.name if path.name not in {other.name for other in checkpoints if other != path} else str(path)
        variants = generator_variants(path) if number == 0 else ["auto"]
        for choice in variants:
            generator, info = load_generator(path, map_location=device, weights=choice)
            name = f"{label} ({'EMA' if info.weights == 'generator_ema' else 'G'}, epoch {info.epoch})"
            generators[name] = generator
    first = next(iter(generators.values()))
    for generator in generators.values():
        if (generator.latent_dim, generator.image_size) != (first.latent_dim, first.image_size):
            raise ConfigError(
                f"compare_ckpt_path={cfg.compare_ckpt_path} makes {generator.image_size}px faces from a "
                f"{generator.latent_dim}-d z, the first checkpoint {first.image_size}px from {first.latent_dim}-d: "
                "compare checkpoints of the same model"
            )
    return generators


def check_settings(cfg: DictConfig) -> None:
    if cfg.nearest_training not in (True, False, "auto"):
        raise ConfigError(f"nearest_training={cfg.nearest_training} must be auto, true or false")
    require_integer("port", cfg.port, 0, 7860)
    for name, minimum, example in (
        ("page_size", 1, 16), ("columns", 1, 8), ("display_size", 8, 128), ("frame_ms", 10, 120),
        ("directions.count", 1, 8), ("directions.samples", 2, 2048), ("directions.seed", 0, 0),
    ):  # fmt: skip
        require_integer(name, OmegaConf.select(cfg, name), minimum, example)
    if cfg.directions.count >= cfg.directions.samples:
        raise ConfigError(
            f"directions.count={cfg.directions.count} needs more directions.samples than that "
            f"(directions.samples={cfg.directions.samples}): e.g. directions.samples=2048"
        )
    if not isinstance(cfg.host, str) or not cfg.host:
        raise ConfigError(f"host={cfg.host} is not a host name: e.g. host=127.0.0.1 (this machine only)")


def training_neighbours(cfg: DictConfig, image_size: int, device: torch.device):
    """The nearest-training-images lookup, or None when it is off: nearest_training=false, or auto without the
    training images (data.root not there) or without a feature network (the standard Inception not downloadable)."""
    from facegan.explore.training_neighbours import TrainingNeighbours
    from facegan.metrics.evaluator import GeneratorEvaluator
    from facegan.metrics.extractors import MetricsUnavailable, load_feature_extractor

    wanted = cfg.nearest_training
    if wanted is False:
        return None
    root = cfg.data.get("root")  # data=synthetic draws its images: no root
    if wanted == "auto" and root is not None and not Path(root).expanduser().exists():
        log.info("data.root=%s is not there: the nearest-training-images tab stays off (give data.root=...)", root)
        return None
    settings = hydra.utils.instantiate(cfg.metrics)
    try:
        extractor = load_feature_extractor(settings)
    except MetricsUnavailable as error:
        if wanted is True:
            raise
        log.warning("The nearest-training-images tab stays off: %s", error)
        return None
    evaluator = GeneratorEvaluator(extractor, settings)
    cfg.model.image_size = image_size  # the training images are compared at the generator's size
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    return TrainingNeighbours(evaluator, datamodule, device)


def build_explorer(cfg: DictConfig):
    """The Explorer a config describes: generators, their directions and the training-image lookup."""
    from facegan.explore.directions import find_directions
    from facegan.explore.explorer import Explorer, ExplorerSettings

    check_settings(cfg)
    device = resolve_device(cfg.device)
    generators = load_generators(cfg, device)
    main = next(iter(generators.values()))
    found = cfg.directions
    directions = find_directions(main, found.count, found.samples, found.seed, device)
    settings = ExplorerSettings(cfg.page_size, cfg.columns, cfg.display_size, cfg.frame_ms)
    return Explorer(generators, directions, training_neighbours(cfg, main.image_size, device), device, settings)


def explore(cfg: DictConfig) -> None:
    """Build the explorer and serve its page until Ctrl-C."""
    require_gradio()
    check_checkpoint_path(cfg.ckpt_path)
    explorer = build_explorer(cfg)
    from facegan.explore.app import build_app

    app = build_app(explorer)
    log.info("facegan explorer on http://%s:%d (Ctrl-C stops it)", cfg.host, cfg.port)
    app.launch(server_name=cfg.host, server_port=cfg.port, share=False, inbrowser=False, show_api=True)
