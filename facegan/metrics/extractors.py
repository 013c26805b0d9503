"""Feature extractors for FID and KID: the network that maps images to the features whose statistics
are compared. Every extractor takes facegan's images, (N, 3, S, S) floats in [-1, 1] at any S, and
returns (N, d) float features; its `name` keys the cache of real-image features."""

import hashlib
import tempfile
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from facegan.data.decoding import to_uint8
from facegan.errors import FaceganError, describe
from facegan.fileio import read_torch_file
from facegan.metrics.settings import MetricSettings

INCEPTION_INPUT_SIZE = 299
INCEPTION_FILE_HINT = "metrics.feature_extractor=<TorchScript Inception .pt> (e.g. ~/models/inception-2015-12-05.pt)"


class MetricsUnavailable(FaceganError):
    """No feature extractor could be loaded; the message says how to provide one."""


class FeatureExtractor(nn.Module):
    """Base of facegan's extractors: frozen, always in eval mode, named for the feature cache."""

    name: str
    resizer: str  # how images reach the network's input size: part of a score's protocol

    def __init__(self, name: str):
        super().__init__()
        self.name = name

    def train(self, mode: bool = True) -> "FeatureExtractor":
        return super().train(False)  # BatchNorm statistics of a feature network must never move


class TorchScriptExtractor(FeatureExtractor):
    """A TorchScript network taking (N, 3, 299, 299) RGB in [-1, 1], such as the 2015-12-05 Inception
    that FID was defined with. Images are resized bilinearly to 299 first."""

    resizer = "bilinear to 299 in float (torch interpolate, align_corners=False)"

    def __init__(self, path: str | Path):
        path = Path(path).expanduser()
        # The file's digest, not just its name, keys the cache: two networks never share real features.
        super().__init__(f"{path.stem}-{file_digest(path)}")
        with warnings.catch_warnings():
            # Recent torch marks TorchScript deprecated; the FID Inception is only published in that format.
            warnings.filterwarnings("ignore", message=".*torch.jit.load.*deprecated", category=FutureWarning)
            # float(): a copy whose weights were stored in half precision (make offline-bundle) computes in fp32.
            self.network = torch.jit.load(str(path), map_location="cpu").float().eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        size = (INCEPTION_INPUT_SIZE, INCEPTION_INPUT_SIZE)
        if images.shape[-2:] != size:
            images = F.interpolate(images, size=size, mode="bilinear", align_corners=False)
        return self.network(images).float()


class StandardInception(FeatureExtractor):
    """torch-fidelity's Inception-v3 (the TensorFlow FID graph's weights), 2048 pool features; the same
    network torchmetrics uses by default. Downloads its weights on first use unless given a local copy."""

    resizer = "8-bit images, bilinear to 299 as the TensorFlow graph does (torch-fidelity's TF-compatible resize)"

    def __init__(self, weights_path: str | Path | None = None):
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        if weights_path is None:
            super().__init__("inception-v3-compat")
            self.network = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
            return
        path = Path(weights_path).expanduser()
        super().__init__(f"inception-v3-compat-{file_digest(path)}")
        weights = read_torch_file(path)  # tensors only: a file holding pickled code is refused, the code never runs
        # torch-fidelity takes its weights only as a path, which it unpickles with weights_only=False (any code in the
        # file would run). So it is handed a copy facegan wrote itself from the tensors just read, in a folder only
        # this user can enter (nobody can swap the file between the write and the read): that file holds data only.
        with tempfile.TemporaryDirectory(prefix="facegan-inception-") as folder:
            copy = Path(folder) / "weights.pth"
            torch.save(weights, copy)
            self.network = FeatureExtractorInceptionV3(
                "inception-v3-compat", ["2048"], feature_extractor_weights_path=str(copy)
            )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # torch-fidelity wants uint8 [0, 255] and does its own (TensorFlow-compatible) resize to 299.
        pixels = to_uint8(images)
        (features,) = self.network(pixels)
        return features.float()


def file_digest(path: Path, length: int = 10) -> str:
    """The start of the file's SHA-256."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:length]


def load_feature_extractor(settings: MetricSettings) -> FeatureExtractor:
    """metrics.feature_extractor if given, else the standard Inception (from metrics.inception_weights or
    downloaded). Raises MetricsUnavailable, saying how to provide an extractor, when none can be loaded."""
    if settings.feature_extractor is not None:
        try:
            return TorchScriptExtractor(settings.feature_extractor)
        except Exception as error:  # torch.jit.load's errors for a file that is not TorchScript
            raise MetricsUnavailable(
                f"metrics.feature_extractor={settings.feature_extractor} could not be loaded as TorchScript "
                f"({describe(error)}): give a torch.jit.save'd network, e.g. {INCEPTION_FILE_HINT}"
            ) from None
    try:
        return StandardInception(settings.inception_weights)
    except ModuleNotFoundError:
        raise MetricsUnavailable(
            f"the standard Inception needs torch-fidelity (pip install torch-fidelity); or give {INCEPTION_FILE_HINT}"
        ) from None
    except Exception as error:  # no network, a proxy, a truncated or foreign weights file: one message for all
        source = (
            f"metrics.inception_weights={settings.inception_weights}" if settings.inception_weights else "the internet"
        )
        raise MetricsUnavailable(
            f"the standard Inception's weights could not be loaded from {source} ({describe(error)}); give "
            f"{INCEPTION_FILE_HINT}, "
            "or metrics.inception_weights=<a copy of weights-inception-2015-12-05-6726825d.pth>"
        ) from None
