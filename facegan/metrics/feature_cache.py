"""Real-image features on disk: extracted once, reused by every evaluation, run and sweep job that
measures against the same images with the same network.

A file is keyed by the dataset (the datamodule's cache spec: source, fingerprint, crop, split, size,
count; see facegan/data/cache.py), the number of images available, the extractor and the sample count
and seed. Its name shows the readable part of the key and a digest of all of it, e.g.
`img_align_celeba-64px-inception-2015-12-05-1a2b3c4d5e-n10000-<digest>.pt`.
"""

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import torch

from facegan.fileio import atomic_write, read_torch_file

log = logging.getLogger(__name__)


def real_features_key(
    datamodule: Any, available: int, extractor_name: str, num_samples: int, seed: int | None
) -> dict[str, Any]:
    """What decides the real features: which images (the datamodule's cache spec, and how many of them
    could be read), which network, and which sample of the images (drawn with `seed`; None: every image, in
    order, as the nearest-neighbour checks index them)."""
    spec = datamodule.cache_spec()
    return {
        "dataset": spec.name,
        "dataset_key": spec.key,
        "image_size": spec.image_size,
        "available": available,
        "extractor": extractor_name,
        "num_samples": num_samples,
        "seed": seed,
    }


class RealFeatureCache:
    """One `.pt` file of (N, d) float32 features per key under `cache_dir`."""

    def __init__(self, cache_dir: str | Path):
        self.cache_dir = Path(cache_dir).expanduser()

    def path(self, key: dict[str, Any]) -> Path:
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
        name = f"{key['dataset']}-{key['image_size']}px-{key['extractor']}-n{key['num_samples']}-{digest}.pt"
        return self.cache_dir / name

    def load(self, key: dict[str, Any]) -> torch.Tensor | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            stored = read_torch_file(path)
        except Exception as error:  # a file cut short by a killed run: extract again and overwrite it
            log.warning("Ignoring unreadable real-feature cache %s (%s)", path, type(error).__name__)
            return None
        if stored.get("key") != key:
            log.warning("Ignoring real-feature cache %s: written for another key", path)
            return None
        return stored["features"]

    def save(self, key: dict[str, Any], features: torch.Tensor) -> Path:
        """Write atomically: runs sharing the cache never read a half-written file."""
        path = self.path(key)
        with atomic_write(path) as partial:
            torch.save({"key": key, "features": features.detach().float().cpu()}, partial)
        return path
