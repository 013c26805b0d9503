"""scripts/benchmark.py runs its modes end to end and reports both loops (no timing is asserted)."""

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf, open_dict

from facegan.benchmarks.processes import contender_overrides
from facegan.benchmarks.quality import parse_budget, split_folder
from facegan.errors import ConfigError
from helpers import CONF_DIR, compose_config, run_cli, save_tiny_extractor, write_faces

SMALL_MODEL = ("model.ngf=8", "model.ndf=8", "data.batch_size=8", "data.num_workers=0")


def last_json_line(stdout: str) -> dict:
    return json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])


@pytest.mark.slow
@pytest.mark.long
def test_train_mode_compares_facegan_with_the_canonical_loop(tmp_path):
    write_faces(tmp_path / "faces" / "img_align_celeba", 24)
    result = run_cli(
        "benchmark.py", f"data.root={tmp_path / 'faces'}", f"paths.cache_dir={tmp_path / 'cache'}", *SMALL_MODEL,
        "benchmark.batches=2", "benchmark.warmup_batches=1",
    )  # fmt: skip
    summary = last_json_line(result.stdout)
    assert summary["benchmark"] == "train" and summary["device"] == "cpu"
    assert summary["facegan_img_per_s"] > 0 and summary["canonical_img_per_s"] > 0
    assert summary["ratio"] == pytest.approx(summary["facegan_img_per_s"] / summary["canonical_img_per_s"], rel=0.02)
    assert "facegan / canonical" in result.stdout
    assert list(summary["contenders"]) == ["defaults"] and summary["contenders"]["defaults"]["model"] == "dcgan32"


@pytest.mark.slow
@pytest.mark.long
def test_train_mode_measures_the_residual_step_beside_the_dcgan_step(tmp_path):
    write_faces(tmp_path / "faces" / "img_align_celeba", 24)
    result = run_cli(
        "benchmark.py", f"data.root={tmp_path / 'faces'}", f"paths.cache_dir={tmp_path / 'cache'}", *SMALL_MODEL,
        "benchmark.batches=2", "benchmark.warmup_batches=1", '+benchmark.contenders.resnet32="model=resnet32"',
    )  # fmt: skip
    rows = last_json_line(result.stdout)["contenders"]
    assert [(name, row["model"], row["batch_size"]) for name, row in rows.items()] == [
        ("defaults", "dcgan32", 8),
        ("resnet32", "resnet32", 8),  # the benchmark's batch, not the residual recipe's 64: the same work per step
    ]
    assert all(row["img_per_s"] > 0 and row["peak_mem_mb"] > 0 for row in rows.values())
    assert "resnet32 / canonical" in result.stdout and "defaults / canonical" in result.stdout


def test_train_mode_contenders_are_the_benchmarks_config_with_their_recipe_on_top(monkeypatch):
    from hydra import initialize_config_dir
    from hydra.core.hydra_config import HydraConfig

    from facegan.benchmarks.train_speed import contender_configs

    overrides = (
        "data=synthetic",
        "data.batch_size=8",
        "benchmark.batches=3",
        '+benchmark.contenders.res="model=resnet32"',
    )
    cfg = compose_config("benchmark", *overrides, return_hydra_config=True)
    monkeypatch.setattr(HydraConfig.instance(), "cfg", None)  # this test's run, undone afterwards
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):  # the task function's config has no hydra node
        del cfg["hydra"]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        configs = contender_configs(cfg)
    assert list(configs) == ["defaults", "res"]
    defaults, residual = configs["defaults"], configs["res"]
    assert (defaults["model"]["family"], residual["model"]["family"]) == ("dcgan", "resnet")
    assert defaults["data"]["batch_size"] == residual["data"]["batch_size"] == 8  # the benchmark's, not the recipe's
    assert residual["benchmark"]["batches"] == 3 and residual["data"]["_target_"] == defaults["data"]["_target_"]


@pytest.mark.slow
@pytest.mark.long
def test_end_to_end_mode_times_both_whole_processes(tmp_path):
    write_faces(tmp_path / "faces" / "img_align_celeba", 16)
    result = run_cli(
        "benchmark.py", "mode=end_to_end", f"data.root={tmp_path / 'faces'}", f"paths.cache_dir={tmp_path / 'cache'}",
        *SMALL_MODEL, "trainer.max_epochs=1",
    )  # fmt: skip
    summary = last_json_line(result.stdout)
    assert summary["epochs"] == 1 and summary["facegan_s"] > 0 and summary["canonical_s"] > 0
    assert "model=dcgan32" in result.stdout  # train.py trains the benchmark's model, not train.yaml's default


def test_quality_split_is_disjoint_and_reproducible(tmp_path):
    write_faces(tmp_path / "faces" / "img_align_celeba", 30)
    train_root, held_root, train_count = split_folder(str(tmp_path / "faces"), 8, 0, tmp_path / "a")
    targets = {name: {path.resolve() for path in (root / "images").iterdir()} for name, root in
               (("train", train_root), ("held_out", held_root))}  # fmt: skip
    assert (len(targets["train"]), len(targets["held_out"]), train_count) == (22, 8, 22)
    assert not targets["train"] & targets["held_out"]
    again = split_folder(str(tmp_path / "faces"), 8, 0, tmp_path / "b")[1]
    assert {path.resolve() for path in (again / "images").iterdir()} == targets["held_out"]
    with pytest.raises(ConfigError, match="benchmark.held_out=30"):
        split_folder(str(tmp_path / "faces"), 30, 0, tmp_path / "c")


@pytest.mark.parametrize("budget", ["ten minutes", "0", "-1:00"])
def test_quality_budget_must_be_a_duration(budget):
    with pytest.raises(ConfigError, match=f"budget={budget}"):
        parse_budget(budget)
    assert parse_budget("00:10:00") == 600 and parse_budget("1:30") == 90


@pytest.mark.slow
@pytest.mark.long
def test_quality_mode_scores_both_loops_against_held_out_images(tmp_path):
    write_faces(tmp_path / "faces" / "img_align_celeba", 40)
    result = run_cli(
        "benchmark.py", "mode=quality", f"data.root={tmp_path / 'faces'}", "budget=00:00:03",
        *SMALL_MODEL, "benchmark.held_out=10", "benchmark.num_samples=16", "benchmark.seeds=[1]",
        f"metrics.feature_extractor={save_tiny_extractor(tmp_path)}", f"paths.log_dir={tmp_path / 'logs'}",
        f"paths.cache_dir={tmp_path / 'cache'}", '+benchmark.contenders.lsgan="loss=lsgan data.batch_size=4"',
    )  # fmt: skip
    summary = last_json_line(result.stdout)
    assert summary["benchmark"] == "quality" and summary["held_out_images"] == 10 and summary["train_images"] == 30
    assert (summary["num_fake"], summary["num_real"]) == (16, 10)
    assert summary["contenders"] == {"defaults": [], "lsgan": ["loss=lsgan", "data.batch_size=4"]}
    assert not any("benchmark." in override for override in summary["facegan_overrides"])
    runs = {run["loop"]: run for run in summary["runs"]}
    assert list(runs) == ["defaults", "lsgan", "canonical"]
    workdir = Path(summary["workdir"])
    for run in runs.values():
        assert run["batches"] > 0 and run["fid"] > 0 and run["kid"] == run["kid"]  # not NaN
        assert 0 <= run["precision"] <= 1 and 0 <= run["recall"] <= 1 and run["memorization_ratio"] > 0
        assert (workdir / f"{run['loop']}-seed1-memorization.png").read_bytes().startswith(b"\x89PNG")
    assert runs["lsgan"]["images_seen"] == 4 * runs["lsgan"]["batches"]  # the contender's own batch size
    assert runs["defaults"]["images_seen"] == 8 * runs["defaults"]["batches"]
    assert set(summary["kid_ratios"]) == {"defaults/canonical", "lsgan/canonical", "lsgan/defaults"}
    assert "held-out real images" in result.stdout and "KID lsgan/defaults" in result.stdout
    assert (workdir / "quality.json").is_file()
    assert OmegaConf.load(workdir / "lsgan-seed1" / ".hydra" / "config.yaml").loss._target_.endswith("LSGANLoss")


@pytest.mark.parametrize(
    ("contenders", "message"),
    [({}, "benchmark.contenders is empty"), ({"canonical": ""}, "contenders.canonical"),
     ({"a b": ""}, "contenders.a b")],
)  # fmt: skip
def test_quality_contenders_are_named_recipes(contenders, message):
    with pytest.raises(ConfigError, match=message):
        contender_overrides(contenders)
    assert contender_overrides({"defaults": None, "wide": "model.ngf=128 model.ndf=128", "x": ["loss=hinge"]}) == {
        "defaults": [],
        "wide": ["model.ngf=128", "model.ndf=128"],
        "x": ["loss=hinge"],
    }
