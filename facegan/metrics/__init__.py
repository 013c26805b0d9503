"""Image-quality metrics: FID and KID of generated faces against real ones.

settings.py (the `metrics` config group), extractors.py (the feature networks), features.py (real and
generated features, shared out across DDP ranks), cache.py (real features on disk), scores.py (FID and
KID by torchmetrics), evaluator.py (all of it for one generator), evaluate.py (scripts/evaluate.py),
sweep_summary.py (a table of a sweep's jobs and their metrics).
"""

from facegan.metrics.evaluator import FidKidEvaluator
from facegan.metrics.extractors import FeatureExtractor, MetricsUnavailable, load_feature_extractor
from facegan.metrics.features import Shard
from facegan.metrics.scores import FidKid, Scores
from facegan.metrics.settings import MetricSettings

__all__ = [
    "FeatureExtractor",
    "FidKid",
    "FidKidEvaluator",
    "MetricSettings",
    "MetricsUnavailable",
    "Scores",
    "Shard",
    "load_feature_extractor",
]
