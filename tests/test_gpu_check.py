"""scripts/gpu_check.py: the plan and its deadline, how steps run and the report reads, the results folder's caps,
the offline bundle and its size (bundle_to), and a quality run trained without an Inception, scored afterwards
(score_from)."""

import json
import os
import subprocess
import sys
import warnings

import pytest
import torch
from PIL import Image

from facegan.errors import ConfigError
from facegan.metrics.extractors import TorchScriptExtractor
from facegan.tools.gpu_check import (
    QUALITY_RUNS,
    Outcome,
    Step,
    check_fits_deadline,
    gpu_check,
    plan,
    report_text,
    results_problem,
    run_step,
)
from facegan.tools.offline_bundle import MANIFEST, MIB, checkout_bytes, folder_bytes
from helpers import REPO_ROOT, compose_config, run_cli, save_tiny_extractor, write_faces


def check_config(*overrides: str):
    return compose_config("gpu_check", "data_root=/faces", *overrides)


def test_plan_prepares_the_data_and_warms_the_compiler_before_the_timed_steps():
    steps = plan(check_config("results_dir=/results"))
    names = [step.name for step in steps]
    assert names == ["prepare data 32px", "prepare data 64px", "cuda tests", "warm-up dcgan64",
                     "quality dcgan64 00:00:40", "speed dcgan32", "speed dcgan64"]  # fmt: skip
    prepare, warm_up, quality, speed = steps[1], steps[3], steps[4], steps[6]
    assert {"prepare_data", "data.root=/faces", "model=dcgan64"} <= set(prepare.command)
    assert {"train", "model=dcgan64", "trainer=gpu", "trainer.max_epochs=1"} <= set(warm_up.command)
    caches = {part for step in steps for part in step.command if part.startswith("paths.cache_dir=")}
    assert len(caches) == 1 and all(caches <= set(step.command) for step in steps if step.name != "cuda tests")
    # No feature_extractor: the quality run saves its generators in results_dir, to be scored afterwards.
    assert "facegan.tools.gpu_check" in quality.command and "+benchmark.generators_to=/results" in quality.command
    assert "-m" in steps[2].command and "cuda" in steps[2].command
    contenders = [part for part in speed.command if part.startswith("+benchmark.contenders.")]
    assert contenders == [
        '+benchmark.contenders.dcgan64-eager="performance.compile=false"',
        '+benchmark.contenders.dcgan64-default="performance.compile=true performance.compile_mode=default"',
        "+benchmark.contenders.dcgan64-reduce-overhead="
        '"performance.compile=true performance.compile_mode=reduce-overhead"',
        '+benchmark.contenders.resnet64-eager="model=resnet64 performance.compile=false"',
    ]
    assert "~benchmark.contenders.defaults" in speed.command and "model=dcgan64" in speed.command
    scored_here = plan(check_config("feature_extractor=/inception.pt"))[4].command
    assert "mode=quality" in scored_here and "metrics.feature_extractor=/inception.pt" in scored_here


def test_the_timeouts_fit_the_deadline_or_the_check_is_refused_in_one_line(tmp_path):
    cfg = check_config()
    steps = plan(cfg)
    assert sum(step.timeout for step in steps) <= cfg.deadline
    check_fits_deadline(steps, cfg.deadline)
    over = r"add up to 630 s, over deadline=530 \(prepare.timeout=20 x 2, tests.timeout=150, .*speed.timeout=130 x 2\)"
    with pytest.raises(ConfigError, match=over):
        gpu_check(compose_config("gpu_check", f"data_root={tmp_path}", "speed.timeout=130", "dry_run=true"))


def test_steps_report_status_json_and_time_limits():
    python, env = sys.executable, dict(os.environ)
    passed = run_step(Step("ok", [python, "-c", "print('log'); print('{\"ratio\": 2.0}')"], 30), 100, env)
    assert passed.status == "passed" and passed.summary == {"ratio": 2.0}
    failed = run_step(Step("bad", [python, "-c", "raise SystemExit(3)"], 30), 100, env)
    assert failed.status == "failed (3)" and failed.summary is None
    late = run_step(Step("late", [python, "-c", "pass"], 30), 10, env)
    assert late.status == "skipped" and "10 s left" in late.output
    stuck = run_step(Step("stuck", [python, "-c", "import time; time.sleep(60)"], 1), 100, env)
    assert stuck.status == "timed out" and stuck.seconds < 30


def test_report_has_the_speed_and_quality_tables_and_each_failure_whole():
    def row(model, img_per_s, ratio, peak):
        return {"model": model, "img_per_s": img_per_s, "ratio": ratio, "peak_mem_mb": peak}

    speed = {"canonical_img_per_s": 20000.0, "contenders": {
        "dcgan64-default": row("dcgan64", 51234.5, 2.56, 900.0),
        "dcgan64-reduce-overhead": row("dcgan64", 60000.0, 3.0, 950.0),
        "resnet64-eager": row("resnet64", 9000.0, 0.45, 2100.0),
    }}  # fmt: skip
    scored = {"runs": [{"loop": "defaults", "batches": 900, "images_seen": 115200, "fid": 80.5, "kid": 0.0612}]}
    later = {"runs": [{"loop": "canonical", "batches": 700, "images_seen": 44800}]}
    outcomes = [
        Outcome(Step("cuda tests", ["pytest"], 1), "failed (1)", 12.0, "E   boom\n1 failed, 5 passed", None),
        Outcome(Step("speed dcgan64", ["bench"], 1), "passed", 30.0, "", speed),
        Outcome(Step("quality dcgan64 00:00:40", ["bench"], 1), "passed", 100.0, "", scored),
        Outcome(Step("quality dcgan32 00:00:40", ["bench"], 1), "passed", 90.0, "", later),
        Outcome(Step("speed dcgan32", ["bench"], 1), "skipped", 0.0, "out of time", None),
    ]
    text = report_text(outcomes, "NVIDIA H200, torch 2.x", deadline=530)
    assert text.startswith("# gpu-check: NVIDIA H200")
    assert "| dcgan64 default | 51,234 | 20,000 | 2.56 | 900 |" in text
    assert "| dcgan64 reduce-overhead | 60,000 | 20,000 | 3.00 | 950 |" in text
    assert "| resnet64 eager | 9,000 | 20,000 | 0.45 | 2,100 |" in text
    assert "| defaults | 900 | 115,200 | 80.5 | 61.2 |" in text
    assert "| canonical | 700 | 44,800 | later | later |" in text and "score_from=<results_dir>" in text
    assert "E   boom" in text and "| speed dcgan32 | skipped | 0 |" in text


def test_results_over_a_cap_are_named(tmp_path, monkeypatch):
    capped = check_config("results_limit.files=8", "results_limit.file_mib=16")
    for index in range(8):
        (tmp_path / f"{index}.md").write_text("ok")
    assert results_problem(tmp_path, capped) is None  # 8 small files: the cap itself
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "8.md").write_text("one too many, in a sub-folder")
    with open(tmp_path / "big.pt", "wb") as file:
        file.truncate(17 * MIB)
    problem = results_problem(tmp_path, capped)
    assert "holds 10 files; big.pt 17.0 MiB: over results_limit (at most 8 files, each at most 16 MiB)" in problem
    assert results_problem(tmp_path, check_config()) is None  # no cap unless set
    # On a CUDA machine, a results_dir that already holds files is refused before any step runs.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(ConfigError, match=f"results_dir={tmp_path} is not empty"):
        gpu_check(compose_config("gpu_check", f"data_root={tmp_path}", f"results_dir={tmp_path}"))


def bundle_config(tmp_path, *overrides: str):
    return compose_config("gpu_check", f"bundle_to={tmp_path / 'bundle'}", f"data_root={tmp_path / 'faces'}",
                          "bundle.wheels=false", *overrides)  # fmt: skip


def test_the_bundle_counts_itself_with_the_checkout_and_holds_the_extractor_only_when_it_fits(tmp_path, capsys):
    write_faces(tmp_path / "faces" / "img_align_celeba", 12)
    extractor = save_tiny_extractor(tmp_path)
    bundle = tmp_path / "bundle"
    gpu_check(bundle_config(tmp_path, f"feature_extractor={extractor}"))
    images = sorted((bundle / "data" / "img_align_celeba").glob("*.jpg"))
    assert len(images) == 12 and all(Image.open(image).size == (64, 64) for image in images)  # the largest size trained
    manifest = json.loads((bundle / MANIFEST).read_text())
    checkout, size = checkout_bytes(), folder_bytes(bundle)
    assert manifest["checkout_bytes"] == checkout > 0 and manifest["image_size"] == 64
    printed = capsys.readouterr().out
    assert f": {size / MIB:.1f} MiB (12 images at 64 px; 0 wheels; tiny_extractor-fp16.pt)" in printed
    assert f"With the checkout ({checkout / MIB:.1f} MiB): {(checkout + size) / MIB:.1f} MiB." in printed  # no limit
    assert f"feature_extractor={bundle}/tiny_extractor-fp16.pt" in printed and "make gpu-check PY=python3" in printed

    packed = bundle / manifest["feature_extractor"]  # fp16 weights, computing in fp32 close to the original
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        assert all(parameter.dtype == torch.float16 for parameter in torch.jit.load(str(packed)).parameters())
    images = torch.rand(4, 3, 32, 32) * 2 - 1
    full, half = TorchScriptExtractor(extractor)(images), TorchScriptExtractor(packed)(images)
    assert full.dtype == half.dtype == torch.float32
    torch.testing.assert_close(half, full, rtol=0.02, atol=0.02)

    # A limit the images fit under but the extractor does not: left out, and the command that scores later printed.
    without_extractor = (checkout + size - packed.stat().st_size) / MIB
    gpu_check(bundle_config(tmp_path, f"feature_extractor={extractor}", f"bundle.limit_mib={without_extractor}"))
    assert json.loads((bundle / MANIFEST).read_text())["feature_extractor"] is None and not list(bundle.glob("*.pt"))
    printed = capsys.readouterr().out
    assert "feature_extractor left out" in printed
    assert f"score_from=./outputs/gpu-check data_root={tmp_path / 'faces'} feature_extractor={extractor}" in printed

    # Over the limit: refused in one line, the earlier bundle kept and no partial one left.
    with pytest.raises(ConfigError, match=r"weigh .* MiB, over bundle.limit_mib=1: give a data_root with fewer images"):
        gpu_check(bundle_config(tmp_path, "bundle.limit_mib=1"))
    assert (bundle / MANIFEST).is_file() and [path.name for path in tmp_path.iterdir() if "partial" in path.name] == []


def test_the_bundle_refuses_a_missing_extractor_and_a_folder_that_is_not_a_bundle(tmp_path):
    write_faces(tmp_path / "faces" / "img_align_celeba", 2)
    with pytest.raises(ConfigError, match="feature_extractor=/nonexistent.pt is not a file"):
        gpu_check(bundle_config(tmp_path, "feature_extractor=/nonexistent.pt"))
    assert not (tmp_path / "bundle").exists()
    with pytest.raises(ConfigError, match=f"bundle_to={tmp_path} exists and is not an offline bundle"):
        gpu_check(bundle_config(tmp_path, f"bundle_to={tmp_path}"))
    assert (tmp_path / "faces").is_dir()


def test_score_from_refuses_other_images_and_a_missing_extractor_in_one_line(tmp_path):
    write_faces(tmp_path / "faces" / "img_align_celeba", 4)
    (tmp_path / QUALITY_RUNS).write_text(json.dumps({"images": 40, "names_digest": "0"}))
    score = ("gpu_check", f"score_from={tmp_path}", f"data_root={tmp_path / 'faces'}")
    with pytest.raises(ConfigError, match="feature_extractor is not set"):
        gpu_check(compose_config(*score))
    with pytest.raises(ConfigError, match="holds 4 images, not the 40 the quality run split"):
        gpu_check(compose_config(*score, f"feature_extractor={save_tiny_extractor(tmp_path)}"))
    with pytest.raises(ConfigError, match=f"score_from={tmp_path / 'faces'} holds no {QUALITY_RUNS}"):
        gpu_check(compose_config("gpu_check", f"score_from={tmp_path / 'faces'}"))


@pytest.mark.slow
@pytest.mark.long
def test_dry_run_from_a_bundle_prints_each_step_its_timeout_the_sum_and_the_bundle_size(tmp_path):
    write_faces(tmp_path / "faces" / "img_align_celeba", 12)
    bundle = tmp_path / "bundle"
    made = run_cli("gpu_check.py", f"bundle_to={bundle}", f"data_root={tmp_path / 'faces'}", "bundle.wheels=false",
                   "bundle.limit_mib=100")  # fmt: skip
    assert f"PYTHONPATH=$PWD make gpu-check PY=python3 ARGS='data_root={bundle}/data" in made.stdout
    results = tmp_path / "results"
    dry = ("gpu_check.py", "dry_run=true", f"data_root={bundle / 'data'}", f"results_dir={results}")
    printed = run_cli(*dry, "results_limit.files=8").stdout
    expected = ["    20 s  prepare data 64px: ", "   150 s  cuda tests: ", "    60 s  warm-up dcgan64: ",
                "   120 s  quality dcgan64 00:00:40: ", "    80 s  speed dcgan64: ",
                "   530 s  in all, of deadline=530 s", "/report.md): at most 8 files",
                f"data_root is an offline bundle's, {bundle}: "]  # fmt: skip
    assert all(line in printed for line in expected), printed
    assert "MiB of its 100 MiB limit" in printed and not results.exists()
    refused = run_cli(*dry, "deadline=500", check=False)
    assert refused.returncode == 2
    assert refused.stderr.splitlines()[-1].startswith(
        "facegan: error: the steps' timeouts add up to 530 s, over deadline=500"
    )


@pytest.mark.slow
@pytest.mark.long
def test_a_quality_run_without_an_inception_saves_its_generators_and_score_from_scores_them(tmp_path):
    faces, results = tmp_path / "faces", tmp_path / "results"
    write_faces(faces / "img_align_celeba", 40)
    command = [sys.executable, "-m", "facegan.tools.gpu_check", f"data.root={faces}", "budget=00:00:02",
               "model.ngf=8", "model.ndf=8", "data.batch_size=8", "data.num_workers=0", "benchmark.held_out=10",
               "benchmark.num_samples=16", "benchmark.seeds=[1]", f"paths.log_dir={tmp_path / 'logs'}",
               f"paths.cache_dir={tmp_path / 'cache'}", f"+benchmark.generators_to={results}"]  # fmt: skip
    trained = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert trained.returncode == 0, trained.stderr[-3000:]
    files = sorted(path.name for path in results.iterdir())
    assert files == ["canonical-seed1-generator.pt", "defaults-seed1-generator.pt", QUALITY_RUNS]
    record = json.loads((results / QUALITY_RUNS).read_text())
    assert (record["held_out"], record["train_images"], record["metrics"]["num_samples"]) == (10, 30, 16)

    extractor = save_tiny_extractor(tmp_path)
    scored = run_cli("gpu_check.py", f"score_from={results}", f"data_root={faces}", f"feature_extractor={extractor}")
    runs = {run["loop"]: run for run in json.loads(scored.stdout.splitlines()[-1])["runs"]}
    assert list(runs) == ["defaults", "canonical"]
    assert all(run["fid"] > 0 and run["kid"] == run["kid"] and run["batches"] > 0 for run in runs.values())
    assert "| canonical |" in scored.stdout and "16 generated vs 10 held-out real images" in scored.stdout
