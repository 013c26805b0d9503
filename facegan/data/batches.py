"""Training batches from the prepared uint8 array, gathered where the images live.

No worker processes and no per-sample Python: a batch is one index gather on a (N, 3, S, S) uint8
tensor, an optional flip, and one conversion to float in [-1, 1]. On a GPU the whole array lives
in device memory (CelebA at 64x64 is 2.5 GB), so all three run there; on the CPU the gather reads
the memory-mapped file; a GPU without room for the array gets pinned host buffers and async copies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from facegan.data.decoding import scale_to_model_range

# The share of a GPU's total memory kept free for the networks, activations and the allocator's cache
# when deciding whether the images fit on it; DCGANs up to 128x128 need well under this.
DEVICE_MEMORY_RESERVE = 0.25


class ResidentImages:
    """All images in one tensor on the training device (or the memory-mapped array, on the CPU)."""

    def __init__(self, images: torch.Tensor):
        self.images = images  # (N, 3, S, S) uint8
        self.device = images.device
        self.index_device = images.device

    def __len__(self) -> int:
        return len(self.images)

    def gather(self, indices: torch.Tensor) -> torch.Tensor:
        return self.images.index_select(0, indices)  # (B, 3, S, S) uint8


class StagedImages:
    """Images left in host memory for a GPU they do not fit on.

    Each batch is gathered into one of two pinned buffers and copied to the device asynchronously,
    so the copy of one batch overlaps the training step of the one before. A buffer is refilled
    only after an event says its last copy has finished.
    """

    def __init__(self, images: torch.Tensor, device: torch.device, batch_size: int):
        self.images = images  # (N, 3, S, S) uint8 on the CPU, usually memory-mapped
        self.device = device
        self.index_device = torch.device("cpu")
        pin = device.type == "cuda"
        shape = (batch_size, *images.shape[1:])
        self._buffers = [torch.empty(shape, dtype=torch.uint8, pin_memory=pin) for _ in range(2)]
        self._copied: list[torch.cuda.Event | None] = [None, None]
        self._next = 0

    def __len__(self) -> int:
        return len(self.images)

    def gather(self, indices: torch.Tensor) -> torch.Tensor:
        slot, self._next = self._next, 1 - self._next
        if self._copied[slot] is not None:
            self._copied[slot].synchronize()
        buffer = self._buffers[slot][: len(indices)]
        torch.index_select(self.images, 0, indices, out=buffer)
        batch = buffer.to(self.device, non_blocking=True)  # (B, 3, S, S) uint8
        if self.device.type == "cuda":
            self._copied[slot] = torch.cuda.Event()
            self._copied[slot].record(torch.cuda.current_stream(self.device))
        # Off CUDA, `batch` is the buffer itself; callers convert it to a new float tensor before the next gather.
        return batch


def fits_in_device_memory(nbytes: int, free_bytes: int, total_bytes: int) -> bool:
    return nbytes <= free_bytes - DEVICE_MEMORY_RESERVE * total_bytes


def place_images(images: torch.Tensor, device: torch.device, batch_size: int) -> ResidentImages | StagedImages:
    """Put the (N, 3, S, S) uint8 CPU tensor where batches are cheapest to gather for `device`."""
    if device.type == "cpu":
        return ResidentImages(images)
    if device.type == "cuda" and not fits_in_device_memory(images.nbytes, *torch.cuda.mem_get_info(device)):
        return StagedImages(images, device, batch_size)
    return ResidentImages(images.to(device))


def epoch_seed(seed: int, epoch: int) -> int:
    """A well-mixed seed for one epoch: nearby (seed, epoch) pairs give unrelated permutations."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1, np.uint64)[0])


class EpochBatches:
    """One rank's training batches: float (B, 3, S, S) in [-1, 1] on the images' device, full batches only.

    Every epoch is a fresh permutation of all images drawn from (seed, epoch): the same on every
    rank, in every rerun and after a resume. Rank r of w takes positions r, r + w, r + 2w, ...
    of it, so ranks never share an image and all get the same number of batches. With `flip`,
    each position of the permutation also draws a coin for a horizontal flip, done on the device.
    """

    def __init__(
        self,
        images: ResidentImages | StagedImages,
        batch_size: int,
        seed: int,
        epoch: Callable[[], int],
        rank: int = 0,
        world_size: int = 1,
        flip: bool = False,
    ):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank={rank} must be in [0, world_size={world_size})")
        self.images = images
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = epoch  # read when an epoch's iteration starts, e.g. lambda: trainer.current_epoch
        self.rank = rank
        self.world_size = world_size
        self.flip = flip

    def __len__(self) -> int:
        return len(self.images) // self.world_size // self.batch_size

    def epoch_plan(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's image indices for `epoch`, in order, and whether to flip each: two CPU tensors."""
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, epoch))
        count = len(self.images)
        order = torch.randperm(count, generator=generator)
        flips = torch.rand(count, generator=generator) < 0.5
        shard = slice(self.rank, count // self.world_size * self.world_size, self.world_size)
        return order[shard], flips[shard]

    def __iter__(self) -> Iterator[torch.Tensor]:
        order, flips = self.epoch_plan(self.epoch())
        order = order.to(self.images.index_device)
        flips = flips.to(self.images.device).view(-1, 1, 1, 1)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            batch = self.images.gather(order[start : start + self.batch_size])  # (B, 3, S, S) uint8
            if self.flip:
                batch = torch.where(flips[start : start + self.batch_size], batch.flip(-1), batch)
            yield scale_to_model_range(batch)
