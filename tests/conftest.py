"""Shared fixtures: small CelebA-layout image folders made on the fly, and a runner for the real CLI."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = str(REPO_ROOT / "conf")
SHARED_CELEBA = REPO_ROOT.parent / "shared" / "data" / "celeba_sample"


def write_faces(folder: Path, count: int, size: tuple[int, int] = (178, 218), start: int = 1) -> list[str]:
    """`count` CelebA-named JPEGs of random smooth colour fields, 178x218 like the aligned set."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(start)
    names = []
    for index in range(start, start + count):
        small = rng.integers(0, 256, size=(6, 5, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize(size, Image.Resampling.BILINEAR)
        name = f"{index:06d}.jpg"
        image.save(folder / name, quality=90)
        names.append(name)
    return names


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


def run_cli(script: str, *overrides: str, timeout: int = 300, check: bool = True) -> subprocess.CompletedProcess:
    """Run scripts/<script> in a subprocess from the repo root, as a user would."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HYDRA_FULL_ERROR": "1"}
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / script), *overrides],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{script} {' '.join(overrides)} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result


def tensorboard_tags(run_dir: Path) -> dict[str, set[str]]:
    """Scalar and image tags in a run's TensorBoard event files."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    accumulator.Reload()
    tags = accumulator.Tags()
    return {"scalars": set(tags["scalars"]), "images": set(tags["images"])}


def compose_train(*overrides: str, output_dir: str | Path = "/tmp/facegan-test-compose"):
    """The real train.yaml composed as the CLI would, with the run folder Hydra would have made."""
    from hydra import compose, initialize_config_dir
    from omegaconf import open_dict

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)  # ${hydra:runtime.output_dir} needs a live Hydra run
    return cfg
