"""Data sources, the datamodules' two paths, and the cached path's epoch batches."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from facegan.data.batches import EpochBatches, ResidentImages, StagedImages, fits_in_device_memory, place_images
from facegan.data.decoding import to_uint8
from facegan.data.sources import DataSourceError, find_images, fingerprint, select_split
from facegan.errors import ConfigError
from helpers import celeba_data, synthetic_data, write_faces

SIZE = 16
CPU = torch.device("cpu")


# ---- sources: every accepted layout of data.root, and the errors for the rest ----


@pytest.mark.parametrize(
    "images_at,root_at",
    [
        ("faces", "faces"),  # any folder of images
        ("faces/nested", "faces"),  # one level down, like processed_celeba_small
        ("celeba/img_align_celeba", "celeba"),  # the official layout
        ("data/celeba/img_align_celeba", "data"),  # torchvision's layout
        ("celeba/img_align_celeba", "celeba/img_align_celeba"),  # the JPEG folder itself
    ],
)
def test_folder_layouts(tmp_path, images_at, root_at):
    names = write_faces(tmp_path / images_at, 3)
    source = find_images(tmp_path / root_at)
    assert source.zip_path is None and len(source) == 3
    assert all((source.location / name).is_file() for name in source.files)
    assert [Path(name).name for name in source.files] == names


def test_zip_is_read_in_place(tmp_path, celeba_zip):
    for root in (celeba_zip, celeba_zip.parent):  # the zip itself, or the folder holding it
        source = find_images(root)
        assert source.zip_path == celeba_zip and len(source) == 20
        assert source.files[0] == "img_align_celeba/000001.jpg"


def test_official_split_from_list_eval_partition(tmp_path, celeba_root):
    (celeba_root / "list_eval_partition.txt").write_text("".join(f"{i:06d}.jpg {i % 3}\n" for i in range(1, 25)))
    source = find_images(celeba_root)
    sizes = {split: len(select_split(source, celeba_root, split)) for split in ("train", "valid", "test", "all")}
    assert sizes == {"train": 8, "valid": 8, "test": 8, "all": 24}
    assert select_split(source, celeba_root, "valid").files[0] == "000001.jpg"
    with pytest.raises(DataSourceError, match="data.split=val is not a CelebA split"):
        select_split(source, celeba_root, "val")


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda root: None, "does not exist"),
        (lambda root: root.mkdir(), "holds no jpg/png images"),
        (lambda root: (root.mkdir(), (root / "notes.txt").write_text("x")), "holds no jpg/png images"),
    ],
)
def test_missing_or_empty_root_is_a_one_line_error(tmp_path, make, message):
    root = tmp_path / "celeba"
    make(root)
    with pytest.raises(DataSourceError, match=rf"data.root={root} {message}.*data=synthetic"):
        celeba_data(str(root), SIZE)


def test_broken_zip_is_a_one_line_error(tmp_path):
    broken = tmp_path / "img_align_celeba.zip"
    broken.write_bytes(b"not a zip")
    with pytest.raises(DataSourceError, match="is not a readable zip"):
        find_images(broken)


def test_fingerprint_follows_file_changes(tmp_path):
    folder = tmp_path / "faces"
    write_faces(folder, 3)
    before = fingerprint(find_images(folder))
    assert fingerprint(find_images(folder)) == before
    write_faces(folder, 1, start=4)  # a new file
    added = fingerprint(find_images(folder))
    (folder / "000002.jpg").write_bytes((folder / "000001.jpg").read_bytes())  # a rewritten file
    assert len({before, added, fingerprint(find_images(folder))}) == 3


# ---- datamodules: the cached path and the plain DataLoader give the same images ----


def stub_trainer(device: torch.device = CPU, rank: int = 0, world_size: int = 1, epoch: int = 0) -> SimpleNamespace:
    """The parts of a Trainer a datamodule reads: where to put batches, which shard, which epoch."""
    return SimpleNamespace(
        strategy=SimpleNamespace(root_device=device), global_rank=rank, world_size=world_size, current_epoch=epoch
    )


def cached_celeba(root: Path, cache_dir: Path, **kwargs):
    datamodule = celeba_data(str(root), SIZE, cache_dir=str(cache_dir), prepare_workers=2, **kwargs)
    datamodule.prepare_data()
    datamodule.setup()
    return datamodule


def test_cached_batches_match_the_decoded_images(tmp_path, celeba_root):
    datamodule = cached_celeba(celeba_root, tmp_path, batch_size=5, seed=7)
    datamodule.trainer = stub_trainer(epoch=2)
    batches = datamodule.train_dataloader()
    assert isinstance(batches, EpochBatches) and len(batches) == 4  # 24 images, full batches of 5
    order, _ = batches.epoch_plan(2)
    dataset = datamodule.build_dataset()
    received = list(batches)
    assert all(batch.shape == (5, 3, SIZE, SIZE) and batch.dtype == torch.float32 for batch in received)
    expected = torch.stack([dataset[index] for index in order[:20].tolist()])
    assert torch.equal(torch.cat(received), expected)


def test_epoch_is_read_from_the_trainer_when_iteration_starts(tmp_path, celeba_root):
    datamodule = cached_celeba(celeba_root, tmp_path, batch_size=4)
    datamodule.trainer = stub_trainer(epoch=0)
    batches = datamodule.train_dataloader()  # built once, iterated every epoch
    first_epoch = torch.cat(list(batches))
    datamodule.trainer.current_epoch = 1
    second_epoch = torch.cat(list(batches))
    datamodule.trainer.current_epoch = 0
    assert not torch.equal(first_epoch, second_epoch)
    assert torch.equal(torch.cat(list(batches)), first_epoch)


def test_plain_dataloader_path(tmp_path, celeba_root):
    cache_dir = tmp_path / "cache"
    datamodule = celeba_data(str(celeba_root), SIZE, batch_size=5, num_workers=0, cache=False, cache_dir=str(cache_dir))
    datamodule.prepare_data()
    datamodule.setup()
    loader = datamodule.train_dataloader()
    assert isinstance(loader, DataLoader) and loader.drop_last and len(loader) == 4
    batch = next(iter(loader))
    assert batch.shape == (5, 3, SIZE, SIZE) and -1 <= batch.min() < batch.max() <= 1
    assert not cache_dir.exists()  # data.cache=false writes no cache


def test_synthetic_cached_batches(tmp_path):
    datamodule = synthetic_data(SIZE, num_images=10, seed=1, batch_size=3, cache_dir=str(tmp_path), prepare_workers=2)
    datamodule.prepare_data()
    datamodule.setup()
    batches = datamodule.epoch_batches(CPU)
    assert len(batches) == 3
    order, _ = batches.epoch_plan(0)
    faces = datamodule.build_dataset()
    assert torch.equal(next(iter(batches)), torch.stack([faces[index] for index in order[:3].tolist()]))


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"flip": True, "cache": False}, "data.flip=true .* keep data.cache=true"),
        ({"prepare_workers": 0}, "data.prepare_workers=0"),
        ({"batch_size": 0}, "data.batch_size=0"),
        ({"num_workers": -1}, "data.num_workers=-1"),
    ],
)
def test_bad_data_settings_fail_at_construction(tmp_path, celeba_root, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        celeba_data(str(celeba_root), SIZE, cache_dir=str(tmp_path), **kwargs)


@pytest.mark.parametrize("cache", [True, False])
def test_batch_larger_than_the_data_is_a_one_line_error(tmp_path, celeba_root, cache):
    datamodule = celeba_data(str(celeba_root), SIZE, batch_size=25, cache=cache, cache_dir=str(tmp_path))
    datamodule.prepare_data()
    with pytest.raises(ConfigError, match="data.batch_size=25 is larger than the 24 images"):
        datamodule.setup()


def test_too_many_ranks_for_the_data_is_a_one_line_error(tmp_path, celeba_root):
    datamodule = cached_celeba(celeba_root, tmp_path, batch_size=8)
    datamodule.trainer = stub_trainer(world_size=4)  # 24 images: 6 per rank, less than one batch
    with pytest.raises(ConfigError, match="data.batch_size=8 x 4 processes"):
        datamodule.train_dataloader()


# ---- epoch batches: order, shards, flips, placement ----


def numbered_images(count: int) -> torch.Tensor:
    """(count, 3, 4, 4) uint8 where every pixel of image i is i, and column c of image i is shifted by c."""
    images = torch.arange(count, dtype=torch.uint8).view(count, 1, 1, 1).expand(count, 3, 4, 4).clone()
    return images + torch.arange(4, dtype=torch.uint8) * 50  # distinct columns make flips visible


def batches_of(images: torch.Tensor, **kwargs) -> EpochBatches:
    return EpochBatches(ResidentImages(images), **{"batch_size": 4, "seed": 0, "epoch": lambda: 0, **kwargs})


def test_epoch_order_is_a_pure_function_of_seed_and_epoch():
    images = numbered_images(40)
    plan = batches_of(images, seed=3).epoch_plan(5)[0]
    assert torch.equal(batches_of(images, seed=3).epoch_plan(5)[0], plan)  # a rerun, or a resumed run
    assert sorted(plan.tolist()) == list(range(40))  # every image once
    assert not torch.equal(batches_of(images, seed=3).epoch_plan(6)[0], plan)
    assert not torch.equal(batches_of(images, seed=4).epoch_plan(5)[0], plan)


def test_batches_follow_the_plan_and_drop_the_incomplete_last_one():
    images = numbered_images(18)
    batches = batches_of(images, seed=1, epoch=lambda: 3)
    order, _ = batches.epoch_plan(3)
    received = [to_uint8(batch) for batch in batches]
    assert len(received) == len(batches) == 4 and all(len(batch) == 4 for batch in received)
    assert torch.equal(torch.cat(received), images[order[:16]])


def test_rank_shards_are_disjoint_and_equal():
    images = numbered_images(50)
    shards = [batches_of(images, seed=2, rank=rank, world_size=3).epoch_plan(1)[0] for rank in range(3)]
    assert [len(shard) for shard in shards] == [16, 16, 16]
    combined = torch.cat(shards).tolist()
    assert len(set(combined)) == 48
    assert all(len(batches_of(images, rank=rank, world_size=3)) == 4 for rank in range(3))
    with pytest.raises(ValueError, match="rank=3"):
        batches_of(images, rank=3, world_size=3)


def test_flip_mirrors_some_images_and_nothing_else():
    images = numbered_images(64)
    plain = torch.cat([to_uint8(batch) for batch in batches_of(images, batch_size=16)])
    flipped = torch.cat([to_uint8(batch) for batch in batches_of(images, batch_size=16, flip=True)])
    _, flips = batches_of(images, batch_size=16).epoch_plan(0)
    assert torch.equal(flipped[flips], plain[flips].flip(-1))
    assert torch.equal(flipped[~flips], plain[~flips])
    assert 10 < int(flips.sum()) < 54


def test_staged_images_give_the_same_batches_as_resident_ones():
    images = numbered_images(30)
    resident = [to_uint8(batch) for batch in batches_of(images, seed=5, flip=True)]
    staged_images = StagedImages(images, CPU, batch_size=4)
    staged_batches = EpochBatches(staged_images, batch_size=4, seed=5, epoch=lambda: 0, flip=True)
    staged = [to_uint8(batch) for batch in list(staged_batches)]  # all kept: no batch may alias a reused buffer
    assert len(staged) == len(resident) == 7
    assert all(torch.equal(a, b) for a, b in zip(staged, resident))


def test_placement_on_cpu_shares_the_memory_mapped_array():
    images = torch.from_numpy(np.zeros((3, 3, 4, 4), np.uint8))
    placed = place_images(images, CPU, batch_size=2)
    assert isinstance(placed, ResidentImages) and placed.images.data_ptr() == images.data_ptr()


def test_device_memory_rule_keeps_a_reserve_for_training():
    gib = 2**30
    assert fits_in_device_memory(int(2.5 * gib), free_bytes=70 * gib, total_bytes=80 * gib)  # CelebA 64px on an H100
    assert not fits_in_device_memory(10 * gib, free_bytes=12 * gib, total_bytes=16 * gib)
    assert not fits_in_device_memory(1, free_bytes=3 * gib, total_bytes=16 * gib)  # already short of the reserve


@pytest.mark.cuda
def test_cuda_paths_match_the_cpu_path():
    images = numbered_images(40)
    gpu = torch.device("cuda")
    expected = [to_uint8(batch) for batch in batches_of(images, seed=9, flip=True)]
    for placed in (place_images(images, gpu, batch_size=4), StagedImages(images, gpu, batch_size=4)):
        received = list(EpochBatches(placed, batch_size=4, seed=9, epoch=lambda: 0, flip=True))
        assert all(batch.device.type == "cuda" for batch in received)
        assert all(torch.equal(to_uint8(batch).cpu(), want) for batch, want in zip(received, expected, strict=True))
