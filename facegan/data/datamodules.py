"""LightningDataModules: CelebA (or any face folder) and the built-in synthetic faces.

Two data paths, the same batches to the model:
  data.cache=true (default)  prepare_data decodes the source once into a prepared cache (cache.py);
                             batches are gathered from it on the training device (batches.py).
  data.cache=false           a plain DataLoader decodes every image every epoch in num_workers processes.

Batch size is per device (Lightning's convention): the global batch is
data.batch_size x trainer.devices x trainer.num_nodes.
"""

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from facegan.data.batches import EpochBatches, ResidentImages, StagedImages, place_images
from facegan.data.cache import CacheSpec, PreparedImages, open_prepared, prepare
from facegan.data.decoding import ImageFilesDataset
from facegan.data.sources import CELEBA_HELP, DataSourceError, ImageSource, find_images, fingerprint, select_split
from facegan.data.synthetic import SyntheticFaces
from facegan.errors import ConfigError, FaceganError, is_number, require_boolean, require_integer
from facegan.runtime.devices import visible_gpus


def available_cpus() -> int:
    """CPUs this process may run on (a cluster job's allocation, not the whole node)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class FaceDataModule(pl.LightningDataModule):
    """Shuffled, batched, drop_last training batches of (B, 3, S, S) images in [-1, 1].

    Subclasses say what the images are: `build_dataset` (one decoded item at a time) and
    `cache_spec` (what the prepared cache holds and how to decode it).
    """

    def __init__(
        self,
        *,
        image_size: int,
        batch_size: int,
        num_workers: int,
        cache: bool,
        cache_dir: str,
        prepare_workers: int | None,
        flip: bool,
        seed: int,
        cache_wait_s: float,
    ):
        # The settings every source shares; their defaults and meanings are in conf/data/base.yaml.
        super().__init__()
        require_integer("data.batch_size", batch_size, 1, 128)
        require_integer("data.num_workers", num_workers, 0, 2)
        if prepare_workers is not None:
            require_integer("data.prepare_workers", prepare_workers, 1, 4)
        require_boolean("data.cache", cache)
        require_boolean("data.flip", flip)
        if flip and not cache:
            raise ConfigError("data.flip=true flips batches of the prepared cache on the device: keep data.cache=true")
        if not is_number(cache_wait_s) or cache_wait_s < 0:
            raise ConfigError(f"data.cache_wait_s={cache_wait_s} must be seconds >= 0, e.g. data.cache_wait_s=3600")
        self.image_size = image_size
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.cache = cache
        self.cache_dir = Path(cache_dir).expanduser()
        self.prepare_workers = prepare_workers or available_cpus()
        self.flip = flip
        self.seed = seed
        self.cache_wait_s = cache_wait_s
        self.dataset: Dataset | None = None  # data.cache=false
        self.prepared: PreparedImages | None = None  # data.cache=true
        self._spec: CacheSpec | None = None
        self._placed: ResidentImages | StagedImages | None = None

    def build_dataset(self) -> Dataset:
        raise NotImplementedError

    def build_cache_spec(self) -> CacheSpec:
        raise NotImplementedError

    def cache_spec(self) -> CacheSpec:
        # Built once: for a folder source it stats every file (CelebA: 202,599 of them).
        if self._spec is None:
            self._spec = self.build_cache_spec()
        return self._spec

    def prepare_data(self) -> None:
        """Build the prepared cache unless a matching one exists (Lightning: one process per node)."""
        if self.cache:
            prepare(self.cache_spec(), self.cache_dir, self.prepare_workers, self.cache_wait_s)

    def setup(self, stage: str | None = None) -> None:
        if self.cache and self.prepared is None:
            self.prepared = open_prepared(self.cache_spec(), self.cache_dir)
            if self.prepared is None:
                raise FaceganError(
                    f"no prepared cache for this data in {self.cache_dir}: run prepare_data() first "
                    "(Trainer.fit does), or scripts/prepare_data.py with the same data and model overrides"
                )
        if not self.cache and self.dataset is None:
            self.dataset = self.build_dataset()
        available = len(self.prepared) if self.cache else len(self.dataset)
        if available < self.batch_size:
            raise ConfigError(
                f"data.batch_size={self.batch_size} is larger than the {available} images available "
                "(batches drop the incomplete last one): lower data.batch_size or add images"
            )

    def train_dataloader(self) -> DataLoader | EpochBatches:
        if self.cache:
            trainer = self.trainer
            return self.epoch_batches(
                trainer.strategy.root_device,
                rank=trainer.global_rank,
                world_size=trainer.world_size,
                epoch=lambda: trainer.current_epoch,
            )
        assert self.dataset is not None, "setup() must run before train_dataloader()"
        return DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            shuffle=True,
            drop_last=True,  # BatchNorm statistics and loss scales assume full batches
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=visible_gpus() > 0,
        )

    def epoch_batches(
        self, device: torch.device, rank: int = 0, world_size: int = 1, epoch: Callable[[], int] = lambda: 0
    ) -> EpochBatches:
        """The cached path's batches for one rank, on `device`; the images move there once."""
        assert self.prepared is not None, "setup() must run before epoch_batches()"
        if self._placed is None or self._placed.device != device:
            self._placed = place_images(torch.from_numpy(self.prepared.images), device, self.batch_size)
        batches = EpochBatches(self._placed, self.batch_size, self.seed, epoch, rank, world_size, self.flip)
        if len(batches) == 0:
            raise ConfigError(
                f"data.batch_size={self.batch_size} x {world_size} processes needs more than the "
                f"{len(self.prepared)} images available: lower data.batch_size or trainer.devices"
            )
        return batches

    def teardown(self, stage: str | None = None) -> None:
        self._placed = None  # frees the device copy of the images


class CelebADataModule(FaceDataModule):
    """CelebA's aligned faces (or any folder/zip of face images), center-cropped and resized."""

    def __init__(self, *, root: str, split: str, crop_size: int | None, download: bool, **settings):
        super().__init__(**settings)
        if crop_size is not None:
            require_integer("data.crop_size", crop_size, 1, 140)  # null: the short side
        require_boolean("data.download", download)
        self.root = Path(root).expanduser()
        self.split = split
        self.crop_size = crop_size
        self.download = download
        # Resolve the files now (cheap: no decoding) so a wrong root fails before any heavy work.
        self.source: ImageSource | None = None if download else self._resolve()

    def _resolve(self) -> ImageSource:
        return select_split(find_images(self.root), self.root, self.split)

    def _files(self) -> ImageSource:
        if self.source is None:
            self.source = self._resolve()
        return self.source

    def prepare_data(self) -> None:
        if self.download:
            download_celeba(self.root)
        super().prepare_data()

    def build_dataset(self) -> ImageFilesDataset:
        return ImageFilesDataset(self._files(), self.image_size, self.crop_size)

    def build_cache_spec(self) -> CacheSpec:
        source = self._files()
        name = Path(source.location).stem + ("" if self.split == "all" else f"-{self.split}")
        return CacheSpec(
            name=re.sub(r"[^\w.-]", "_", name),
            image_size=self.image_size,
            count=len(source),
            identity={
                "source": str(source.location.resolve()),
                "fingerprint": fingerprint(source),
                "split": self.split,
                "crop_size": self.crop_size,
            },
            load=self.build_dataset().load_uint8,
        )


class SyntheticDataModule(FaceDataModule):
    """Procedurally drawn faces: no download, deterministic for a seed."""

    def __init__(self, *, num_images: int, **settings):
        super().__init__(**settings)
        require_integer("data.num_images", num_images, 1, 20000)
        self.num_images = num_images

    def build_dataset(self) -> SyntheticFaces:
        return SyntheticFaces(num_images=self.num_images, image_size=self.image_size, seed=self.seed)

    def build_cache_spec(self) -> CacheSpec:
        return CacheSpec(
            name=f"synthetic-seed{self.seed}",
            image_size=self.image_size,
            count=self.num_images,
            identity={"source": "synthetic", "num_images": self.num_images, "seed": self.seed},
            load=self.build_dataset().render_uint8,
        )


def download_celeba(root: Path) -> None:
    """torchvision's CelebA downloader (Google Drive, often over quota): only on data.download=true."""
    from torchvision.datasets import CelebA

    try:
        CelebA(str(root), split="all", target_type=[], download=True)
    except Exception as error:  # network errors, Drive quota, checksum failures all mean the same to a user
        raise DataSourceError(
            f"data.download=true failed for {root} ({type(error).__name__}: {error}); {CELEBA_HELP}"
        ) from error
