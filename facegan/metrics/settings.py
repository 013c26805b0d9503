"""The `metrics` config group as one checked object, shared by training (MetricsCallback) and
scripts/evaluate.py. Bad values fail here, in one line, before anything heavy is built."""

from dataclasses import dataclass
from pathlib import Path

import torch

from facegan.errors import ConfigError


def count_tag(count: int) -> str:
    """10000 -> "10k", 500 -> "500": the sample count as metric keys carry it."""
    return f"{count // 1000}k" if count >= 1000 and count % 1000 == 0 else str(count)


def metric_key(name: str, num_samples: int) -> str:
    """The logged name of a metric measured on `num_samples` generated images, e.g. metrics/fid10k: scores from
    different sample counts are biased differently (FID falls as N grows), so they never share a curve."""
    return f"metrics/{name}{count_tag(int(num_samples))}"


@dataclass(frozen=True)
class MetricSettings:
    enabled: bool | str = "auto"  # auto: on when training on a GPU, off on the CPU (slow there)
    every_n_epochs: int = 1
    num_samples: int = 10000  # generated images per evaluation
    num_real: int | str | None = None  # real images: None = num_samples (at most the dataset's size), "all", or a count
    quantize: bool = False  # round generated images to 8 bits first, as a saved PNG holds them
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
        real = self.num_real
        if not (real is None or real == "all" or (isinstance(real, int) and not isinstance(real, bool) and real >= 2)):
            raise ConfigError(f"metrics.num_real={real} must be null (as many as num_samples), all, or an integer >= 2")
        if not isinstance(self.quantize, bool):
            raise ConfigError(f"metrics.quantize={self.quantize} must be true or false")
        for name in ("feature_extractor", "inception_weights"):
            path = getattr(self, name)
            if path is not None and not Path(path).expanduser().is_file():
                raise ConfigError(
                    f"metrics.{name}={path} is not a file: fix the path, or drop it for the standard Inception"
                )

    @property
    def fid_key(self) -> str:
        return metric_key("fid", self.num_samples)

    @property
    def kid_key(self) -> str:
        return metric_key("kid", self.num_samples)

    def real_count(self, dataset_size: int) -> int:
        """How many of a dataset's images the real set holds."""
        if self.num_real == "all":
            return dataset_size
        return min(self.num_real or self.num_samples, dataset_size)

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
