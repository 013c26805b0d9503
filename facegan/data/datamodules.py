"""LightningDataModules: CelebA (or any face folder) and the built-in synthetic faces.

Batch size is per device (Lightning's convention): the global batch is
data.batch_size x trainer.devices x trainer.num_nodes.
"""

from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from facegan.data.images import ImageFilesDataset
from facegan.data.sources import CELEBA_HELP, DataSourceError, ImageSource, find_images, select_split
from facegan.data.synthetic import SyntheticFaces


class FaceDataModule(pl.LightningDataModule):
    """Shuffled, batched, drop_last training batches of (B, 3, S, S) images in [-1, 1]."""

    def __init__(self, image_size: int, batch_size: int = 128, num_workers: int = 2):
        super().__init__()
        if batch_size <= 0:
            raise ValueError(f"data.batch_size={batch_size} must be positive (e.g. data.batch_size=128)")
        if num_workers < 0:
            raise ValueError(f"data.num_workers={num_workers} must be >= 0 (0 loads in the training process)")
        self.image_size = image_size
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.dataset: Dataset | None = None

    def build_dataset(self) -> Dataset:
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.dataset is None:
            self.dataset = self.build_dataset()
            if len(self.dataset) < self.batch_size:
                raise ValueError(
                    f"data.batch_size={self.batch_size} is larger than the {len(self.dataset)} images available "
                    "(batches drop the incomplete last one): lower data.batch_size or add images"
                )

    def train_dataloader(self) -> DataLoader:
        assert self.dataset is not None, "setup() must run before train_dataloader()"
        return DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            shuffle=True,
            drop_last=True,  # BatchNorm statistics and loss scales assume full batches
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
        )


class CelebADataModule(FaceDataModule):
    """CelebA's aligned faces (or any folder/zip of face images), center-cropped and resized."""

    def __init__(
        self,
        root: str,
        image_size: int,
        split: str = "all",
        crop_size: int | None = None,
        download: bool = False,
        batch_size: int = 128,
        num_workers: int = 2,
    ):
        super().__init__(image_size, batch_size, num_workers)
        self.root = Path(root).expanduser()
        self.split = split
        self.crop_size = crop_size
        self.download = download
        # Resolve the files now (cheap: no decoding) so a wrong root fails before any heavy work.
        self.source: ImageSource | None = None if download else self._resolve()

    def _resolve(self) -> ImageSource:
        return select_split(find_images(self.root), self.root, self.split)

    def prepare_data(self) -> None:
        if self.download:
            download_celeba(self.root)

    def build_dataset(self) -> Dataset:
        if self.source is None:
            self.source = self._resolve()
        return ImageFilesDataset(self.source, self.image_size, self.crop_size)


class SyntheticDataModule(FaceDataModule):
    """Procedurally drawn faces: no download, deterministic for a seed."""

    def __init__(self, image_size: int, num_images: int = 20000, seed: int = 0, batch_size: int = 128, num_workers: int = 2):
        super().__init__(image_size, batch_size, num_workers)
        self.num_images = num_images
        self.seed = seed

    def build_dataset(self) -> Dataset:
        return SyntheticFaces(num_images=self.num_images, image_size=self.image_size, seed=self.seed)


def download_celeba(root: Path) -> None:
    """torchvision's CelebA downloader (Google Drive, often over quota): only on data.download=true."""
    from torchvision.datasets import CelebA

    try:
        CelebA(str(root), split="all", target_type=[], download=True)
    except Exception as error:  # network errors, Drive quota, checksum failures all mean the same to a user
        raise DataSourceError(f"data.download=true failed for {root} ({type(error).__name__}: {error}); {CELEBA_HELP}") from error
