"""Find the images a user points `data.root` at, without decoding any of them.

Accepted layouts (checked in this order):
  root/img_align_celeba/*.jpg             the official CelebA layout
  root/celeba/img_align_celeba/*.jpg      torchvision's layout (what data.download=true produces)
  root/*.jpg|png, root/*/*.jpg|png        any folder of face images (processed_celeba_small, anime faces)
  root/img_align_celeba.zip, root/celeba/img_align_celeba.zip, or root itself a .zip: read in place
"""

import hashlib
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from facegan.errors import FaceganError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
SPLITS = {"train": 0, "valid": 1, "test": 2}
PARTITION_FILE = "list_eval_partition.txt"
# A zip member inflating past this is skipped: every DataLoader worker would read it whole into memory,
# and no face photo comes near it (CelebA's largest is under 100 kB).
MAX_MEMBER_BYTES = 64 * 2**20
# Skipped files named in the log line; the count covers them all.
NAMED_SKIPS = 3
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
    skipped: tuple[tuple[str, str], ...] = ()  # (file, why) of image-named files that are left out

    def __len__(self) -> int:
        return len(self.files)


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES) and not Path(name).name.startswith(".")


def _utf8_name(name: str) -> bool:
    # Linux hands undecodable bytes over as lone surrogates; they cannot be hashed, logged or stored as text.
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(name: str) -> str:
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _images_in_folder(folder: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """The image files under `folder` and one sub-folder level (the processed_celeba_small layout nests them),
    and the image-named entries left out with the reason."""
    files, skipped = [], []
    for path in (path for pattern in ("*", "*/*") for path in folder.glob(pattern) if _is_image(path.name)):
        name = str(path.relative_to(folder))
        if not _utf8_name(name):
            skipped.append((_printable(name), "a file name that is not UTF-8: rename it"))
        elif not path.is_file():
            skipped.append((name, "a dangling link" if path.is_symlink() else "not a regular file"))
        else:
            files.append(name)
    return sorted(files), sorted(skipped)


def _images_in_zip(zip_path: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """The image members of `zip_path`, and those left out (too large to decode) with the reason."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = [
                info
                for info in archive.infolist()
                if not info.is_dir() and _is_image(info.filename) and not info.filename.startswith("__MACOSX")
            ]
    except zipfile.BadZipFile as error:
        raise DataSourceError(f"data.root zip {zip_path} is not a readable zip ({error}): re-download it") from error
    files = sorted(info.filename for info in members if info.file_size <= MAX_MEMBER_BYTES)
    skipped = sorted(
        (info.filename, f"inflates to {info.file_size:,} bytes, over the bound of {MAX_MEMBER_BYTES:,}")
        for info in members
        if info.file_size > MAX_MEMBER_BYTES
    )
    return files, skipped


def _log_skipped(source: "ImageSource") -> None:
    if source.skipped:
        named = "; ".join(f"{name}: {why}" for name, why in source.skipped[:NAMED_SKIPS])
        more = f" and {len(source.skipped) - NAMED_SKIPS} more" if len(source.skipped) > NAMED_SKIPS else ""
        log.warning("Skipping %d file(s) of %s: %s%s", len(source.skipped), source.location, named, more)


def _zip_source(zip_path: Path) -> "ImageSource":
    files, skipped = _images_in_zip(zip_path)
    return ImageSource(location=zip_path, files=tuple(files), zip_path=zip_path, skipped=tuple(skipped))


def _candidates(root: Path) -> list[Path]:
    return [root / "img_align_celeba", root / "celeba" / "img_align_celeba", root]


def find_images(root: str | Path) -> ImageSource:
    """Resolve `root` to an ImageSource, or raise a one-line DataSourceError that says how to fix it."""
    root = Path(root).expanduser()
    if root.is_file() and root.suffix.lower() == ".zip":
        source = _zip_source(root)
        if not source.files:
            raise DataSourceError(f"data.root={root} is a zip with no jpg/png images in it: {CELEBA_HELP}")
        _log_skipped(source)
        return source
    if not root.exists():
        raise DataSourceError(f"data.root={root} does not exist: {CELEBA_HELP}")
    folder_source = None
    for folder in _candidates(root):
        if folder.is_dir():
            files, skipped = _images_in_folder(folder)
            if files:
                folder_source = ImageSource(location=folder, files=tuple(files), skipped=tuple(skipped))
                break
    zip_source = None
    for zip_path in (root / "img_align_celeba.zip", root / "celeba" / "img_align_celeba.zip"):
        if zip_path.is_file():
            zip_source = _zip_source(zip_path)
            break
    source = _prefer_fuller(folder_source, zip_source)
    if source is None:
        raise DataSourceError(f"data.root={root} holds no jpg/png images: {CELEBA_HELP}")
    _log_skipped(source)
    return source


def _prefer_fuller(folder: ImageSource | None, archive: ImageSource | None) -> ImageSource | None:
    """A folder beside a zip that holds more images is most likely a half-finished unzip: read the zip."""
    if archive is None or not archive.files:
        return folder
    if folder is None:
        return archive
    if len(archive) > len(folder):
        log.warning(
            "%s has %d images but %s beside it has %d: reading the zip (finish the unzip, or move the zip "
            "away, to use the folder)",
            folder.location,
            len(folder),
            archive.location,
            len(archive),
        )
        return archive
    return folder


def _find_partition_file(root: Path, source: ImageSource) -> Path | None:
    search = [root, root / "celeba", source.location.parent, source.location]
    return next((folder / PARTITION_FILE for folder in search if (folder / PARTITION_FILE).is_file()), None)


def select_split(source: ImageSource, root: str | Path, split: str) -> ImageSource:
    """Keep only the images of CelebA's official split, read from list_eval_partition.txt."""
    if split != "all" and split not in SPLITS:
        raise DataSourceError(f"data.split={split} is not a CelebA split: use one of train, valid, test, all")
    if split == "all":
        return source
    partition_file = _find_partition_file(Path(root).expanduser(), source)
    if partition_file is None:
        raise DataSourceError(
            f"data.split={split} needs CelebA's {PARTITION_FILE} beside {source.location} (from the 'Eval' "
            "folder of the CelebA download): put it there, or use data.split=all"
        )
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
    return ImageSource(location=source.location, files=files, zip_path=source.zip_path, skipped=source.skipped)


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
