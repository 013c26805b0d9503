"""`gpu_check(cfg)`: on a CUDA machine, every path that only runs there, as one timed plan with one report.

The plan, most wanted first: the tests marked `cuda` (compiled networks and CUDA graphs, fused Adam, bf16,
GPU-resident batches, gan_ddp over NCCL), a short quality run (scripts/benchmark.py mode=quality) and the speed
table (mode=train per model and compile mode, facegan against the canonical loop). Each step runs as a user would
run it, in its own process, with its own time limit inside `deadline`; a step that can no longer finish in time is
skipped and named.
Without CUDA (or with dry_run=true) it prints the plan and runs nothing.
"""

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig

from facegan.benchmarks.processes import REPO_ROOT
from facegan.fileio import atomic_write
from facegan.tools.gpu_lease import check_inputs, pack_for_lease

OUTPUT_TAIL = 3000  # characters of a failed step's output kept in the report


@dataclass(frozen=True)
class Step:
    name: str
    command: list[str]
    timeout: float  # seconds


@dataclass(frozen=True)
class Outcome:
    step: Step
    status: str  # passed, failed, timed out, skipped
    seconds: float
    output: str
    summary: dict | None  # the last JSON line the step printed, if any


def absolute(path: str) -> str:
    return str(Path(path).expanduser().resolve())


def plan(cfg: DictConfig) -> list[Step]:
    python, benchmark = sys.executable, str(REPO_ROOT / "scripts" / "benchmark.py")
    data = f"data.root={absolute(cfg.data_root)}"
    steps = [Step("cuda tests", [python, "-m", "pytest", "-q", "-m", "cuda", "tests"], cfg.tests.timeout)]
    quality = cfg.quality
    command = [python, benchmark, "mode=quality", data, f"model={quality.model}", "trainer=gpu",
               f"budget={quality.budget}", f"benchmark.num_samples={quality.num_samples}", "benchmark.seeds=[1]",
               f"metrics.feature_extractor={absolute(cfg.feature_extractor)}"]  # fmt: skip
    steps.append(Step(f"quality {quality.model} {quality.budget}", command, quality.timeout))
    for model in cfg.speed.models:
        for mode in cfg.speed.compile_modes:
            compile_overrides = (
                ["performance.compile=false"]
                if mode == "eager"
                else ["performance.compile=true", f"performance.compile_mode={mode}"]
            )
            command = [python, benchmark, "mode=train", data, f"model={model}", "trainer=gpu",
                       f"benchmark.batches={cfg.speed.batches}", f"data.batch_size={cfg.speed.batch_size}",
                       *compile_overrides]  # fmt: skip
            steps.append(Step(f"speed {model} {mode}", command, cfg.speed.timeout))
    for model in cfg.speed.residual_models:
        # The residual tier's step beside the DCGAN step of its size, in one benchmark (same device, batch, data).
        size = model.removeprefix("resnet")
        command = [python, benchmark, "mode=train", data, f"model=dcgan{size}", "trainer=gpu",
                   f"benchmark.batches={cfg.speed.batches}", f"data.batch_size={cfg.speed.batch_size}",
                   "performance.compile=false", f'+benchmark.contenders.{model}="model={model}"']  # fmt: skip
        steps.append(Step(f"speed {model} eager", command, cfg.speed.timeout))
    return steps


def last_json_line(output: str) -> dict | None:
    lines = [line for line in output.splitlines() if line.startswith("{")]
    try:
        return json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        return None


def run_step(step: Step, seconds_left: float) -> Outcome:
    """The step in its own process group (so a timeout also ends the processes it started)."""
    if seconds_left < step.timeout:
        return Outcome(
            step, "skipped", 0.0, f"{seconds_left:.0f} s left of the deadline, it may need {step.timeout:.0f} s", None
        )
    started = time.perf_counter()
    process = subprocess.Popen(
        step.command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        output, _ = process.communicate(timeout=step.timeout)
        status = "passed" if process.returncode == 0 else f"failed ({process.returncode})"
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        status = "timed out"
    return Outcome(step, status, time.perf_counter() - started, output, last_json_line(output))


def device_description() -> str:
    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
    return f"{name}, torch {torch.__version__}, CUDA {torch.version.cuda}"


def report_text(outcomes: list[Outcome], device: str, deadline: float) -> str:
    lines = [f"# gpu-check: {device}", "", f"{time.strftime('%Y-%m-%d %H:%M:%S')}, deadline {deadline:.0f} s", ""]
    lines += ["| step | status | seconds |", "| --- | --- | ---: |"]
    lines += [f"| {outcome.step.name} | {outcome.status} | {outcome.seconds:.0f} |" for outcome in outcomes]
    speed = [outcome for outcome in outcomes if outcome.step.name.startswith("speed") and outcome.summary]
    if speed:
        lines += ["", "## Speed (img/s, steady state)", "",
                  "| model, compile | facegan | canonical | facegan / canonical | facegan peak MiB |",
                  "| --- | ---: | ---: | ---: | ---: |"]  # fmt: skip
        for outcome in speed:
            summary, mode = outcome.summary, outcome.step.name.rsplit(" ", 1)[-1]
            for row in summary["contenders"].values():  # facegan's rows of that run, each against the canonical loop
                lines.append(
                    f"| {row['model']} {mode} | {row['img_per_s']:,.0f} | {summary['canonical_img_per_s']:,.0f} | "
                    f"{row['ratio']:.2f} | {row['peak_mem_mb']:,.0f} |"
                )
    for outcome in outcomes:
        if outcome.step.name.startswith("quality") and outcome.summary:
            lines += ["", f"## {outcome.step.name}", "", "| loop | batches | images | FID | KID x 1000 |",
                      "| --- | ---: | ---: | ---: | ---: |"]  # fmt: skip
            for run in outcome.summary["runs"]:
                lines.append(
                    f"| {run['loop']} | {run['batches']:,} | {run['images_seen']:,} | {run['fid']:.1f} | "
                    f"{run['kid'] * 1000:.1f} |"
                )
    lines += ["", "## Steps", ""]
    for outcome in outcomes:
        lines += [f"### {outcome.step.name}: {outcome.status}", "", f"    {shlex.join(outcome.step.command)}", ""]
        shown = outcome.output if outcome.status == "passed" else outcome.output[-OUTPUT_TAIL:]
        kept = [line for line in shown.splitlines() if line.strip()]
        tail = kept[-8:] if outcome.status == "passed" else kept
        lines += ["```", *tail, "```", ""]
    return "\n".join(lines) + "\n"


def gpu_check(cfg: DictConfig) -> list[Outcome]:
    if cfg.pack_to is not None:
        pack_for_lease(cfg)
        return []
    steps = plan(cfg)
    if cfg.dry_run or not torch.cuda.is_available():
        reason = "dry_run=true" if cfg.dry_run else "no CUDA device here"
        print(f"gpu-check ({reason}): on a CUDA machine it would run, within {cfg.deadline} s, into {cfg.report}:")
        for step in steps:
            print(f"  {step.name} (at most {step.timeout:.0f} s): {shlex.join(step.command)}")
        return []
    check_inputs(cfg)
    started = time.perf_counter()
    outcomes = []
    for step in steps:
        outcome = run_step(step, cfg.deadline - (time.perf_counter() - started))
        outcomes.append(outcome)
        print(f"{step.name}: {outcome.status} in {outcome.seconds:.0f} s", flush=True)
    report = Path(cfg.report)
    with atomic_write(report) as partial:
        partial.write_text(report_text(outcomes, device_description(), cfg.deadline))
    print(f"Report: {report}")
    return outcomes
