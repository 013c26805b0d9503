"""The `metrics` config group as one checked object, shared by training (MetricsCallback) and
scripts/evaluate.py. Bad values fail here, in one line, before anything heavy is built."""

from dataclasses import dataclass
from pathlib import Path

import torch

from facegan.errors import ConfigError


@dataclass(frozen=True)
class MetricSettings:
    enabled: bool | str = "auto"  # auto: on when training on a GPU, off on the CPU (slow there)
    every_n_epochs: int = 1
    num_samples: int = 10000  # generated images per evaluation; real images too (at most the dataset's size)
    batch_size: int = 100  # images per generator / feature extractor call
    feature_extractor: str | None = None  # a TorchScript network: (N, 3, 299, 299) in [-1, 1] -> (N, d)
    inception_weights: str | None = None  # an offline copy of torch-fidelity's standard Inception weights
    cache_dir: str = ".cache/fid"  # real-image features, reused across evaluations, runs and sweeps
    num_workers: int = 0  # processes that load real images (only when their features are not cached)
    seed: int = 0  # picks the real images and the z: the same every evaluation
    kid_subsets: int = 100
    kid_subset_size: int = 1000  # capped at the number of samples

    def __post_init__(self) -> None:
        if not (self.enabled == "auto" or isinstance(self.enabled, bool)):
            raise ConfigError(f"metrics.enabled={self.enabled} must be auto, true or false")
        minimums = {"every_n_epochs": 1, "num_samples": 2, "batch_size": 1, "num_workers": 0}
        for name, minimum in {**minimums, "kid_subsets": 1, "kid_subset_size": 2}.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ConfigError(f"metrics.{name}={value} must be an integer >= {minimum}")
        for name in ("feature_extractor", "inception_weights"):
            path = getattr(self, name)
            if path is not None and not Path(path).expanduser().is_file():
                raise ConfigError(
                    f"metrics.{name}={path} is not a file: fix the path, or drop it for the standard Inception"
                )

    def off_reason(self, device: torch.device) -> str | None:
        """Why metrics stay off on this device (None when they run): a message that says how to turn them on."""
        if self.enabled is False:
            return "metrics.enabled=false"
        if self.enabled == "auto" and device.type != "cuda":
            return (
                "metrics.enabled=auto turns them on only on a GPU (the Inception network takes about 0.1 s per image "
                "on a CPU); force them with metrics.enabled=true and a small metrics.num_samples, e.g. 200"
            )
        return None
