"""Datasets over image files: decode, center square crop, resize, scale to [-1, 1]."""

import math
import os
import zipfile
from io import BytesIO

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset

from facegan.data.sources import ImageSource
from facegan.errors import FaceganError

# What PIL and zipfile raise for a file that is truncated, corrupt or not an image at all
# (UnidentifiedImageError and "image file is truncated" are OSErrors; broken PNG chunks raise SyntaxError).
UNREADABLE_IMAGE_ERRORS = (OSError, SyntaxError, EOFError, zipfile.BadZipFile, Image.DecompressionBombError)


class BadImageError(FaceganError):
    """One source file that cannot be decoded; the prepared cache skips it, the plain DataLoader cannot."""

    def __init__(self, file: str, reason: str = ""):
        # One positional argument must suffice: DataLoader workers re-raise an error as type(error)(message).
        fix = "delete it, or keep data.cache=true, which skips unreadable files"
        message = f"{file} is not a readable image ({reason}): {fix}" if reason else file
        super().__init__(message)
        self.file = file
        self.reason = reason


# Modes whose pixels go past 255: PIL's convert("RGB") clips them (a 16-bit PNG turns white), so they
# are scaled to 8 bits by their full range first.
WIDE_MODES = {"I;16": 65535, "I;16L": 65535, "I;16B": 65535, "I;16N": 65535, "I": 65535, "F": 1.0}


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode as 8-bit RGB: grayscale, palette and RGBA convert, 16-bit and float ones are scaled."""
    if image.mode in WIDE_MODES:
        pixels = np.asarray(image, dtype=np.float64)
        full_range = WIDE_MODES[image.mode]
        if image.mode == "I" and pixels.max(initial=0) <= 255:
            full_range = 255  # 32-bit integers holding 8-bit values
        gray = np.clip(np.rint(pixels * (255 / full_range)), 0, 255).astype(np.uint8)
        return Image.fromarray(gray, mode="L").convert("RGB")
    return image.convert("RGB")


def crop_and_resize(image: Image.Image, image_size: int, crop_size: int | None = None) -> np.ndarray:
    """Upright (EXIF orientation), center square crop (the short side, or `crop_size` pixels), then resize:
    uint8 (S, S, 3) RGB."""
    full_short_side = min(image.size)
    if image.format == "JPEG":
        # libjpeg can decode at 1/2, 1/4 or 1/8 scale directly; ask for the smallest scale that still
        # leaves at least image_size pixels across the crop: small sizes then never decode the full-size pixels.
        side = min(image.size) if crop_size is None else min(crop_size, *image.size)
        scale = image_size / side
        image.draft("RGB", (math.ceil(image.size[0] * scale), math.ceil(image.size[1] * scale)))
    # A phone photo stores its pixels sideways and the turn in EXIF; draft() scales both sides alike, so
    # the crop scales by the short side whichever way the image ends up.
    image = to_rgb(ImageOps.exif_transpose(image))
    width, height = image.size
    reduced_crop = None if crop_size is None else round(crop_size * min(width, height) / full_short_side)
    side = min(width, height) if reduced_crop is None else min(reduced_crop, width, height)
    left, top = (width - side) // 2, (height - side) // 2
    image = image.crop((left, top, left + side, top + side))
    image = image.resize((image_size, image_size), Image.Resampling.BICUBIC)
    return np.array(image, dtype=np.uint8)  # a writable copy: torch.from_numpy needs one


def scale_to_model_range(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 of any shape -> float32 in [-1, 1], the range of the generator's Tanh, on the tensor's device."""
    return pixels.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Floats in [-1, 1] -> uint8 [0, 255], rounded to the nearest level (the inverse of scale_to_model_range)."""
    return ((images.float() + 1) * 127.5).round_().clamp_(0, 255).to(torch.uint8)


def to_model_range(pixels: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) -> float32 (3, H, W) in [-1, 1]."""
    return scale_to_model_range(torch.from_numpy(pixels).permute(2, 0, 1))


class ImageFilesDataset(Dataset):
    """Images from a folder or read in place from a zip (each worker opens its own handle)."""

    def __init__(self, source: ImageSource, image_size: int, crop_size: int | None = None):
        self.source = source
        self.image_size = image_size
        self.crop_size = crop_size
        self._zip: zipfile.ZipFile | None = None
        self._zip_pid: int | None = None

    def __len__(self) -> int:
        return len(self.source)

    def _open(self, name: str) -> Image.Image:
        if self.source.zip_path is None:
            return Image.open(self.source.location / name)
        # A ZipFile handle cannot be shared across forked DataLoader workers: reopen once per process.
        if self._zip is None or self._zip_pid != os.getpid():
            self._zip = zipfile.ZipFile(self.source.zip_path)
            self._zip_pid = os.getpid()
        return Image.open(BytesIO(self._zip.read(name)))

    def load_uint8(self, index: int) -> np.ndarray:
        """Image `index` as uint8 (S, S, 3), or BadImageError naming the file when it cannot be decoded."""
        name = self.source.files[index]
        try:
            with self._open(name) as image:
                return crop_and_resize(image, self.image_size, self.crop_size)
        except UNREADABLE_IMAGE_ERRORS as error:
            raise BadImageError(str(self.source.location / name), f"{type(error).__name__}: {error}") from error

    def __getitem__(self, index: int) -> torch.Tensor:
        return to_model_range(self.load_uint8(index))

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_zip"] = None  # open handles do not pickle (spawned workers)
        return state
