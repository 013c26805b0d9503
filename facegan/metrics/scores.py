"""FID, KID, precision and recall between fixed real features and generated features: FID and KID computed by
torchmetrics, precision and recall by facegan/metrics/precision_recall.py.

facegan extracts (and caches) the features itself, so torchmetrics' metrics are given a pass-through
"feature network": their `update` receives features, not images. The real features are added once and
kept across evaluations (`reset_real_features=False`).
"""

import warnings
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from facegan.metrics.neighbours import kth_neighbour_radii
from facegan.metrics.precision_recall import NEIGHBOURHOOD_SIZE, precision_recall

# The scores logged per evaluation, each under its sample count's key (metrics/fid10k, ..., metrics/recall10k).
LOGGED_SCORES = ("fid", "kid", "precision", "recall")


@dataclass(frozen=True)
class Scores:
    fid: float
    kid_mean: float
    kid_std: float
    precision: float
    recall: float
    num_real: int
    num_fake: int

    def as_dict(self) -> dict:
        return asdict(self)

    def logged(self) -> dict[str, float]:
        """The numbers training logs and evaluate reports under a sample count's key (MetricSettings.key)."""
        values = {"fid": self.fid, "kid": self.kid_mean, "precision": self.precision, "recall": self.recall}
        return {name: values[name] for name in LOGGED_SCORES}


class PrecomputedFeatures(nn.Module):
    """Stands in for torchmetrics' Inception: the inputs already are (N, num_features) features."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features  # torchmetrics reads this instead of probing with a dummy image

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


class FeatureScorer:
    """Scores generated features against one fixed set of real features (N_real, d)."""

    def __init__(self, real_features: torch.Tensor, kid_subsets: int = 100, kid_subset_size: int = 1000, seed: int = 0):
        num_features = real_features.shape[1]
        self.num_real = real_features.shape[0]
        self.kid_subset_size = kid_subset_size
        self.seed = seed
        # sync_on_compute=False: under DDP facegan gathers every rank's features before scoring, on one rank.
        self.fid = FrechetInceptionDistance(
            feature=PrecomputedFeatures(num_features), reset_real_features=False, sync_on_compute=False
        ).to(real_features.device)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*will save all extracted features in buffer.*")
            self.kid = KernelInceptionDistance(
                feature=PrecomputedFeatures(num_features),
                subsets=kid_subsets,
                subset_size=kid_subset_size,  # capped to the sample sizes in __call__
                reset_real_features=False,
                sync_on_compute=False,
            ).to(real_features.device)
        self.fid.update(real_features, real=True)
        self.kid.update(real_features, real=True)
        self.real_features = real_features
        self.real_radii = kth_neighbour_radii(real_features, NEIGHBOURHOOD_SIZE)  # the real manifold, measured once

    @torch.no_grad()
    def __call__(self, fake_features: torch.Tensor) -> Scores:
        self.fid.reset()  # drops the previous generated features, keeps the real ones
        self.kid.reset()
        self.fid.update(fake_features, real=False)
        self.kid.update(fake_features, real=False)
        # KID draws random subsets: a fixed seed makes a score a function of the features alone. torchmetrics
        # draws them from the CPU's global generator, so that one is forked and seeded, and no other: the CUDA
        # generators (which torch.manual_seed would seed too) stay training's.
        self.kid.subset_size = min(self.kid_subset_size, self.num_real, fake_features.shape[0])
        with torch.random.fork_rng(devices=[]):
            torch.random.default_generator.manual_seed(self.seed)
            kid_mean, kid_std = self.kid.compute()
        precision, recall = precision_recall(self.real_features, fake_features, real_radii=self.real_radii)
        return Scores(
            fid=float(self.fid.compute()),
            kid_mean=float(kid_mean),
            kid_std=float(kid_std),
            precision=precision,
            recall=recall,
            num_real=self.num_real,
            num_fake=fake_features.shape[0],
        )
