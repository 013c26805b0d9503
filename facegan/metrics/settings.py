"""The `metrics` config group as one checked object, shared by training (MetricsCallback) and
scripts/evaluate.py. Bad values fail here, in one line, before anything heavy is built."""

from dataclasses import dataclass
from pathlib import Path

import torch

from facegan.errors import ConfigError, require_boolean, require_integer
from facegan.metrics.precision_recall import NEIGHBOURHOOD_SIZE


def count_tag(count: int) -> str:
    """10000 -> "10k", 500 -> "500": the sample count as metric keys carry it."""
    return f"{count // 1000}k" if count >= 1000 and count % 1000 == 0 else str(count)


def metric_key(name: str, num_samples: int) -> str:
    """The logged name of a metric measured on `num_samples` generated images, e.g. metrics/fid10k: scores from
    different sample counts are biased differently (FID falls as N grows), so they never share a curve."""
    return f"metrics/{name}{count_tag(int(num_samples))}"


# (field, smallest allowed value, an example)
INTEGER_FIELDS = (
    ("every_n_epochs", 1, 1),
    ("num_samples", NEIGHBOURHOOD_SIZE + 1, 10000),  # precision and recall need k + 1 generated images
    ("batch_size", 1, 100),
    ("num_workers", 0, 0),
    ("seed", 0, 0),
    ("kid_subsets", 1, 100),
    ("kid_subset_size", 2, 1000),
)


@dataclass(frozen=True)
class MetricSettings:
    """The `metrics` group: each field's default and meaning is in conf/metrics/default.yaml."""

    enabled: bool | str
    every_n_epochs: int
    num_samples: int
    num_real: int | str | None
    quantize: bool
    batch_size: int
    feature_extractor: str | None
    inception_weights: str | None
    cache_dir: str
    num_workers: int
    seed: int
    kid_subsets: int
    kid_subset_size: int

    def __post_init__(self) -> None:
        if not (self.enabled == "auto" or isinstance(self.enabled, bool)):
            raise ConfigError(f"metrics.enabled={self.enabled} must be auto, true or false")
        for name, minimum, example in INTEGER_FIELDS:
            require_integer(f"metrics.{name}", getattr(self, name), minimum, example)
        real = self.num_real
        least = NEIGHBOURHOOD_SIZE + 1
        if not (
            real is None or real == "all" or (isinstance(real, int) and not isinstance(real, bool) and real >= least)
        ):
            raise ConfigError(
                f"metrics.num_real={real} must be null (as many as num_samples), all, or an integer >= {least}"
            )
        require_boolean("metrics.quantize", self.quantize)
        for name in ("feature_extractor", "inception_weights"):
            path = getattr(self, name)
            if path is not None and not Path(path).expanduser().is_file():
                raise ConfigError(
                    f"metrics.{name}={path} is not a file: fix the path, or drop it for the standard Inception"
                )

    def key(self, name: str) -> str:
        """A score's logged name at this sample count: key("fid") -> metrics/fid10k."""
        return metric_key(name, self.num_samples)

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
                "metrics.enabled=auto turns them on only on a GPU (the Inception network is slow on a CPU: "
                "docs/BENCHMARKS.md); force them with metrics.enabled=true and a small metrics.num_samples, e.g. 200"
            )
        return None
