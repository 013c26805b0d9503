"""Features of real and generated images, extracted in shares across processes.

Under DDP every rank extracts the features of its own rows and the rows are gathered, so statistics
are computed over the whole sample, never per rank. One process is the special case world_size=1.
"""

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from facegan.data.decoding import scale_to_model_range
from facegan.metrics.extractors import FeatureExtractor


# One process is a world of one: gathering adds the world dimension, broadcasting changes nothing.
def _gather_alone(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.unsqueeze(0)


def _broadcast_alone(obj: Any) -> Any:
    return obj


@dataclass(frozen=True)
class Shard:
    """This process's share of an evaluation, and how it talks to the others (a Lightning strategy's
    all_gather and broadcast under DDP)."""

    rank: int = 0
    world_size: int = 1
    all_gather: Callable[[torch.Tensor], torch.Tensor] = _gather_alone  # (n, d) -> (world_size, n, d)
    broadcast: Callable[[Any], Any] = _broadcast_alone  # rank 0's object, on every rank

    @classmethod
    def of(cls, strategy: Any) -> "Shard":
        return cls(strategy.global_rank, strategy.world_size, strategy.all_gather, strategy.broadcast)

    def rows(self, total: int) -> list[int]:
        """This rank's rows of 0..total-1. Every rank gets ceil(total / world_size) rows, as all_gather needs
        equal shapes; the last rank's share may run past the end, wraps round, and gather_rows drops it."""
        per_rank = math.ceil(total / self.world_size)
        return [row % total for row in range(self.rank * per_rank, (self.rank + 1) * per_rank)]

    def gather_rows(self, local: torch.Tensor, total: int) -> torch.Tensor:
        """Every rank's (per_rank, d) rows, in row order, as one (total, d) tensor on every rank."""
        gathered = self.all_gather(local.contiguous())
        return gathered.reshape(-1, local.shape[-1])[:total]


@torch.no_grad()
def extract_features(
    extractor: FeatureExtractor, batches: Iterable[torch.Tensor], device: torch.device
) -> torch.Tensor:
    """(N, d) features of image batches (B, 3, S, S) in [-1, 1], on `device`."""
    extractor.to(device)
    return torch.cat([extractor(batch.to(device, torch.float32)) for batch in batches])


class UInt8Images(Dataset):
    """(N, 3, S, S) uint8 images, such as a memory-mapped prepared cache, as floats in [-1, 1]."""

    def __init__(self, images: Any):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return scale_to_model_range(torch.as_tensor(self.images[index]))


def real_images(datamodule: Any) -> Dataset:
    """A set-up FaceDataModule's images, random access, (3, S, S) in [-1, 1]: read from its prepared
    cache (data.cache=true) or decoded by its dataset (data.cache=false)."""
    if datamodule.prepared is not None:
        return UInt8Images(datamodule.prepared.images)
    return datamodule.dataset


def real_sample_indices(dataset_size: int, num_samples: int, seed: int) -> list[int]:
    """A fixed random choice of min(num_samples, dataset_size) images: the same for a seed, everywhere."""
    order = torch.randperm(dataset_size, generator=torch.Generator().manual_seed(seed))
    return order[:num_samples].tolist()


def real_features(
    extractor: FeatureExtractor,
    dataset: Dataset,
    indices: list[int],
    shard: Shard,
    device: torch.device,
    batch_size: int,
    num_workers: int = 0,
) -> torch.Tensor:
    """(len(indices), d) features of the dataset's images at `indices`, extracted in shares."""
    local_indices = [indices[row] for row in shard.rows(len(indices))]
    loader = DataLoader(Subset(dataset, local_indices), batch_size=batch_size, num_workers=num_workers)
    return shard.gather_rows(extract_features(extractor, loader, device), len(indices))


def generated_batches(
    sample: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor, batch_size: int
) -> Iterator[torch.Tensor]:
    for start in range(0, len(z), batch_size):
        yield sample(z[start : start + batch_size])


def generated_features(
    extractor: FeatureExtractor,
    sample: Callable[[torch.Tensor], torch.Tensor],
    z: torch.Tensor,
    shard: Shard,
    device: torch.device,
    batch_size: int,
) -> torch.Tensor:
    """(len(z), d) features of the images `sample` makes from z, each rank generating its share."""
    local_z = z[shard.rows(len(z))]
    local = extract_features(extractor, generated_batches(sample, local_z, batch_size), device)
    return shard.gather_rows(local, len(z))
