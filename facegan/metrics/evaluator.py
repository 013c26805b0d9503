"""One object that evaluates a generator: FID and KID against a fixed sample of a datamodule's real
images. Used by MetricsCallback during training and by scripts/evaluate.py on a checkpoint."""

import logging
import time
from collections.abc import Callable
from typing import Any

import torch

from facegan.data.decoding import scale_to_model_range, to_uint8
from facegan.metrics.extractors import FeatureExtractor
from facegan.metrics.feature_cache import RealFeatureCache, real_features_key
from facegan.metrics.features import Shard, generated_features, real_features, real_images, real_sample_indices
from facegan.metrics.scores import FidKid, Scores
from facegan.metrics.settings import MetricSettings

log = logging.getLogger(__name__)


class FidKidEvaluator:
    """Real features come from the cache, or are extracted once (in shares under DDP) and cached; scores
    are computed on rank 0 and sent to every rank, so all ranks log and checkpoint on the same values.
    Evaluating draws nothing from the global random streams: training runs the same with metrics on or off."""

    def __init__(self, extractor: FeatureExtractor, settings: MetricSettings, shard: Shard | None = None):
        self.extractor = extractor
        self.settings = settings
        self.shard = shard or Shard()  # one process
        self.cache = RealFeatureCache(settings.cache_dir)
        self.scorer: FidKid | None = None  # on rank 0, once prepare() has run
        self.prepared = False

    def prepare(self, datamodule: Any, device: torch.device) -> None:
        """Get the real features of a set-up FaceDataModule's images; a no-op once done."""
        if self.prepared:
            return
        settings = self.settings
        dataset = real_images(datamodule)
        indices = real_sample_indices(len(dataset), settings.real_count(len(dataset)), settings.seed)
        key = real_features_key(datamodule, len(dataset), self.extractor.name, len(indices), settings.seed)
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
        if self.shard.rank == 0:
            self.scorer = FidKid(features.to(device), settings.kid_subsets, settings.kid_subset_size, settings.seed)
        self.prepared = True

    def __call__(self, sample: Callable[[torch.Tensor], torch.Tensor], latent_dim: int, device: torch.device) -> Scores:
        """Scores of the images `sample(z)` makes from settings.num_samples fixed z (on every rank)."""
        assert self.prepared, "prepare() must run before the first evaluation"
        settings = self.settings
        if settings.quantize:
            sample = quantized(sample)
        fake = generated_features(
            self.extractor,
            sample,
            latent_dim,
            settings.num_samples,
            self.shard,
            device,
            settings.batch_size,
            settings.seed,
        )
        scores = self.scorer(fake) if self.shard.rank == 0 else None
        return self.shard.broadcast(scores)


def quantized(sample: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """`sample` with its images rounded to the 256 levels of an 8-bit image file, still in [-1, 1]."""

    def sample_8bit(z: torch.Tensor) -> torch.Tensor:
        return scale_to_model_range(to_uint8(sample(z)))

    return sample_8bit
