"""`gpu_check(cfg)` (make gpu-check): on a CUDA machine, every path that only runs there, as one timed plan whose
results land in one folder; and, for a GPU machine without network, the commands before and after it.

The plan, in order, each step in its own process under its own timeout:
  prepare data  data_root decoded into the prepared cache at each image size the check trains, so that no timed
                window decodes a JPEG (the quality run decodes its split's images before its clock starts)
  cuda tests    the tests marked `cuda`: compiled networks and CUDA graphs, fused Adam, bf16, GPU-resident batches,
                gan_ddp over NCCL
  warm-up       one epoch of the quality run's recipe, so that its compiled networks load from `compile_cache`
                instead of compiling inside the quality run's budget (the speed steps compile in their untimed
                warm-up batches: facegan/benchmarks/train_speed.py)
  quality       facegan against the canonical loop after the same short budget (scripts/benchmark.py mode=quality),
                scored with feature_extractor; without one, the same training with its generators saved in
                results_dir (`train_to_score_later`), which `score_from=` scores afterwards on any machine
  speed         per model, facegan in each compile mode (and the residual tier of its size) against the canonical
                loop (mode=train)
The timeouts add up to at most `deadline`, or the check refuses to start. Every step shares one
TORCHINDUCTOR_CACHE_DIR (`compile_cache`). Everything the check keeps goes to results_dir; where the way back from
the GPU machine limits what it carries, results_limit caps its files, and the check fails naming those over a cap.
Without CUDA (or with dry_run=true) it prints the plan and runs nothing.

    python scripts/gpu_check.py bundle_to=.offline-bundle data_root=~/celeba feature_extractor=inception.pt   # before
    python scripts/gpu_check.py data_root=.offline-bundle/data results_dir=gpu-results                      # the GPU
    python scripts/gpu_check.py score_from=gpu-results data_root=~/celeba feature_extractor=inception.pt     # after
"""

import hashlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from facegan.benchmarks import canonical
from facegan.benchmarks.processes import REPO_ROOT, contender_overrides, facegan_command, in_fresh_process
from facegan.benchmarks.quality import parse_budget, split_folder, train_canonical, train_facegan
from facegan.checkpoints.trained_generator import GeneratorInfo, load_generator
from facegan.data.sources import find_images
from facegan.errors import ConfigError, FaceganError, exit_on_user_error
from facegan.fileio import atomic_write, read_torch_file
from facegan.metrics import GeneratorEvaluator, MetricSettings, load_feature_extractor
from facegan.models import Generator
from facegan.runtime.devices import resolve_device, training_device_type
from facegan.tools.export import export_metadata, load_torchscript, save_torchscript
from facegan.tools.offline_bundle import MIB, build_offline_bundle, bundle_of, folder_bytes

OUTPUT_TAIL = 3000  # characters of a failed step's output kept in the report
QUALITY_RUNS = "quality.json"  # in results_dir: the quality run's protocol and generators, for score_from=
# The metrics settings that decide a score; the paths and worker counts are the scoring machine's own.
SCORING_SETTINGS = ("num_real", "quantize", "batch_size", "seed", "kid_subsets", "kid_subset_size")


@dataclass(frozen=True)
class Step:
    name: str
    command: list[str]
    timeout: float  # seconds
    setting: str = ""  # the config key that sets its timeout


@dataclass(frozen=True)
class Outcome:
    step: Step
    status: str  # passed, failed, timed out, skipped
    seconds: float
    output: str
    summary: dict | None  # the last JSON line the step printed, if any


def absolute(path: str) -> str:
    return str(Path(path).expanduser().resolve())


def image_size_of(model: str) -> int:
    """dcgan64 -> 64: facegan's model configs end in the image size they train at."""
    match = re.search(r"\d+$", model)
    if match is None:
        raise ConfigError(f"model {model} names no image size: the check's models end in theirs, e.g. dcgan64")
    return int(match.group())


def image_sizes(cfg: DictConfig) -> dict[int, str]:
    """Each image size the check trains at, with the first model of that size."""
    sizes: dict[int, str] = {}
    for model in [cfg.quality.model, *cfg.speed.models, *cfg.speed.residual_models]:
        sizes.setdefault(image_size_of(model), model)
    return dict(sorted(sizes.items()))


def compile_overrides(mode: str) -> str:
    if mode == "eager":
        return "performance.compile=false"
    return f"performance.compile=true performance.compile_mode={mode}"


def speed_contenders(cfg: DictConfig, model: str) -> list[str]:
    """benchmark.contenders of one model's speed step, named `<model>-<compile mode>`: each compile mode, and the
    residual models of its size (eager), against one canonical run."""
    contenders = ["~benchmark.contenders.defaults"]
    for mode in cfg.speed.compile_modes:
        contenders.append(f'+benchmark.contenders.{model}-{mode}="{compile_overrides(mode)}"')
    for residual in cfg.speed.residual_models:
        if image_size_of(residual) == image_size_of(model):
            contenders.append(f'+benchmark.contenders.{residual}-eager="model={residual} {compile_overrides("eager")}"')
    return contenders


def plan(cfg: DictConfig) -> list[Step]:
    python, benchmark = sys.executable, str(REPO_ROOT / "scripts" / "benchmark.py")
    data, cache = f"data.root={absolute(cfg.data_root)}", f"paths.cache_dir={absolute(cfg.paths.cache_dir)}"
    steps = [
        Step(f"prepare data {size}px", [*facegan_command("prepare_data"), data, f"model={model}", cache],
             cfg.prepare.timeout, "prepare.timeout")
        for size, model in image_sizes(cfg).items()
    ]  # fmt: skip
    steps.append(Step("cuda tests", [python, "-m", "pytest", "-q", "-m", "cuda", "tests"], cfg.tests.timeout,
                      "tests.timeout"))  # fmt: skip
    quality = cfg.quality
    warm_up = [*facegan_command("train"), data, f"model={quality.model}", "trainer=gpu", "trainer.max_epochs=1",
               "metrics.enabled=false", "trainer.enable_progress_bar=false", "~callbacks.rich_progress_bar", cache,
               f"hydra.run.dir={absolute(cfg.warmup.run_dir)}"]  # fmt: skip
    steps.append(Step(f"warm-up {quality.model}", warm_up, cfg.warmup.timeout, "warmup.timeout"))
    recipe = [data, f"model={quality.model}", "trainer=gpu", f"budget={quality.budget}",
              f"benchmark.num_samples={quality.num_samples}", "benchmark.seeds=[1]", cache]  # fmt: skip
    if cfg.feature_extractor is not None:  # scored where it trains
        scored = ["mode=quality", f"metrics.feature_extractor={absolute(cfg.feature_extractor)}"]
        command = [python, benchmark, *recipe, *scored]
    else:  # its generators saved in results_dir, scored afterwards (score_from=)
        later = f"+benchmark.generators_to={absolute(cfg.results_dir)}"
        command = [python, "-m", "facegan.tools.gpu_check", *recipe, later]
    steps.append(Step(f"quality {quality.model} {quality.budget}", command, quality.timeout, "quality.timeout"))
    sized = {image_size_of(model) for model in cfg.speed.models}
    stray = [model for model in cfg.speed.residual_models if image_size_of(model) not in sized]
    if stray:
        raise ConfigError(
            f"speed.residual_models: {', '.join(stray)} has no DCGAN of its size in speed.models to run beside"
        )
    for model in cfg.speed.models:
        command = [python, benchmark, "mode=train", data, f"model={model}", "trainer=gpu",
                   f"benchmark.batches={cfg.speed.batches}", f"data.batch_size={cfg.speed.batch_size}", cache,
                   *speed_contenders(cfg, model)]  # fmt: skip
        steps.append(Step(f"speed {model}", command, cfg.speed.timeout, "speed.timeout"))
    return steps


def check_fits_deadline(steps: list[Step], deadline: float) -> None:
    """Every step gets its whole timeout: a plan whose timeouts add up to more than the deadline is refused."""
    total = sum(step.timeout for step in steps)
    if total > deadline:
        counts = Counter(step.setting for step in steps)
        timeouts = {step.setting: step.timeout for step in steps}
        parts = ", ".join(
            f"{setting}={timeouts[setting]:g}" + (f" x {count}" if count > 1 else "")
            for setting, count in counts.items()
        )
        raise ConfigError(
            f"the steps' timeouts add up to {total:g} s, over deadline={deadline:g} ({parts}): raise deadline or lower "
            "a timeout"
        )


def check_inputs(cfg: DictConfig, extractor_required: bool = False) -> None:
    """The images every command reads, and the Inception when given (or needed)."""
    if cfg.data_root is None:
        raise ConfigError(
            "data_root is not set: give the real faces, e.g. data_root=~/celeba or a bundle's data folder"
        )
    if not Path(cfg.data_root).expanduser().is_dir():
        raise ConfigError(f"data_root={cfg.data_root} is not a folder: give the CelebA images, e.g. data_root=~/celeba")
    if cfg.feature_extractor is None:
        if extractor_required:
            raise ConfigError(
                "feature_extractor is not set: scores need the TorchScript Inception, e.g. "
                "feature_extractor=~/models/inception-2015-12-05.pt"
            )
        return
    if not Path(cfg.feature_extractor).expanduser().is_file():
        raise ConfigError(
            f"feature_extractor={cfg.feature_extractor} is not a file: give a TorchScript Inception, "
            "e.g. feature_extractor=~/models/inception-2015-12-05.pt"
        )


def results_limit_text(cfg: DictConfig) -> str:
    """The caps results_limit sets, in words ("" when it sets none)."""
    limit, caps = cfg.results_limit, []
    if limit.files is not None:
        caps.append(f"at most {limit.files} files")
    if limit.file_mib is not None:
        caps.append(f"each at most {limit.file_mib} MiB")
    return ", ".join(caps)


def results_problem(folder: Path, cfg: DictConfig) -> str | None:
    """What in results_dir is over a cap of results_limit (too many files, files too large), or None."""
    files = sorted(path for path in folder.rglob("*") if path.is_file()) if folder.is_dir() else []
    problems = []
    if cfg.results_limit.files is not None and len(files) > cfg.results_limit.files:
        problems.append(f"{len(files)} files")
    if cfg.results_limit.file_mib is not None:
        too_big = [f"{file.relative_to(folder)} {file.stat().st_size / MIB:.1f} MiB" for file in files
                   if file.stat().st_size > cfg.results_limit.file_mib * MIB]  # fmt: skip
        problems += too_big
    if not problems:
        return None
    return (
        f"results_dir={folder} holds {'; '.join(problems)}: over results_limit ({results_limit_text(cfg)}): copy back "
        "only what fits, or raise results_limit.files / results_limit.file_mib"
    )


def last_json_line(output: str) -> dict | None:
    lines = [line for line in output.splitlines() if line.startswith("{")]
    try:
        return json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        return None


def step_environment(cfg: DictConfig) -> dict[str, str]:
    # One compile cache for every step: a network the warm-up compiled loads from it in the steps after.
    return {**os.environ, "PYTHONUNBUFFERED": "1", "TORCHINDUCTOR_CACHE_DIR": absolute(cfg.compile_cache)}


def run_step(step: Step, seconds_left: float, env: dict[str, str]) -> Outcome:
    """The step in its own process group (so a timeout also ends the processes it started)."""
    if seconds_left < step.timeout:
        return Outcome(
            step, "skipped", 0.0, f"{seconds_left:.0f} s left of the deadline, it may need {step.timeout:.0f} s", None
        )
    started = time.perf_counter()
    process = subprocess.Popen(
        step.command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True, env=env,
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


def quality_table(runs: list[dict]) -> list[str]:
    """The quality run's rows; a run trained here without an Inception shows `later` for its scores."""
    lines = ["| loop | batches | images | FID | KID x 1000 |", "| --- | ---: | ---: | ---: | ---: |"]
    for run in runs:
        scores = f"{run['fid']:.1f} | {run['kid'] * 1000:.1f}" if "fid" in run else "later | later"
        lines.append(f"| {run['loop']} | {run['batches']:,} | {run['images_seen']:,} | {scores} |")
    return lines


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
            summary = outcome.summary
            for name, row in summary["contenders"].items():  # `<model>-<compile mode>`, each against one canonical
                lines.append(
                    f"| {name.replace('-', ' ', 1)} | {row['img_per_s']:,.0f} | {summary['canonical_img_per_s']:,.0f} "
                    f"| {row['ratio']:.2f} | {row['peak_mem_mb']:,.0f} |"
                )
    for outcome in outcomes:
        if outcome.step.name.startswith("quality") and outcome.summary:
            lines += ["", f"## {outcome.step.name}", "", *quality_table(outcome.summary["runs"])]
            if not all("fid" in run for run in outcome.summary["runs"]):
                lines += ["", "Scored afterwards: copy results_dir to a machine with the Inception and run "
                          "`python scripts/gpu_check.py score_from=<results_dir> data_root=<the same images> "
                          "feature_extractor=<TorchScript Inception .pt>`."]  # fmt: skip
    lines += ["", "## Steps", ""]
    for outcome in outcomes:
        lines += [f"### {outcome.step.name}: {outcome.status}", "", f"    {shlex.join(outcome.step.command)}", ""]
        shown = outcome.output if outcome.status == "passed" else outcome.output[-OUTPUT_TAIL:]
        kept = [line for line in shown.splitlines() if line.strip()]
        tail = kept[-8:] if outcome.status == "passed" else kept
        lines += ["```", *tail, "```", ""]
    return "\n".join(lines) + "\n"


def print_plan(cfg: DictConfig, steps: list[Step], reason: str) -> None:
    print(f"gpu-check ({reason}): on a CUDA machine it would run, each step within its timeout:")
    for step in steps:
        print(f"  {step.timeout:>4.0f} s  {step.name}: {shlex.join(step.command)}")
    total = sum(step.timeout for step in steps)
    print(f"  {total:>4.0f} s  in all, of deadline={cfg.deadline:g} s")
    caps = results_limit_text(cfg)
    print(f"Results in {cfg.results_dir} (the report: {cfg.report})" + (f": {caps}" if caps else ""))
    bundle = bundle_of(cfg.data_root)
    if bundle is not None:
        folder, manifest = bundle
        size, checkout, limit = folder_bytes(folder), manifest["checkout_bytes"], manifest["limit_mib"]
        print(
            f"data_root is an offline bundle's, {folder}: {size / MIB:.1f} MiB; with the checkout, "
            f"{(size + checkout) / MIB:.1f} MiB" + (f" of its {limit} MiB limit" if limit is not None else "")
        )


def gpu_check(cfg: DictConfig) -> list[Outcome]:
    if cfg.bundle_to is not None and cfg.score_from is not None:
        raise ConfigError("bundle_to and score_from are two commands (before and after the check): give one")
    if cfg.bundle_to is not None:
        check_inputs(cfg)
        build_offline_bundle(cfg, max(image_sizes(cfg)))
        return []
    if cfg.score_from is not None:
        score_later(cfg)
        return []
    check_inputs(cfg)
    steps = plan(cfg)
    check_fits_deadline(steps, cfg.deadline)
    if cfg.dry_run or not torch.cuda.is_available():
        print_plan(cfg, steps, "dry_run=true" if cfg.dry_run else "no CUDA device here")
        return []
    results = Path(cfg.results_dir).expanduser()
    if results.is_dir() and any(results.iterdir()):
        raise ConfigError(f"results_dir={cfg.results_dir} is not empty: give a new or empty folder")
    results.mkdir(parents=True, exist_ok=True)
    env = step_environment(cfg)
    started = time.perf_counter()
    outcomes = []
    for step in steps:
        outcome = run_step(step, cfg.deadline - (time.perf_counter() - started), env)
        outcomes.append(outcome)
        print(f"{step.name}: {outcome.status} in {outcome.seconds:.0f} s", flush=True)
    report = Path(cfg.report).expanduser()
    with atomic_write(report) as partial:
        partial.write_text(report_text(outcomes, device_description(), cfg.deadline))
    print(f"Report: {report}")
    problem = results_problem(results, cfg)
    if problem is not None:
        raise FaceganError(problem)
    print(f"Results: {results} ({sum(path.is_file() for path in results.rglob('*'))} files)")
    return outcomes


def image_names_digest(root: str) -> tuple[int, str]:
    """How many images a folder holds and a digest of their names: the same for two folders that split alike."""
    files = find_images(root).files
    return len(files), hashlib.sha256("\n".join(files).encode()).hexdigest()[:16]


def train_to_score_later(cfg: DictConfig) -> dict:
    """The quality step where the check has no Inception: mode=quality's training (facegan/benchmarks/quality.py's
    split, budget, recipes and canonical loop), each final generator saved as TorchScript in
    benchmark.generators_to, with QUALITY_RUNS saying how `score_from=` scores them as mode=quality would have.
    Runs under conf/benchmark.yaml: `python -m facegan.tools.gpu_check <benchmark overrides>`."""
    bench = cfg.benchmark
    seconds = parse_budget(cfg.budget)
    if "root" not in cfg.data:
        raise ConfigError("the quality run splits an image folder: use data=celeba data.root=<folder>")
    contenders = contender_overrides(OmegaConf.to_container(bench.contenders))
    results = Path(bench.generators_to)
    workdir = Path(cfg.paths.log_dir).resolve() / "benchmark" / "quality" / time.strftime("%Y-%m-%d_%H-%M-%S")
    train_root, _, train_count = split_folder(cfg.data.root, bench.held_out, bench.split_seed, workdir)
    results.mkdir(parents=True, exist_ok=True)
    cfg_dict = OmegaConf.to_container(cfg, resolve=True)
    runs = []
    for seed in bench.seeds:
        for name, recipe in contenders.items():
            checkpoint, batches, images, train_s = train_facegan(
                cfg, train_root, seconds, seed, workdir / f"{name}-seed{seed}", recipe
            )
            generator, info = load_generator(checkpoint)  # as mode=quality scores it: EMA weights, eval mode
            file = f"{name}-seed{seed}-generator.pt"
            save_torchscript(generator, export_metadata(info), results / file)
            runs.append({"loop": name, "seed": seed, "batches": batches, "images_seen": images, "train_s": train_s,
                         "generator": file, "batchnorm": "running"})  # fmt: skip
            print(f"{name} seed {seed}: {batches:,} batches, generator {results / file}", flush=True)
        if not bench.canonical:
            continue
        weights = workdir / f"canonical-seed{seed}.pt"
        trained = in_fresh_process(train_canonical, cfg_dict, str(train_root), seconds, seed, str(weights))
        net = Generator(cfg.model.latent_dim, cfg.model.image_size, cfg.model.ngf)
        net.load_state_dict(read_torch_file(weights))
        info = GeneratorInfo(str(weights), cfg.model.latent_dim, cfg.model.image_size, "canonical netG", -1)
        file = f"canonical-seed{seed}-generator.pt"
        save_torchscript(net, export_metadata(info), results / file)
        # "batch": sampled in train mode, on each batch's own statistics, as the examples draw it
        runs.append({"loop": "canonical", "seed": seed, "batches": trained["batches"],
                     "images_seen": trained["batches"] * canonical.EXAMPLES_BATCH_SIZE, "train_s": trained["train_s"],
                     "generator": file, "batchnorm": "batch"})  # fmt: skip
        print(f"canonical seed {seed}: {trained['batches']:,} batches, generator {results / file}", flush=True)
    images, digest = image_names_digest(cfg.data.root)
    metrics = OmegaConf.to_container(cfg.metrics, resolve=True)
    record = {
        "benchmark": "quality", "device": training_device_type(cfg.trainer), "image_size": cfg.model.image_size,
        "budget": str(cfg.budget), "held_out": bench.held_out, "split_seed": bench.split_seed,
        "train_images": train_count, "images": images, "names_digest": digest,
        "metrics": {"num_samples": bench.num_samples, **{key: metrics[key] for key in SCORING_SETTINGS}},
        "runs": runs,
    }  # fmt: skip
    with atomic_write(results / QUALITY_RUNS) as partial:
        partial.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record))
    return record


def score_later(cfg: DictConfig) -> dict:
    """score_from=<results_dir>: the FID and KID of a quality run trained by `train_to_score_later`, as mode=quality
    would have scored them there: the same held-out images, samples and settings, with feature_extractor."""
    record_path = Path(cfg.score_from).expanduser() / QUALITY_RUNS
    if not record_path.is_file():
        raise ConfigError(
            f"score_from={cfg.score_from} holds no {QUALITY_RUNS}: give the results_dir of a check run without "
            "feature_extractor"
        )
    check_inputs(cfg, extractor_required=True)
    record = json.loads(record_path.read_text())
    images, digest = image_names_digest(cfg.data_root)
    if (images, digest) != (record["images"], record["names_digest"]):
        held = f"{images:,} images, not the {record['images']:,}" if images != record["images"] else "other names than"
        raise ConfigError(
            f"data_root={cfg.data_root} holds {held} the quality run split: give the folder the check ran on, or the "
            "one its bundle was made from"
        )
    device = resolve_device("auto")
    with tempfile.TemporaryDirectory() as scratch:
        settings: MetricSettings = hydra.utils.instantiate(
            cfg.metrics, **record["metrics"], enabled=True, feature_extractor=cfg.feature_extractor,
            cache_dir=f"{scratch}/fid",
        )  # fmt: skip
        extractor = load_feature_extractor(settings)
        _, held_out_root, _ = split_folder(cfg.data_root, record["held_out"], record["split_seed"], Path(scratch))
        real = hydra.utils.instantiate(
            cfg.data, root=str(held_out_root), image_size=record["image_size"], batch_size=min(record["held_out"], 100),
            cache=True, cache_dir=f"{scratch}/cache", num_workers=0,
        )  # fmt: skip
        real.prepare_data()
        real.setup("fit")
        evaluator = GeneratorEvaluator(extractor, settings)
        evaluator.prepare(real, device)
        for run in record["runs"]:
            generator, metadata = load_torchscript(record_path.parent / run["generator"])
            generator.to(device).train(run["batchnorm"] == "batch")
            with torch.no_grad():
                scores = evaluator(lambda z, net=generator: net(z.to(device)), metadata["latent_dim"], device)
            run.update(
                fid=scores.fid,
                kid=scores.kid_mean,
                kid_std=scores.kid_std,
                precision=scores.precision,
                recall=scores.recall,
            )
    print(f"Quality in {record['budget']} of training per loop on {record['device']}, {record['image_size']}px, "
          f"scored on {device} with {extractor.name}: {settings.num_samples} generated vs "
          f"{settings.real_count(record['held_out'])} held-out real images")  # fmt: skip
    print("\n".join(quality_table(record["runs"])))
    summary = {**record, "extractor": extractor.name, "scored_on": str(device)}
    print(json.dumps(summary))
    return summary


def train_to_score_later_job(cfg: DictConfig) -> None:
    with exit_on_user_error():
        train_to_score_later(cfg)


if __name__ == "__main__":
    from facegan import cli

    cli.console_script(train_to_score_later_job, "benchmark")()
