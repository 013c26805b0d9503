"""The prepared cache: built once, reused, rebuilt on change, unreadable files skipped, never half-built."""

import json
import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facegan.data import cache
from facegan.data.cache import CacheSpec, open_prepared, prepare
from facegan.data.decoding import BadImageError
from facegan.data.sources import DataSourceError
from facegan.data.synthetic import SyntheticFaces
from facegan.errors import FaceganError
from helpers import celeba_data, run_cli, synthetic_data, write_faces

SIZE = 16


def celeba(root: Path, cache_dir: Path, **kwargs):
    return celeba_data(str(root), SIZE, cache_dir=str(cache_dir), prepare_workers=2, batch_size=4, **kwargs)


def write_broken_folder(folder: Path) -> dict[str, str]:
    """Six good faces and one of each kind of awkward file; returns the unreadable ones by kind."""
    write_faces(folder, 6)
    good = (folder / "000001.jpg").read_bytes()
    rng = np.random.default_rng(0)
    unreadable = {
        "truncated": "truncated.jpg",
        "corrupt": "corrupt.jpg",
        "text": "notes.jpg",
    }
    (folder / unreadable["truncated"]).write_bytes(good[: len(good) // 2])
    (folder / unreadable["corrupt"]).write_bytes(good[:100] + rng.integers(0, 256, 4000, dtype=np.uint8).tobytes())
    (folder / unreadable["text"]).write_text("not an image, only named like one")
    Image.fromarray(rng.integers(0, 256, (40, 30, 4), dtype=np.uint8), "RGBA").save(folder / "alpha.png")
    Image.fromarray(rng.integers(0, 256, (40, 30), dtype=np.uint8), "L").save(folder / "gray.jpg")
    return unreadable


class FailingLoader:
    """Decodes like the real dataset until `fail_at`, then fails as a crash would (picklable for the pool)."""

    def __init__(self, fail_at: int):
        self.fail_at = fail_at

    def __call__(self, index: int) -> np.ndarray:
        if index == self.fail_at:
            raise RuntimeError("simulated crash while decoding")
        return np.full((SIZE, SIZE, 3), index, np.uint8)


def constant_spec(count: int, load=None) -> CacheSpec:
    return CacheSpec(
        name="constant",
        image_size=SIZE,
        count=count,
        identity={"source": "test"},
        load=load or FailingLoader(fail_at=-1),
    )


def test_cache_holds_the_decoded_images_in_source_order(tmp_path, celeba_root):
    datamodule = celeba(celeba_root, tmp_path / "cache")
    datamodule.prepare_data()
    prepared = open_prepared(datamodule.cache_spec(), tmp_path / "cache")
    assert prepared is not None and prepared.images.shape == (24, 3, SIZE, SIZE)
    dataset = datamodule.build_dataset()
    for index in (0, 11, 23):
        assert np.array_equal(prepared.images[index], dataset.load_uint8(index).transpose(2, 0, 1))
    manifest = json.loads((prepared.folder / "manifest.json").read_text())
    assert manifest["complete"] is True and manifest["count"] == 24 and manifest["skipped"] == []
    assert manifest["source"] == str((celeba_root / "img_align_celeba").resolve())
    assert (manifest["image_size"], manifest["crop_size"], manifest["split"]) == (SIZE, None, "all")


def test_second_run_reuses_the_cache(tmp_path, celeba_root, monkeypatch):
    first = celeba(celeba_root, tmp_path / "cache")
    first.prepare_data()

    def must_not_build(*args):
        raise AssertionError("the cache was rebuilt although nothing changed")

    monkeypatch.setattr(cache, "_build", must_not_build)
    again = celeba(celeba_root, tmp_path / "cache")  # a new run: new objects, same data
    again.prepare_data()
    again.setup()
    assert again.prepared.folder == first.cache_spec().folder(tmp_path / "cache")


def test_changed_files_or_size_get_a_new_cache(tmp_path, celeba_root):
    cache_dir = tmp_path / "cache"
    original = celeba(celeba_root, cache_dir)
    original.prepare_data()
    first_folder = original.cache_spec().folder(cache_dir)

    bigger = celeba_data(str(celeba_root), 2 * SIZE, cache_dir=str(cache_dir), prepare_workers=2)
    assert bigger.cache_spec().folder(cache_dir) != first_folder

    write_faces(celeba_root / "img_align_celeba", 1, start=7)  # rewrites 000007.jpg with other pixels
    changed = celeba(celeba_root, cache_dir)
    changed.prepare_data()
    changed.setup()
    assert changed.prepared.folder != first_folder
    assert not np.array_equal(changed.prepared.images[6], open_prepared(original.cache_spec(), cache_dir).images[6])


def test_split_and_crop_are_part_of_the_key(tmp_path, celeba_root):
    (celeba_root / "list_eval_partition.txt").write_text("".join(f"{i:06d}.jpg {i % 3}\n" for i in range(1, 25)))
    folders = {
        celeba(celeba_root, tmp_path, split=split, crop_size=crop).cache_spec().folder(tmp_path)
        for split in ("all", "train")
        for crop in (None, 140)
    }
    assert len(folders) == 4


def test_unreadable_files_are_skipped_counted_and_named(tmp_path, caplog):
    folder = tmp_path / "faces"
    unreadable = write_broken_folder(folder)
    datamodule = celeba(folder, tmp_path / "cache")
    with caplog.at_level(logging.WARNING, logger="facegan.data.cache"):
        datamodule.prepare_data()
    datamodule.setup()
    assert len(datamodule.prepared) == 8  # six faces, the RGBA PNG and the grayscale JPEG
    assert datamodule.prepared.images.shape[1:] == (3, SIZE, SIZE)

    skipped = {Path(entry["file"]).name: entry["reason"] for entry in datamodule.prepared.manifest["skipped"]}
    assert set(skipped) == set(unreadable.values())
    assert "truncated" in skipped[unreadable["truncated"]]
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "Skipped 3 of 11 files" in warnings[0] and "manifest.json" in warnings[0]
    assert all(name in warnings[0] for name in unreadable.values())


def test_plain_loader_names_an_unreadable_file(tmp_path):
    folder = tmp_path / "faces"
    unreadable = write_broken_folder(folder)
    dataset = celeba(folder, tmp_path / "cache", cache=False).build_dataset()
    index = dataset.source.files.index(unreadable["text"])
    with pytest.raises(BadImageError, match=rf"{unreadable['text']} is not a readable image.*data.cache=true"):
        dataset[index]


def test_grayscale_and_alpha_images_become_rgb(tmp_path):
    folder = tmp_path / "faces"
    folder.mkdir()
    Image.new("L", (30, 40), 200).save(folder / "gray.png")
    Image.new("RGBA", (30, 40), (10, 20, 30, 0)).save(folder / "alpha.png")
    datamodule = celeba_data(str(folder), SIZE, cache_dir=str(tmp_path / "cache"), batch_size=1, prepare_workers=1)
    datamodule.prepare_data()
    datamodule.setup()
    images = datamodule.prepared.images  # sorted: alpha.png, gray.png
    assert np.all(images[0] == np.array([10, 20, 30], np.uint8)[:, None, None])
    assert np.all(images[1] == 200)


def test_a_source_without_one_readable_image_is_an_error(tmp_path):
    folder = tmp_path / "faces"
    folder.mkdir()
    for name in ("a.jpg", "b.png"):
        (folder / name).write_text("text")
    with pytest.raises(DataSourceError, match=r"none of the 2 files .* is a readable image.*a\.jpg"):
        celeba(folder, tmp_path / "cache").prepare_data()
    assert [path.name for path in (tmp_path / "cache").iterdir() if not path.name.endswith(".lock")] == []


def test_an_interrupted_build_leaves_nothing_that_opens(tmp_path):
    cache_dir = tmp_path / "cache"
    crashing = constant_spec(50, FailingLoader(fail_at=37))
    with pytest.raises(RuntimeError, match="simulated crash"):
        prepare(crashing, cache_dir, workers=2)
    assert open_prepared(crashing, cache_dir) is None
    assert [path.name for path in cache_dir.iterdir() if not path.name.endswith(".lock")] == []

    healthy = constant_spec(50)
    assert healthy.key == crashing.key  # the same data: the retry must build it from scratch
    prepared = prepare(healthy, cache_dir, workers=2)
    assert len(prepared) == 50 and np.all(prepared.images[37] == 37)


def test_a_killed_build_or_damaged_cache_is_rebuilt(tmp_path):
    cache_dir = tmp_path / "cache"
    spec = constant_spec(10)
    folder = prepare(spec, cache_dir, workers=1).folder
    # A build killed before its rename leaves a partial folder; never read, removed by the next build.
    partial = folder.with_name(f".{folder.name}.partial-99999")
    partial.mkdir()
    (partial / "images.u8").write_bytes(b"\0" * 5)

    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "complete": False}))
    assert open_prepared(spec, cache_dir) is None
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with open(folder / "images.u8", "r+b") as images:
        images.truncate(100)
    assert open_prepared(spec, cache_dir) is None

    rebuilt = prepare(spec, cache_dir, workers=1)
    assert len(rebuilt) == 10 and not partial.exists()


def test_synthetic_faces_cache_by_count_seed_and_size(tmp_path):
    datamodule = synthetic_data(SIZE, num_images=12, seed=3, batch_size=4, cache_dir=str(tmp_path), prepare_workers=2)
    datamodule.prepare_data()
    datamodule.setup()
    faces = SyntheticFaces(num_images=12, image_size=SIZE, seed=3)
    assert np.array_equal(datamodule.prepared.images[5], faces.render_uint8(5).transpose(2, 0, 1))
    others = [
        synthetic_data(SIZE, num_images=13, seed=3, cache_dir=str(tmp_path)),
        synthetic_data(SIZE, num_images=12, seed=4, cache_dir=str(tmp_path)),
        synthetic_data(2 * SIZE, num_images=12, seed=3, cache_dir=str(tmp_path)),
    ]
    folders = {datamodule.prepared.folder, *(other.cache_spec().folder(tmp_path) for other in others)}
    assert len(folders) == 4


def test_zip_sources_are_cached(tmp_path, celeba_zip):
    datamodule = celeba(celeba_zip, tmp_path / "cache")
    datamodule.prepare_data()
    datamodule.setup()
    assert len(datamodule.prepared) == 20
    with zipfile.ZipFile(celeba_zip, "a") as archive:  # the archive changes: so must the cache
        face = (tmp_path / "unzipped" / "img_align_celeba" / "000001.jpg").read_bytes()
        archive.writestr("img_align_celeba/000099.jpg", face)
    assert celeba(celeba_zip, tmp_path / "cache").cache_spec().key != datamodule.cache_spec().key


def test_setup_without_a_prepared_cache_says_how_to_build_one(tmp_path, celeba_root):
    with pytest.raises(FaceganError, match="no prepared cache.*scripts/prepare_data.py"):
        celeba(celeba_root, tmp_path / "cache").setup()


@pytest.mark.slow
def test_prepare_script_then_training_on_a_folder_with_broken_files(tmp_path):
    folder = tmp_path / "faces"
    unreadable = write_broken_folder(folder)
    common = (f"data.root={folder}", f"paths.cache_dir={tmp_path / 'cache'}", "data.batch_size=4")
    prepared = run_cli("prepare_data.py", *common, "data.prepare_workers=2")
    output = prepared.stdout + prepared.stderr
    assert "Skipped 3 of 11 files" in output and all(name in output for name in unreadable.values())

    trained = run_cli(
        "train.py",
        *common,
        "trainer=cpu",
        "trainer.max_epochs=1",
        "model.ngf=4",
        "model.ndf=4",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert "Using the prepared cache" in trained.stdout + trained.stderr
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.slow
def test_benchmark_data_mode_prints_both_paths(tmp_path):
    result = run_cli(
        "benchmark.py",
        "mode=data",
        "data=synthetic",
        "data.num_images=64",
        "data.batch_size=8",
        "data.num_workers=0",
        "benchmark.batches=3",
        f"paths.cache_dir={tmp_path}",
    )
    assert "data.cache=false: DataLoader, 0 workers -> cpu" in result.stdout
    assert "data.cache=true: memory-mapped cache -> cpu" in result.stdout
