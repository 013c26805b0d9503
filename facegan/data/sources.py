"""Find the images a user points `data.root` at, without decoding any of them.

Accepted layouts (checked in this order):
  root/img_align_celeba/*.jpg             the official CelebA layout
  root/celeba/img_align_celeba/*.jpg      torchvision's layout (what data.download=true produces)
  root/*.jpg|png, root/*/*.jpg|png        any folder of face images (processed_celeba_small, anime faces)
  root/img_align_celeba.zip, root/celeba/img_align_celeba.zip, or root itself a .zip: read in place
"""

import hashlib
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from facegan.errors import FaceganError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
SPLITS = {"train": 0, "valid": 1, "test": 2}
PARTITION_FILE = "list_eval_partition.txt"
CELEBA_HELP = (
    "get CelebA's img_align_celeba.zip from https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html "
    "(Google Drive 'Img' folder) and set data.root to the folder holding it, or try data.download=true, "
    "or train on built-in faces with data=synthetic"
)


class DataSourceError(FaceganError):
    """data.root does not lead to usable images."""


@dataclass(frozen=True)
class ImageSource:
    """A list of image files, either on disk (`zip_path` None) or members of one zip archive."""

    location: Path  # the folder or zip the files live in
    files: tuple[str, ...]  # paths relative to `location`, sorted
    zip_path: Path | None = None

    def __len__(self) -> int:
        return len(self.files)


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES) and not Path(name).name.startswith(".")


def _images_in_folder(folder: Path) -> list[str]:
    # Walk one level of sub-folders too: the processed_celeba_small layout nests images one level down.
    return sorted(
        str(path.relative_to(folder))
        for pattern in ("*", "*/*")
        for path in folder.glob(pattern)
        if _is_image(path.name)
    )


def _images_in_zip(zip_path: Path) -> list[str]:
    try:
        with zipfile.ZipFile(zip_path) as archive:
            return sorted(name for name in archive.namelist() if _is_image(name) and not name.startswith("__MACOSX"))
    except zipfile.BadZipFile as error:
        raise DataSourceError(f"data.root zip {zip_path} is not a readable zip ({error}): re-download it") from error


def _candidates(root: Path) -> list[Path]:
    return [root / "img_align_celeba", root / "celeba" / "img_align_celeba", root]


def find_images(root: str | Path) -> ImageSource:
    """Resolve `root` to an ImageSource, or raise a one-line DataSourceError that says how to fix it."""
    root = Path(root).expanduser()
    if root.is_file() and root.suffix.lower() == ".zip":
        return ImageSource(location=root, files=tuple(_images_in_zip(root)), zip_path=root)
    if not root.exists():
        raise DataSourceError(f"data.root={root} does not exist: {CELEBA_HELP}")
    for folder in _candidates(root):
        if folder.is_dir():
            files = _images_in_folder(folder)
            if files:
                return ImageSource(location=folder, files=tuple(files))
    for zip_path in (root / "img_align_celeba.zip", root / "celeba" / "img_align_celeba.zip"):
        if zip_path.is_file():
            files = _images_in_zip(zip_path)
            if files:
                return ImageSource(location=zip_path, files=tuple(files), zip_path=zip_path)
    raise DataSourceError(f"data.root={root} holds no jpg/png images: {CELEBA_HELP}")


def _find_partition_file(root: Path, source: ImageSource) -> Path | None:
    search = [root, root / "celeba", source.location.parent, source.location]
    return next((folder / PARTITION_FILE for folder in search if (folder / PARTITION_FILE).is_file()), None)


def select_split(source: ImageSource, root: str | Path, split: str) -> ImageSource:
    """Keep only the images of CelebA's official split, when list_eval_partition.txt is present."""
    if split != "all" and split not in SPLITS:
        raise DataSourceError(f"data.split={split} is not a CelebA split: use one of train, valid, test, all")
    partition_file = _find_partition_file(Path(root).expanduser(), source)
    if split == "all" or partition_file is None:
        return source
    wanted = {
        name
        for name, part in (line.split() for line in partition_file.read_text().splitlines() if line.strip())
        if int(part) == SPLITS[split]
    }
    files = tuple(f for f in source.files if Path(f).name in wanted)
    if not files:
        raise DataSourceError(
            f"data.split={split}: none of the {len(source)} images in {source.location} are in that split of "
            f"{partition_file}; use data.split=all"
        )
    return ImageSource(location=source.location, files=files, zip_path=source.zip_path)


def fingerprint(source: ImageSource) -> str:
    """A hash that changes when any file is added, removed, renamed or rewritten (sizes and mtimes; no decoding)."""
    digest = hashlib.sha256(str(source.location.resolve()).encode())
    if source.zip_path is not None:
        stat = source.zip_path.stat()  # members change only when the archive itself does
        digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
        digest.update("\n".join(source.files).encode())
        return digest.hexdigest()
    for name in source.files:
        stat = os.stat(source.location / name)
        digest.update(f"{name}\0{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()
