"""Tests for the procedurally drawn synthetic face dataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from facegan.data.synthetic import SyntheticFaces, render_face
from facegan.errors import ConfigError


def test_render_is_deterministic_and_order_independent() -> None:
    first = render_face(5, seed=3, size=64)
    for i in range(4):  # other draws in between must not disturb image 5
        render_face(i, seed=3, size=64)
    again = render_face(5, seed=3, size=64)
    assert first.dtype == np.uint8 and first.shape == (64, 64, 3)
    assert np.array_equal(first, again)


def test_index_and_seed_change_the_image() -> None:
    base = render_face(0, seed=0, size=64).astype(np.int16)
    other_index = render_face(1, seed=0, size=64).astype(np.int16)
    other_seed = render_face(0, seed=1, size=64).astype(np.int16)
    assert np.abs(base - other_index).mean() > 5
    assert np.abs(base - other_seed).mean() > 5


def test_same_face_at_every_size() -> None:
    # Attributes are sampled before drawing, so a larger render shrunk down
    # should match the smaller render up to resampling differences.
    small = render_face(7, seed=0, size=32).astype(np.float64)
    large = Image.fromarray(render_face(7, seed=0, size=128)).resize((32, 32), Image.Resampling.BOX)
    assert np.abs(small - np.asarray(large, dtype=np.float64)).mean() < 4


@pytest.mark.parametrize("size", [32, 64, 128])
def test_dataset_items_are_normalised_tensors(size: int) -> None:
    ds = SyntheticFaces(num_images=3, image_size=size, seed=0)
    assert len(ds) == 3
    item = ds[2]
    assert item.dtype == torch.float32
    assert item.shape == (3, size, size)
    assert item.min() >= -1.0 and item.max() <= 1.0
    assert item.std() > 0.1, "image is (nearly) constant"
    expected = torch.from_numpy(ds.render_uint8(2)).permute(2, 0, 1).float() / 127.5 - 1.0
    assert torch.allclose(item, expected)
    assert torch.equal(ds[-1], item)


def test_faces_vary() -> None:
    images = np.stack([render_face(i, seed=0, size=32) for i in range(64)]).astype(np.float64)
    # Identical images would give 0 here, and pose jitter alone on one
    # template spreads the whole-image mean by under 1 level (measured).
    # Varied backgrounds, clothes and skin spread it by about 29 levels, so
    # 12 leaves margin both ways.
    whole_means = images.mean(axis=(1, 2))
    assert whole_means.std(axis=0).mean() > 12
    # The same must hold for the face itself, not just the backdrop: the
    # central patch is skin, eyes and nose, so it tracks skin tone (about 45
    # measured across the light-to-dark range).
    centre_means = images[:, 12:20, 12:20].mean(axis=(1, 2))
    assert centre_means.std(axis=0).mean() > 12


@pytest.mark.parametrize(("image_size", "bad"), [(7, "data.image_size=7 "), (0, "data.image_size=0 ")])
def test_bad_sizes_are_one_line_config_errors(image_size: int, bad: str) -> None:
    with pytest.raises(ConfigError, match=bad):
        SyntheticFaces(num_images=4, image_size=image_size, seed=0)


def test_render_rejects_tiny_size() -> None:
    with pytest.raises(ConfigError, match="data.image_size=4 is too small"):
        render_face(0, seed=0, size=4)


def test_smallest_size_works() -> None:
    assert render_face(0, seed=0, size=8).shape == (8, 8, 3)


@pytest.mark.parametrize("index", [4, 100, -5])
def test_index_out_of_range(index: int) -> None:
    ds = SyntheticFaces(num_images=4, image_size=16, seed=0)
    with pytest.raises(IndexError):
        ds[index]
    with pytest.raises(IndexError):
        ds.render_uint8(index)
