"""scripts/sample.py and scripts/export.py on a real (tiny) Lightning checkpoint: files, determinism,
latent walks, truncation, EMA preference, one-line errors, and exports that round-trip."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from omegaconf import open_dict
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader

import facegan.tools.export as export_module
import facegan.tools.sample as sample_module
from facegan.assembly import build_module
from facegan.checkpoints.trained_generator import load_generator
from facegan.errors import ConfigError
from facegan.latent import slerp, truncate
from facegan.models import Generator
from facegan.tools.export import export, load_torchscript
from facegan.tools.sample import check_sample_config, latent_walks, sample
from helpers import REPO_ROOT, compose_config, run_cli

IMAGE_SIZE, LATENT_DIM = 16, 8
TILE = IMAGE_SIZE + 2  # image_grid's 2-pixel gutter


def calibrate_batchnorm(generator: nn.Module) -> None:
    """Running statistics of G's actual activations, as a long run ends with. After two batches they are
    still near their initial 0 and 1, which flattens every eval-mode image to the same grey, whatever z."""
    for layer in generator.modules():
        if isinstance(layer, nn.BatchNorm2d):
            layer.reset_running_stats()
            layer.momentum = None  # a plain average over the batches seen
    generator.train()
    with torch.no_grad():
        generator(torch.randn(256, generator.latent_dim))


@pytest.fixture(scope="module", params=["dcgan32", "resnet32"])
def checkpoint(tmp_path_factory, request) -> Path:
    """A checkpoint as scripts/train.py writes it, of a 16x16 model after two batches, without the EMA generator
    (test_sizes_come_from_the_checkpoint_and_ema_weights_win adds one); every test here runs once per network
    family, DCGAN and the residual tier."""
    pl.seed_everything(0)
    cfg = compose_config(
        "train",
        f"model={request.param}",
        "model.image_size=16",
        f"model.latent_dim={LATENT_DIM}",
        "model.ngf=4",
        "model.ndf=4",
        "model.ema_kimg=null",
        "data=synthetic",
    )
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path_factory.mktemp("run"))
    module = build_module(cfg)
    images = torch.rand(8, 3, IMAGE_SIZE, IMAGE_SIZE) * 2 - 1
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, DataLoader(images, batch_size=4))
    calibrate_batchnorm(module.generator)
    path = Path(cfg.paths.output_dir) / "last.ckpt"
    trainer.save_checkpoint(path)
    return path


def sample_config(checkpoint: Path, outdir: Path, *overrides: str):
    return compose_config("sample", f"ckpt_path={checkpoint}", f"outdir={outdir}", *overrides)


def read_png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


@pytest.mark.slow
def test_sample_cli_writes_grid_one_png_per_sample_and_walks(checkpoint, tmp_path):
    outdir = tmp_path / "samples"
    overrides = ["num_samples=5", "interpolate=true", "walks=3", "steps=4"]
    run_cli("sample.py", f"ckpt_path={checkpoint}", f"outdir={outdir}", *overrides)
    assert sorted(path.name for path in (outdir / "samples").iterdir()) == [f"sample_{i:04d}.png" for i in range(5)]
    assert Image.open(outdir / "samples" / "sample_0000.png").size == (IMAGE_SIZE, IMAGE_SIZE)
    assert Image.open(outdir / "grid.png").size == (2 + 3 * TILE, 2 + 2 * TILE)  # 5 images, 3 per row
    assert Image.open(outdir / "interpolation.png").size == (2 + 4 * TILE, 2 + 3 * TILE)  # steps x walks
    assert not (outdir / ".hydra").exists() and not (REPO_ROOT / ".hydra").exists()


def test_same_seed_same_images_other_seed_other_images(checkpoint, tmp_path):
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        sample(sample_config(checkpoint, tmp_path / name, "num_samples=4", f"seed={seed}"))
    grid = {name: (tmp_path / name / "grid.png").read_bytes() for name in "abc"}
    assert grid["a"] == grid["b"]
    assert grid["a"] != grid["c"]
    for index in range(4):
        sample_png = f"samples/sample_{index:04d}.png"
        assert (tmp_path / "a" / sample_png).read_bytes() == (tmp_path / "b" / sample_png).read_bytes()


def test_resampling_into_a_folder_leaves_only_the_new_samples(checkpoint, tmp_path):
    sample(sample_config(checkpoint, tmp_path, "num_samples=6"))
    sample(sample_config(checkpoint, tmp_path, "num_samples=2"))
    assert len(list((tmp_path / "samples").glob("*.png"))) == 2


def test_interpolation_endpoints_are_the_endpoint_samples(checkpoint, tmp_path):
    walks, steps = 3, 5
    sample(sample_config(checkpoint, tmp_path, "num_samples=4", "interpolate=true", f"walks={walks}", f"steps={steps}"))
    walk_grid = read_png(tmp_path / "interpolation.png")

    def tile(row: int, column: int) -> np.ndarray:
        top, left = 2 + row * TILE, 2 + column * TILE
        return walk_grid[top : top + IMAGE_SIZE, left : left + IMAGE_SIZE]

    for row in range(walks):  # walk `row` goes from sample `row` to sample `row + 1`
        start = read_png(tmp_path / "samples" / f"sample_{row:04d}.png")
        end = read_png(tmp_path / "samples" / f"sample_{row + 1:04d}.png")
        # at most one grey level apart: another batch size may round a pixel the other way
        assert np.abs(tile(row, 0) - start).max() <= 1
        assert np.abs(tile(row, steps - 1) - end).max() <= 1
        assert np.abs(tile(row, steps // 2) - start).max() > 1  # and the middle of the walk is neither
        assert np.abs(tile(row, steps // 2) - end).max() > 1


def test_slerp_is_exact_at_the_ends_and_stays_on_the_sphere():
    rng = torch.Generator().manual_seed(0)
    start, end = torch.randn(3, 100, generator=rng), torch.randn(3, 100, generator=rng)
    end = end / end.norm(dim=1, keepdim=True) * start.norm(dim=1, keepdim=True)  # same radius as start
    path = slerp(start, end, torch.linspace(0, 1, 7))  # (3, 7, 100)
    assert torch.equal(path[:, 0], start) and torch.equal(path[:, -1], end)
    torch.testing.assert_close(path.norm(dim=2), start.norm(dim=1, keepdim=True).expand(3, 7))
    parallel = slerp(start, 2 * start, torch.tensor([0.5]))  # sin(angle) = 0: falls back to a straight line
    torch.testing.assert_close(parallel[:, 0], 1.5 * start)

    walks = latent_walks(start, walks=2, steps=7).view(2, 7, 100)
    assert torch.equal(walks[0, 0], start[0]) and torch.equal(walks[0, -1], start[1])
    assert torch.equal(walks[1, 0], start[1]) and torch.equal(walks[1, -1], start[2])


def test_truncation_scales_z_toward_the_mean_and_changes_the_images(checkpoint, tmp_path):
    z = torch.randn(4, LATENT_DIM)
    torch.testing.assert_close(truncate(z, 0.5), 0.5 * z)
    assert torch.equal(truncate(z, 1.0), z)
    sample(sample_config(checkpoint, tmp_path / "full", "num_samples=4"))
    sample(sample_config(checkpoint, tmp_path / "truncated", "num_samples=4", "truncation=0.3"))
    assert (tmp_path / "full" / "grid.png").read_bytes() != (tmp_path / "truncated" / "grid.png").read_bytes()


@pytest.mark.parametrize(
    "override,message",
    [
        ("truncation=0", r"truncation=0 must be in \(0, 1\]"),
        ("truncation=1.5", r"truncation=1.5 must be in \(0, 1\]"),
        ("num_samples=0", "num_samples=0 must be a positive integer"),
        ("walks=8", "walks=8 needs num_samples >= 9"),
        ("device=tpu9", "device=tpu9 is not a torch device"),
    ],
)
def test_bad_sample_options_are_one_line_config_errors(checkpoint, tmp_path, override, message):
    overrides = [override, "interpolate=true"] + (["num_samples=4"] if override.startswith("walks") else [])
    with pytest.raises(ConfigError, match=message):
        check_sample_config(sample_config(checkpoint, tmp_path, *overrides))


@pytest.mark.slow
def test_missing_or_unreadable_checkpoint_exits_with_one_line(tmp_path):
    result = run_cli("sample.py", f"ckpt_path={tmp_path / 'nope.ckpt'}", f"outdir={tmp_path}", check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"facegan: error: ckpt_path={tmp_path / 'nope.ckpt'} is not a file: give the path of a .ckpt "
        "(e.g. <run>/checkpoints/last.ckpt)"
    ]
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_text("not a checkpoint")
    with pytest.raises(ConfigError, match="could not be read as a checkpoint"):
        load_generator(garbage)
    torch.save({"state_dict": {}}, tmp_path / "foreign.ckpt")
    with pytest.raises(ConfigError, match="is not a facegan GAN checkpoint"):
        load_generator(tmp_path / "foreign.ckpt")


def test_sizes_come_from_the_checkpoint_and_ema_weights_win(checkpoint, tmp_path):
    generator, info = load_generator(checkpoint)
    assert (info.image_size, info.latent_dim, info.weights) == (IMAGE_SIZE, LATENT_DIM, "generator")
    assert not generator.training  # eval mode: BatchNorm running statistics, as the training grids use

    contents = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state = contents["state_dict"]
    ema = {
        "generator_ema." + key.removeprefix("generator."): value.clone()
        for key, value in state.items()
        if key.startswith("generator.")
    }
    first_weight = next(key for key in ema if key.endswith(".weight"))  # the first layer's, in either family
    ema[first_weight] *= 0.5  # unlike the raw weights
    state.update(ema)
    torch.save(contents, tmp_path / "ema.ckpt")
    ema_generator, ema_info = load_generator(tmp_path / "ema.ckpt")
    assert ema_info.weights == "generator_ema"
    torch.testing.assert_close(
        ema_generator.state_dict()[first_weight.removeprefix("generator_ema.")], ema[first_weight]
    )


def export_config(checkpoint: Path, out: Path, export_format: str):
    return compose_config("export", f"ckpt_path={checkpoint}", f"format={export_format}", f"out={out}")


@pytest.mark.slow
def test_torchscript_export_loads_with_torch_alone_and_matches(checkpoint, tmp_path):
    path = export(export_config(checkpoint, tmp_path / "generator.pt", "torchscript"))
    # A fresh interpreter where importing facegan fails: the file must not need it.
    loader = f"""
import json, sys, torch
sys.modules["facegan"] = None
extra_files = {{"facegan.json": ""}}
generator = torch.jit.load({str(path)!r}, _extra_files=extra_files)
metadata = json.loads(extra_files["facegan.json"])
z = torch.randn(3, metadata["latent_dim"], generator=torch.Generator().manual_seed(5))
torch.save({{"z": z, "images": generator(z), "metadata": metadata}}, {str(tmp_path / "result.pt")!r})
"""
    subprocess.run([sys.executable, "-c", loader], check=True, capture_output=True, text=True)
    result = torch.load(tmp_path / "result.pt")
    assert result["metadata"]["latent_dim"] == LATENT_DIM and result["metadata"]["image_size"] == IMAGE_SIZE
    assert result["metadata"]["value_range"] == [-1.0, 1.0]
    generator, _ = load_generator(checkpoint)
    with torch.no_grad():
        expected = generator(result["z"])
    assert result["images"].shape == (3, 3, IMAGE_SIZE, IMAGE_SIZE)
    torch.testing.assert_close(result["images"], expected)
    _, metadata = load_torchscript(path)
    assert metadata == result["metadata"]


def test_onnx_export_round_trips(checkpoint, tmp_path):
    for package in ("onnx", "onnxscript"):
        pytest.importorskip(package)
    onnxruntime = pytest.importorskip("onnxruntime")
    path = export(export_config(checkpoint, tmp_path / "generator.onnx", "onnx"))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    metadata = {key: json.loads(value) for key, value in session.get_modelmeta().custom_metadata_map.items()}
    assert (metadata["latent_dim"], metadata["image_size"]) == (LATENT_DIM, IMAGE_SIZE)
    assert metadata["value_range"] == [-1, 1]
    z = torch.randn(5, LATENT_DIM)  # a batch size the export never saw
    images = torch.from_numpy(session.run(None, {"z": z.numpy()})[0])
    generator, _ = load_generator(checkpoint)
    with torch.no_grad():
        torch.testing.assert_close(images, generator(z), atol=1e-5, rtol=1e-4)


@pytest.mark.slow
def test_export_cli_reports_the_largest_difference(checkpoint, tmp_path):
    result = run_cli("export.py", f"ckpt_path={checkpoint}", f"out={tmp_path / 'g.pt'}")
    assert "largest difference from the checkpoint's generator" in result.stdout
    assert (tmp_path / "g.pt").is_file()
    bad = run_cli("export.py", f"ckpt_path={checkpoint}", "format=tflite", check=False)
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "facegan: error: format=tflite is not an export format: use format=torchscript or format=onnx"
    )


def crafted_checkpoint(tmp_path: Path, generator_spec: dict) -> Path:
    """A checkpoint as training writes it (a tiny generator's weights and its network_config), naming
    `generator_spec` as the generator to build."""
    weights = Generator(latent_dim=8, image_size=16, base_channels=4).state_dict()
    checkpoint = {
        "state_dict": {f"generator.{key}": value for key, value in weights.items()},
        "hyper_parameters": {"network_config": {"image_size": 16, "latent_dim": 8, "generator": generator_spec}},
    }
    path = tmp_path / "crafted.ckpt"
    torch.save(checkpoint, path)
    return path


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"_target_": "os.system", "command": "touch {marker}"}, "names generator class 'os.system'"),
        ({"_target_": "facegan.models.Generator", "latent_dim": "8; touch {marker}"}, "not as integers"),
        ({"_target_": "facegan.models.Generator", "latent_dim": 8, "_args_": ["x"]}, "does not take"),
    ],
)
def test_a_checkpoint_naming_another_callable_is_refused_and_runs_nothing(tmp_path, spec, message):
    marker = tmp_path / "ran"
    spec = {key: value.format(marker=marker) if isinstance(value, str) else value for key, value in spec.items()}
    path = crafted_checkpoint(tmp_path, spec)
    with pytest.raises(ConfigError, match=message):
        load_generator(path)
    assert not marker.exists()


@pytest.mark.slow
def test_sample_cli_refuses_a_crafted_checkpoint_in_one_line(tmp_path):
    marker = tmp_path / "ran"
    path = crafted_checkpoint(tmp_path, {"_target_": "os.system", "command": f"touch {marker}"})
    result = run_cli("sample.py", f"ckpt_path={path}", f"outdir={tmp_path / 'out'}", check=False)
    assert result.returncode == 2 and not marker.exists() and not (tmp_path / "out").exists()
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("facegan: error:")]
    assert "os.system" in error and "scripts/train.py" in error


TINY_GENERATOR = {"_target_": "facegan.models.Generator", "latent_dim": 8, "image_size": 16, "base_channels": 4}


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ({"base_channels": 10**6}, "base_channels=1000000, beyond what facegan builds (1 to 1024)"),
        ({"latent_dim": 10**9}, "latent_dim=1000000000, beyond what facegan builds (1 to 4096)"),
        ({"image_size": 48}, "image_size=48, beyond what facegan builds (one of 16, 32, 64, 128, 256, 512, 1024)"),
        ({"channels": 7}, "channels=7, beyond what facegan builds (one of 1, 3, 4)"),
    ],
)
def test_a_checkpoint_asking_for_a_huge_generator_is_refused_before_anything_is_built(tmp_path, sizes, message):
    with pytest.raises(ConfigError) as refused:
        load_generator(crafted_checkpoint(tmp_path, {**TINY_GENERATOR, **sizes}))
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_a_generator_within_every_bound_but_larger_than_its_file_is_refused(tmp_path):
    """Every size allowed, and weights of the right shapes that a file of a few kB claims (stride 0 over one stored
    number): hundreds of GB if built."""
    spec = {**TINY_GENERATOR, "image_size": 1024, "base_channels": 1024}
    with torch.device("meta"):
        shapes = Generator(**{key: value for key, value in spec.items() if key != "_target_"}).state_dict()
    checkpoint = {
        "state_dict": {
            f"generator.{key}": torch.zeros((), dtype=value.dtype).expand(value.shape) for key, value in shapes.items()
        },
        "hyper_parameters": {"network_config": {"image_size": 1024, "latent_dim": 8, "generator": spec}},
    }
    torch.save(checkpoint, tmp_path / "crafted.ckpt")
    with pytest.raises(ConfigError, match="weights, more than the file's"):
        load_generator(tmp_path / "crafted.ckpt")


@pytest.mark.parametrize(
    ("base_channels", "dropped", "message"),
    [
        (4, "generator.net.0.weight", "missing: net.0.weight"),  # a weight left out
        (8, None, "of another shape: net.0.weight"),  # network_config describes a wider generator than its weights
    ],
)
def test_weights_that_do_not_fit_the_described_generator_are_refused_in_one_line(
    tmp_path, base_channels, dropped, message
):
    path = crafted_checkpoint(tmp_path, {**TINY_GENERATOR, "base_channels": base_channels})
    if dropped:
        checkpoint = torch.load(path, weights_only=True)
        del checkpoint["state_dict"][dropped]
        torch.save(checkpoint, path)
    with pytest.raises(ConfigError) as refused:
        load_generator(path)
    error = str(refused.value)
    assert error.startswith(f"ckpt_path={path}: its weights do not fit the generator its network_config describes")
    assert message in error and "\n" not in error


def not_loaded(*args, **kwargs):
    raise AssertionError("the checkpoint was loaded before the output path was checked")


def test_export_never_overwrites_its_checkpoint_even_through_a_link(checkpoint, tmp_path):
    source = tmp_path / "last.ckpt"
    shutil.copyfile(checkpoint, source)  # a copy: on a build that writes, the shared checkpoint stays intact
    before = source.read_bytes()
    symlink, hardlink = tmp_path / "symlink.pt", tmp_path / "hardlink.pt"
    symlink.symlink_to(source)
    os.link(source, hardlink)
    for out in (source, symlink, hardlink):
        with pytest.raises(ConfigError) as refused:
            export(export_config(source, out, "torchscript"))
        assert str(refused.value) == (
            f"out={out} is the file ckpt_path={source} names, which it would overwrite: give the path of a new file, "
            f"e.g. out={tmp_path / 'last_generator.pt'}"
        )
    assert source.read_bytes() == before


def test_export_into_a_folder_is_one_line_before_loading(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setattr(export_module, "load_generator", not_loaded)
    folder = tmp_path / "exports"
    folder.mkdir()
    with pytest.raises(ConfigError) as refused:
        export(export_config(checkpoint, folder, "torchscript"))
    assert str(refused.value) == (
        f"out={folder} is a folder, not a file: give the path of a new file, e.g. out={folder / 'last_generator.pt'}"
    )


def test_sampling_into_a_file_or_over_the_checkpoint_is_one_line_before_loading(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setattr(sample_module, "load_generator", not_loaded)
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    fix = "give a folder of its own for the images, e.g. outdir=outputs/sample"
    with pytest.raises(ConfigError) as refused:
        sample(sample_config(checkpoint, notes))
    assert str(refused.value) == f"outdir={notes} is a file, not a folder: {fix}"
    named_grid = tmp_path / "run" / "grid.png"  # a checkpoint where the grid would go
    named_grid.parent.mkdir()
    shutil.copyfile(checkpoint, named_grid)
    with pytest.raises(ConfigError) as refused:
        sample(sample_config(named_grid, named_grid.parent))
    assert str(refused.value) == (
        f"outdir={named_grid.parent}: {named_grid} is the file ckpt_path={named_grid} names, which it would "
        f"overwrite: {fix}"
    )
    assert notes.read_text() == "mine" and named_grid.read_bytes() == checkpoint.read_bytes()


def test_sampling_streams_batches_and_a_batch_size_keeps_the_faces(checkpoint, tmp_path, monkeypatch):
    z_per_call = []
    load = sample_module.load_generator

    def load_counting(*args, **kwargs):
        generator, info = load(*args, **kwargs)
        generator.register_forward_pre_hook(lambda module, inputs: z_per_call.append(len(inputs[0])))
        return generator, info

    monkeypatch.setattr(sample_module, "load_generator", load_counting)
    sample(sample_config(checkpoint, tmp_path / "batched", "num_samples=11", "batch_size=4", "grid_images=6"))
    assert z_per_call == [4, 4, 3]  # never more than batch_size z per call, every sample generated once
    names = [f"sample_{index:04d}.png" for index in range(11)]
    assert sorted(path.name for path in (tmp_path / "batched" / "samples").iterdir()) == names
    assert Image.open(tmp_path / "batched" / "grid.png").size == (2 + 3 * TILE, 2 + 2 * TILE)  # the first 6
    sample(sample_config(checkpoint, tmp_path / "whole", "num_samples=11"))
    for name in names:  # the same z whatever the batch size (a pixel may round the other way)
        batched, whole = (read_png(tmp_path / run / "samples" / name) for run in ("batched", "whole"))
        assert np.abs(batched - whole).max() <= 1
