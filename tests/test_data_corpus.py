"""Awkward files in data.root: which ones training reads, which it names as skipped, and what pixels it gets.

One corpus of every kind of file a face folder collects (formats, modes, EXIF turns, sizes, names, links,
junk), laid out as a folder and as a zip; each test asserts the exact used and skipped sets.
"""

import io
import json
import logging
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facegan.data import sources
from facegan.data.cache import CacheFolderError
from facegan.data.decoding import ImageFilesDataset
from facegan.data.sources import DataSourceError, find_images, select_split
from helpers import celeba_data

SIZE = 16
EXIF_ORIENTATION = 0x0112
TURNED_90_CLOCKWISE = 6  # the pixels are stored turned 90 degrees counter-clockwise; show them turned back


def half_red_half_blue(width: int, height: int) -> Image.Image:
    """Red top half, blue bottom half: after a quarter turn the halves are left and right instead."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[: height // 2, :, 0] = 255
    pixels[height // 2 :, :, 2] = 255
    return Image.fromarray(pixels)


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def sideways_jpeg() -> bytes:
    """A photo as a phone stores it: pixels turned, the turn in EXIF."""
    stored = half_red_half_blue(40, 40).rotate(90, expand=True)  # red now on the left
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = TURNED_90_CLOCKWISE
    return encoded(stored, "JPEG", quality=95, exif=exif)


def corpus() -> dict[str, bytes]:
    """name -> file bytes of every regular file in the corpus (links and odd names are added per layout)."""
    face = half_red_half_blue(30, 36)
    gradient16 = np.linspace(0, 65535, 32 * 32).reshape(32, 32).astype(np.uint16)
    return {
        "rgb.jpg": encoded(face, "JPEG"),
        "upper.JPEG": encoded(face, "JPEG"),
        "gray.png": encoded(face.convert("L"), "PNG"),
        "palette.png": encoded(face.convert("P"), "PNG"),
        "rgba.png": encoded(face.convert("RGBA"), "PNG"),
        "cmyk.jpg": encoded(face.convert("CMYK"), "JPEG"),
        "gray16.png": encoded(Image.fromarray(gradient16), "PNG"),
        "sideways.jpg": sideways_jpeg(),
        "face.webp": encoded(face, "WEBP"),
        "face.bmp": encoded(face, "BMP"),
        "nested/inner.png": encoded(face, "PNG"),
        "truncated.jpg": encoded(face, "JPEG")[:100],
        "not_an_image.png": b"this is text, not a PNG",
        "empty.jpg": b"",
        "notes.txt": b"a readme",
        ".hidden.jpg": encoded(face, "JPEG"),
        "face.gif": encoded(face, "GIF"),  # not a listed suffix
    }


# What every layout lists (decodable or not) and which of those only decoding finds unreadable.
LISTED = {
    "rgb.jpg", "upper.JPEG", "gray.png", "palette.png", "rgba.png", "cmyk.jpg", "gray16.png", "sideways.jpg",
    "face.webp", "face.bmp", "nested/inner.png", "truncated.jpg", "not_an_image.png", "empty.jpg",
}  # fmt: skip
UNDECODABLE = {"truncated.jpg", "not_an_image.png", "empty.jpg"}


@pytest.fixture
def corpus_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "faces"
    for name, data in corpus().items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    os.symlink(folder / "gone.jpg", folder / "dangling.jpg")
    os.symlink(folder / "rgb.jpg", folder / "linked.jpg")  # a working link is a file like any other
    (folder / "folder.jpg").mkdir()
    os.close(os.open(os.fsencode(folder) + b"/caf\xe9-latin1.jpg", os.O_CREAT | os.O_WRONLY))
    return folder


def test_folder_lists_images_and_names_what_it_skips(corpus_folder, caplog):
    with caplog.at_level(logging.WARNING, logger="facegan.data.sources"):
        source = find_images(corpus_folder)
    assert set(source.files) == LISTED | {"linked.jpg"}
    skipped = dict(source.skipped)
    assert set(skipped) == {"dangling.jpg", "folder.jpg", "caf\\xe9-latin1.jpg"}
    assert skipped["dangling.jpg"] == "a dangling link"
    assert "not UTF-8" in skipped["caf\\xe9-latin1.jpg"]
    assert "Skipping 3 file(s)" in caplog.text and "dangling.jpg" in caplog.text
    sources.fingerprint(source)  # hashable names only: no UnicodeEncodeError


def test_zip_lists_images_and_skips_oversized_members(tmp_path, monkeypatch, caplog):
    members = corpus()
    members["huge.png"] = b"\0" * 5000  # over the bound this test sets
    archive = tmp_path / "img_align_celeba.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for name, data in members.items():
            out.writestr(f"img_align_celeba/{name}", data)
        out.writestr("__MACOSX/img_align_celeba/._rgb.jpg", b"resource fork")
        out.writestr("img_align_celeba/folder.jpg/", b"")  # a directory entry
    monkeypatch.setattr(sources, "MAX_MEMBER_BYTES", 4096)
    with caplog.at_level(logging.WARNING, logger="facegan.data.sources"):
        source = find_images(tmp_path)
    assert source.zip_path == archive
    assert set(source.files) == {f"img_align_celeba/{name}" for name in LISTED}
    assert [name for name, _ in source.skipped] == ["img_align_celeba/huge.png"]
    assert "huge.png: inflates to 5,000 bytes, over the bound of 4,096" in caplog.text


def test_cache_decodes_every_mode_and_names_the_undecodable(corpus_folder, tmp_path):
    datamodule = celeba_data(
        root=str(corpus_folder), image_size=SIZE, cache=True, cache_dir=str(tmp_path / "cache"), prepare_workers=1
    )
    datamodule.prepare_data()
    (manifest_path,) = (tmp_path / "cache").glob("*/manifest.json")
    manifest = json.loads(manifest_path.read_text())
    assert {Path(entry["file"]).name for entry in manifest["skipped"]} == UNDECODABLE
    assert manifest["count"] == len(LISTED | {"linked.jpg"}) - len(UNDECODABLE)


@pytest.fixture
def dataset(corpus_folder) -> ImageFilesDataset:
    return ImageFilesDataset(find_images(corpus_folder), SIZE)


def pixels(dataset: ImageFilesDataset, name: str) -> np.ndarray:
    return dataset.load_uint8(dataset.source.files.index(name)).astype(int)


def test_sixteen_bit_png_is_scaled_not_clipped(dataset):
    gray = pixels(dataset, "gray16.png")
    assert gray.min() < 30 and gray.max() > 225 and 100 < gray.mean() < 155  # a gradient, not white


def test_exif_orientation_is_applied(dataset):
    upright = pixels(dataset, "sideways.jpg")
    top, bottom = upright[: SIZE // 4].mean(axis=(0, 1)), upright[-SIZE // 4 :].mean(axis=(0, 1))
    assert top[0] > 200 > top[2] and bottom[2] > 200 > bottom[0]  # red above blue, as photographed


@pytest.mark.parametrize("name", ["palette.png", "rgba.png", "cmyk.jpg", "face.webp", "face.bmp"])
def test_other_modes_match_the_rgb_jpeg(dataset, name):
    assert np.abs(pixels(dataset, name) - pixels(dataset, "rgb.jpg")).mean() < 40


def test_grayscale_becomes_three_equal_channels_of_its_luma(dataset):
    gray, rgb = pixels(dataset, "gray.png"), pixels(dataset, "rgb.jpg")
    luma = rgb @ np.array([0.299, 0.587, 0.114])
    assert (gray == gray[..., :1]).all() and np.abs(gray[..., 0] - luma).mean() < 10


def test_empty_zip_is_one_line_error(tmp_path):
    archive = tmp_path / "faces.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("readme.txt", "no faces here")
    with pytest.raises(DataSourceError, match="is a zip with no jpg/png images"):
        find_images(archive)


def test_partial_folder_beside_fuller_zip_reads_the_zip(tmp_path, celeba_zip, caplog):
    partial = celeba_zip.parent / "img_align_celeba"
    partial.mkdir()
    with zipfile.ZipFile(celeba_zip) as archive:
        for name in archive.namelist()[:5]:
            (partial / Path(name).name).write_bytes(archive.read(name))
    with caplog.at_level(logging.WARNING, logger="facegan.data.sources"):
        source = find_images(celeba_zip.parent)
    assert source.zip_path == celeba_zip and len(source) == 20
    assert "has 5 images" in caplog.text and "has 20" in caplog.text


def test_split_without_partition_file_is_one_line_error(celeba_root):
    source = find_images(celeba_root)
    assert select_split(source, celeba_root, "all") == source
    with pytest.raises(DataSourceError, match="data.split=train needs CelebA's list_eval_partition.txt"):
        select_split(source, celeba_root, "train")


def test_cache_folder_under_a_file_is_one_line_error(corpus_folder, tmp_path):
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    datamodule = celeba_data(root=str(corpus_folder), image_size=SIZE, cache=True, cache_dir=str(blocker / "faces"))
    with pytest.raises(CacheFolderError, match=r"paths.cache_dir=.* is a file, not a folder.*data.cache=false"):
        datamodule.prepare_data()
    assert blocker.read_text().startswith("a file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_cache_folder_is_one_line_error(corpus_folder, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(0o555)
    try:
        datamodule = celeba_data(root=str(corpus_folder), image_size=SIZE, cache=True, cache_dir=str(cache))
        with pytest.raises(CacheFolderError, match=r"paths.cache_dir=.* is not writable.*data.cache=false"):
            datamodule.prepare_data()
        assert list(cache.iterdir()) == []
    finally:
        cache.chmod(0o755)
