"""One object that evaluates a generator: FID, KID, precision and recall against a fixed sample of a datamodule's
real images, and the features of every training image for the nearest-neighbour checks. Used by MetricsCallback
during training, by scripts/evaluate.py on a checkpoint, by the quality benchmark and by the explorer."""

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from facegan.data.decoding import scale_to_model_range, to_uint8
from facegan.figures import save_closest_pairs
from facegan.latent import random_latents
from facegan.metrics.extractors import FeatureExtractor
from facegan.metrics.feature_cache import RealFeatureCache, real_features_key
from facegan.metrics.features import (
    Shard,
    generated_features,
    real_features,
    real_images,
    real_sample_indices,
)
from facegan.metrics.memorization import MemorizationReport, memorization_report
from facegan.metrics.scores import FeatureScorer, Scores
from facegan.metrics.settings import MetricSettings

log = logging.getLogger(__name__)


class GeneratorEvaluator:
    """Real features come from the cache, or are extracted once (in shares under DDP) and cached; scores
    are computed on rank 0 and sent to every rank, so all ranks log and checkpoint on the same values.
    Evaluating draws nothing from the global random streams: training runs the same with metrics on or off."""

    def __init__(self, extractor: FeatureExtractor, settings: MetricSettings, shard: Shard | None = None):
        self.extractor = extractor
        self.settings = settings
        self.shard = shard or Shard()  # one process
        self.cache = RealFeatureCache(settings.cache_dir)
        self.scorer: FeatureScorer | None = None  # on rank 0, once prepare() has run
        self.prepared = False

    def cached_features(self, datamodule: Any, indices: list[int], seed: int | None, device: torch.device) -> Any:
        """Features of the datamodule's images at `indices` (drawn with `seed`; None: every image in order) on
        rank 0, None on the others: from the cache, or extracted in shares and cached."""
        settings = self.settings
        dataset = real_images(datamodule)
        key = real_features_key(datamodule, len(dataset), self.extractor.name, len(indices), seed)
        features = self.cache.load(key) if self.shard.rank == 0 else None
        if not self.shard.broadcast(features is not None):
            started = time.perf_counter()
            with torch.random.fork_rng(devices=[]):  # a DataLoader draws its workers' seeds from the global stream
                features = real_features(
                    self.extractor, dataset, indices, self.shard, device, settings.batch_size, settings.num_workers
                )
            if self.shard.rank == 0:
                path = self.cache.save(key, features)
                seconds = time.perf_counter() - started
                log.info("Real-image features: %d images in %.1f s, cached in %s", len(indices), seconds, path)
        elif self.shard.rank == 0:
            log.info("Real-image features: %d images from the cache %s", len(indices), self.cache.path(key))
        return features if self.shard.rank == 0 else None

    def prepare(self, datamodule: Any, device: torch.device) -> None:
        """Get the real features of a set-up FaceDataModule's images; a no-op once done."""
        if self.prepared:
            return
        settings = self.settings
        size = len(real_images(datamodule))
        indices = real_sample_indices(size, settings.real_count(size), settings.seed)
        features = self.cached_features(datamodule, indices, settings.seed, device)
        if self.shard.rank == 0:
            self.scorer = FeatureScorer(
                features.to(device), settings.kid_subsets, settings.kid_subset_size, settings.seed
            )
        self.prepared = True

    def training_features(self, datamodule: Any, device: torch.device) -> torch.Tensor | None:
        """(N, d) features of every image of the datamodule, row i for image i (rank 0; None on the others)."""
        size = len(real_images(datamodule))
        return self.cached_features(datamodule, list(range(size)), None, device)

    def latents(self, latent_dim: int) -> torch.Tensor:
        """The settings.num_samples fixed z every evaluation generates from: drawn on the CPU from the metrics seed,
        the same whatever the device or world size, so successive evaluations compare the generator, not the noise."""
        return random_latents(self.settings.num_samples, latent_dim, self.settings.seed)

    def sampler(self, sample: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
        """`sample` as the evaluation sees it: rounded to 8 bits when settings.quantize says so."""
        return quantized(sample) if self.settings.quantize else sample

    def generated_features(
        self, sample: Callable[[torch.Tensor], torch.Tensor], latent_dim: int, device: torch.device
    ) -> torch.Tensor:
        """(num_samples, d) features of the images `sample(z)` makes from the fixed z, on every rank."""
        settings = self.settings
        return generated_features(
            self.extractor, self.sampler(sample), self.latents(latent_dim), self.shard, device, settings.batch_size
        )

    def score(self, fake: torch.Tensor) -> Scores:
        """Scores of generated features, computed on rank 0 and sent to every rank."""
        assert self.prepared, "prepare() must run before the first evaluation"
        scores = self.scorer(fake) if self.shard.rank == 0 else None
        return self.shard.broadcast(scores)

    def __call__(self, sample: Callable[[torch.Tensor], torch.Tensor], latent_dim: int, device: torch.device) -> Scores:
        """Scores of the images `sample(z)` makes from settings.num_samples fixed z (on every rank)."""
        return self.score(self.generated_features(sample, latent_dim, device))

    @torch.no_grad()
    def memorization(
        self,
        fake: torch.Tensor,
        sample: Callable[[torch.Tensor], torch.Tensor],
        latent_dim: int,
        training: Any,
        training_features: torch.Tensor,
        figure: Path,
        held_out: torch.Tensor | None = None,
        pairs: int = 8,
    ) -> MemorizationReport:
        """The memorization report of generated features `fake` (made by `sample` from the fixed z) against a set-up
        datamodule's training images and their features, and its figure: the closest pairs, drawn from the z again
        and from the training images."""
        report = memorization_report(fake, training_features, held_out=held_out, pairs=pairs)
        rows = [pair.generated for pair in report.closest]
        generated = self.sampler(sample)(self.latents(latent_dim)[rows]).cpu()
        images = real_images(training)
        nearest = torch.stack([torch.as_tensor(images[pair.training]) for pair in report.closest])
        distances = [pair.distance for pair in report.closest]
        save_closest_pairs(generated, nearest, distances, report.reference_median, figure)
        return report


def quantized(sample: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """`sample` with its images rounded to the 256 levels of an 8-bit image file, still in [-1, 1]."""

    def sample_8bit(z: torch.Tensor) -> torch.Tensor:
        return scale_to_model_range(to_uint8(sample(z)))

    return sample_8bit
