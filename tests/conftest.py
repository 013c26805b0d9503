"""Fixtures: small CelebA-layout image folders and zips made on the fly (helpers.py has the rest)."""

import zipfile
from pathlib import Path

import pytest
import torch
from lightning_utilities.core.rank_zero import rank_zero_only

from helpers import write_faces


def pytest_collection_modifyitems(config, items):
    """Tests marked `cuda` skip, saying so, on a machine without a CUDA GPU."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU: make gpu-check runs these on one")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def rank_zero(monkeypatch):
    """Every test starts as rank 0 of one process: Lightning keeps the rank it last saw in a module global, which a
    test of several (simulated) processes may leave at another rank."""
    monkeypatch.setattr(rank_zero_only, "rank", 0, raising=False)


@pytest.fixture
def celeba_root(tmp_path: Path) -> Path:
    """A parent folder in the official layout: root/img_align_celeba/000001.jpg ..."""
    write_faces(tmp_path / "celeba" / "img_align_celeba", 24)
    return tmp_path / "celeba"


@pytest.fixture
def celeba_zip(tmp_path: Path) -> Path:
    """img_align_celeba.zip with the images under img_align_celeba/, as distributed."""
    names = write_faces(tmp_path / "unzipped" / "img_align_celeba", 20)
    zip_path = tmp_path / "zipped" / "img_align_celeba.zip"
    zip_path.parent.mkdir()
    with zipfile.ZipFile(zip_path, "w") as archive:
        for name in names:
            archive.write(tmp_path / "unzipped" / "img_align_celeba" / name, f"img_align_celeba/{name}")
    return zip_path
