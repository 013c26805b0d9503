"""scripts/gpu_check.py: the plan it prints without CUDA, how it runs steps and writes its report, and the folder it
packs for a GPU machine (pack_to)."""

import sys
import warnings

import pytest
import torch

from facegan.errors import ConfigError
from facegan.metrics.extractors import TorchScriptExtractor
from facegan.tools.gpu_check import Outcome, Step, plan, report_text, run_step
from facegan.tools.gpu_lease import lease_command, pack_for_lease
from helpers import compose_config, run_cli, save_tiny_extractor, write_faces


def test_plan_covers_cuda_tests_every_model_and_compile_mode_and_a_quality_run():
    steps = plan(compose_config("gpu_check"))
    names = [step.name for step in steps]
    assert names[0] == "cuda tests" and names[1].startswith("quality dcgan64")  # the most wanted first
    speed = [step for step in steps if step.name.startswith("speed")]
    assert len(speed) == 7 and {"performance.compile=false", "performance.compile_mode=reduce-overhead"} <= {
        part for step in speed for part in step.command
    }
    assert all("trainer=gpu" in step.command for step in steps[1:])
    residual = next(step for step in speed if step.name == "speed resnet64 eager")  # beside dcgan64, one run
    assert "model=dcgan64" in residual.command and '+benchmark.contenders.resnet64="model=resnet64"' in residual.command
    assert compose_config("gpu_check").deadline <= 9 * 60  # the whole check fits a short GPU lease
    assert all(step.timeout < 9 * 60 for step in steps)


@pytest.mark.slow
def test_without_cuda_it_says_what_it_would_run_and_runs_nothing(tmp_path):
    report = tmp_path / "report.md"
    result = run_cli("gpu_check.py", f"report={report}", "dry_run=true")
    assert "it would run" in result.stdout and "speed dcgan64 reduce-overhead" in result.stdout
    assert "-m cuda" in result.stdout and "mode=quality" in result.stdout
    assert not report.exists()


def test_steps_report_status_json_and_time_limits():
    python = sys.executable
    passed = run_step(Step("ok", [python, "-c", "print('log'); print('{\"ratio\": 2.0}')"], 30), seconds_left=100)
    assert passed.status == "passed" and passed.summary == {"ratio": 2.0}
    failed = run_step(Step("bad", [python, "-c", "raise SystemExit(3)"], 30), seconds_left=100)
    assert failed.status == "failed (3)" and failed.summary is None
    late = run_step(Step("late", [python, "-c", "pass"], 30), seconds_left=10)
    assert late.status == "skipped" and "10 s left" in late.output
    stuck = run_step(Step("stuck", [python, "-c", "import time; time.sleep(60)"], 1), seconds_left=100)
    assert stuck.status == "timed out" and stuck.seconds < 30


def test_report_has_the_speed_and_quality_tables_and_each_failure_whole():
    dcgan = {"model": "dcgan64", "img_per_s": 51234.5, "ratio": 2.56, "peak_mem_mb": 900.0}
    speed = {"canonical_img_per_s": 20000.0, "contenders": {"defaults": dcgan}}
    residual = {"model": "resnet64", "img_per_s": 9000.0, "ratio": 0.45, "peak_mem_mb": 2100.0}
    beside = {"canonical_img_per_s": 20000.0, "contenders": {"defaults": dcgan, "resnet64": residual}}
    quality = {"runs": [{"loop": "defaults", "batches": 900, "images_seen": 115200, "fid": 80.5, "kid": 0.0612}]}
    outcomes = [
        Outcome(Step("cuda tests", ["pytest"], 1), "failed (1)", 12.0, "E   boom\n1 failed, 5 passed", None),
        Outcome(Step("speed dcgan64 default", ["bench"], 1), "passed", 30.0, "", speed),
        Outcome(Step("quality dcgan64 00:01:15", ["bench"], 1), "passed", 200.0, "", quality),
        Outcome(Step("speed dcgan32 eager", ["bench"], 1), "skipped", 0.0, "out of time", None),
        Outcome(Step("speed resnet64 eager", ["bench"], 1), "passed", 30.0, "", beside),
    ]
    text = report_text(outcomes, "NVIDIA H200, torch 2.x", deadline=530)
    assert text.startswith("# gpu-check: NVIDIA H200")
    assert "| dcgan64 default | 51,234 | 20,000 | 2.56 | 900 |" in text
    assert "| dcgan64 eager | 51,234 | 20,000 | 2.56 | 900 |" in text  # the residual step's DCGAN row
    assert "| resnet64 eager | 9,000 | 20,000 | 0.45 | 2,100 |" in text
    assert "| defaults | 900 | 115,200 | 80.5 | 61.2 |" in text
    assert "E   boom" in text and "| speed dcgan32 eager | skipped | 0 |" in text


def test_pack_holds_the_data_and_an_fp16_extractor_that_loads_as_fp32(tmp_path):
    write_faces(tmp_path / "faces" / "img_align_celeba", 6)
    extractor = save_tiny_extractor(tmp_path)
    folder = tmp_path / "lease"
    cfg = compose_config("gpu_check", f"pack_to={folder}", f"data_root={tmp_path / 'faces'}",
                         f"feature_extractor={extractor}", "pack_wheels=false")  # fmt: skip
    pack_for_lease(cfg)
    assert len(list((folder / "data" / "img_align_celeba").glob("*.jpg"))) == 6
    packed = folder / "tiny_extractor-fp16.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        assert all(p.dtype == torch.float16 for p in torch.jit.load(str(packed)).parameters())
    images = torch.rand(4, 3, 32, 32) * 2 - 1
    full, half = TorchScriptExtractor(extractor)(images), TorchScriptExtractor(packed)(images)
    assert full.dtype == half.dtype == torch.float32
    torch.testing.assert_close(half, full, rtol=0.02, atol=0.02)
    assert "make gpu-check PY=python3" in lease_command(folder, "tiny_extractor")


def test_pack_refuses_a_missing_extractor_in_one_line(tmp_path):
    cfg = compose_config("gpu_check", f"pack_to={tmp_path / 'lease'}", f"data_root={tmp_path}",
                         "feature_extractor=/nonexistent.pt")  # fmt: skip
    with pytest.raises(ConfigError, match="feature_extractor=/nonexistent.pt"):
        pack_for_lease(cfg)
    assert not (tmp_path / "lease").exists()
