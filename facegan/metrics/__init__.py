"""Image-quality metrics: FID and KID of generated faces against real ones.

settings.py (the `metrics` config group), extractors.py (the feature networks), features.py (real and
generated features, shared out across DDP ranks), feature_cache.py (real features on disk), scores.py (FID
and KID by torchmetrics), evaluator.py (all of it for one generator). The commands that use them live in
facegan/tools/ (evaluate.py) and facegan/callbacks/ (metrics.py).
"""

from facegan.metrics.evaluator import GeneratorEvaluator
from facegan.metrics.extractors import FeatureExtractor, MetricsUnavailable, load_feature_extractor
from facegan.metrics.features import Shard
from facegan.metrics.scores import FeatureScorer, Scores
from facegan.metrics.settings import MetricSettings

__all__ = [
    "FeatureExtractor",
    "FeatureScorer",
    "GeneratorEvaluator",
    "MetricSettings",
    "MetricsUnavailable",
    "Scores",
    "Shard",
    "load_feature_extractor",
]
