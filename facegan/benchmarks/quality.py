"""`mode=quality`: the faces facegan and the canonical DCGAN loop make in the same wall-clock budget.

    python scripts/benchmark.py mode=quality data.root=~/celeba budget=00:10:00 \\
        metrics.feature_extractor=~/models/inception-2015-12-05.pt

The protocol, printed with the results:
  split      `benchmark.held_out` images of the folder, drawn with `benchmark.split_seed`, never train:
             they are the real set FID and KID compare with. Both loops train on the rest.
  budget     each loop trains for `budget` (HH:MM:SS) of wall time on this machine, one after the other:
             facegan as `scripts/train.py` with its defaults plus the benchmark's overrides (trainer.max_time),
             the canonical pytorch/examples loop (facegan/benchmarks/canonical.py) until its clock runs out,
             at the examples' own batch (64), whatever facegan's recipe uses.
  samples    `benchmark.num_samples` images of each final generator (facegan: the checkpoint's generator, EMA
             when on, as scripts/sample.py uses it; canonical: netG in train mode, as the examples draw it),
             against at most as many of the held-out images, at the model's size, with `metrics.*`'s extractor:
             FID, KID, precision and recall (k=3) on the same features.
  copying    the memorization ratio: the median distance of a generated face to its nearest training image over
             the same for the held-out faces (near 1 or above: new faces; towards 0: copies of the training set);
             each loop's closest pairs drawn in <workdir>/<loop>-seed<N>-memorization.png.
  contenders `benchmark.contenders` names facegan recipes trained side by side, each a string of train.py
             overrides on top of the benchmark's (`defaults: ""` is facegan as a user runs it), e.g.
             `'+benchmark.contenders.lsgan="loss=lsgan"'`; `benchmark.canonical=false` leaves out the canonical loop.
  seeds      one run of each loop per entry of `benchmark.seeds`; the table gives each and their mean.
"""

import json
import random
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from facegan.benchmarks import canonical
from facegan.benchmarks.processes import (
    contender_overrides,
    facegan_command,
    in_fresh_process,
    run_timed,
    training_overrides,
)
from facegan.checkpoints.trained_generator import load_generator
from facegan.data.sources import find_images
from facegan.errors import ConfigError
from facegan.fileio import read_torch_file
from facegan.gan.schedule import batches_from_steps
from facegan.metrics import GeneratorEvaluator, MetricSettings, load_feature_extractor
from facegan.models import Generator
from facegan.runtime.devices import requested_processes, training_device_type


@dataclass
class RunResult:
    """One trained loop's scores: `loop` is a contender's name or "canonical"."""

    loop: str
    seed: int
    batches: int
    images_seen: int
    train_s: float
    fid: float
    kid: float
    kid_std: float
    precision: float
    recall: float
    memorization_ratio: float | None


def parse_budget(budget: str) -> float:
    """HH:MM:SS (or MM:SS, or seconds) -> seconds."""
    try:
        parts = [float(part) for part in str(budget).split(":")]
    except ValueError:
        parts = []
    if not 1 <= len(parts) <= 3 or any(part < 0 for part in parts) or sum(parts) == 0:
        raise ConfigError(f"budget={budget} is not a duration: give HH:MM:SS, e.g. budget=00:10:00")
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds


def split_folder(root: str, held_out: int, seed: int, workdir: Path) -> tuple[Path, Path, int]:
    """Links to the folder's images in two disjoint image folders, <workdir>/train/images and
    <workdir>/held_out/images (ImageFolder layout for the canonical loop); returns both roots and the
    training count."""
    source = find_images(root)
    if source.zip_path is not None:
        raise ConfigError(f"data.root={root} is a zip; mode=quality splits a folder: unzip it first")
    if not 0 < held_out < len(source):
        raise ConfigError(
            f"benchmark.held_out={held_out} must leave images to train on: data.root has {len(source)}, "
            f"e.g. benchmark.held_out={len(source) // 5}"
        )
    files = list(source.files)
    random.Random(seed).shuffle(files)
    roots = {"held_out": files[:held_out], "train": files[held_out:]}
    for name, names in roots.items():
        folder = workdir / name / "images"
        folder.mkdir(parents=True, exist_ok=True)
        for index, file in enumerate(sorted(names)):
            link = folder / f"{index:06d}{Path(file).suffix.lower()}"
            if not link.exists():
                link.symlink_to(Path(source.location).resolve() / file)
    return workdir / "train", workdir / "held_out", len(roots["train"])


def facegan_overrides() -> list[str]:
    """The benchmark's training overrides; the split's data.root, the run folders and metrics are its own."""
    return training_overrides("data.root=", "hydra.", "metrics.", "paths.")


def train_facegan(
    cfg: DictConfig, train_root: Path, seconds: float, seed: int, run_dir: Path, recipe: list[str]
) -> tuple[Path, int, int, float]:
    """facegan's train command with the contender's `recipe` for `seconds` of training; its last checkpoint, the
    batches and images it trained on, and its wall time (start-up included)."""
    hours, rest = divmod(int(round(seconds)), 3600)
    command = [
        *facegan_command("train"),
        *facegan_overrides(),
        *recipe,
        f"data.root={train_root}",
        f"seed={seed}",
        "trainer.max_epochs=1000000",
        f"trainer.max_time=00:{hours:02d}:{rest // 60:02d}:{rest % 60:02d}",
        "metrics.enabled=false",
        "trainer.enable_progress_bar=false",
        "~callbacks.rich_progress_bar",
        f"paths.cache_dir={cfg.paths.cache_dir}",
        f"hydra.run.dir={run_dir}",
    ]
    train_s = run_timed(command)
    checkpoint_path = run_dir / "checkpoints" / "last.ckpt"
    checkpoint = read_torch_file(checkpoint_path)
    composed = OmegaConf.load(run_dir / ".hydra" / "config.yaml")  # the recipe may change n_critic or the batch
    batches = batches_from_steps(checkpoint["global_step"], composed.loss.n_critic)
    global_batch = composed.data.batch_size * requested_processes(composed.trainer)  # batches are per process
    return checkpoint_path, batches, batches * global_batch, train_s


def train_canonical(cfg_dict: dict, train_root: str, seconds: float, seed: int, out: str) -> dict:
    """In a fresh process: the examples' loop until `seconds` have passed, its netG saved to `out`."""
    cfg = OmegaConf.create(cfg_dict)
    torch.manual_seed(seed)
    device = torch.device(training_device_type(cfg.trainer))
    loader = canonical.make_loader(
        train_root, cfg.model.image_size, canonical.EXAMPLES_BATCH_SIZE, cfg.data.num_workers
    )
    started = time.perf_counter()
    count = {"batches": 0}

    def out_of_time(batches: int) -> bool:
        count["batches"] = batches
        return time.perf_counter() - started >= seconds

    generator = canonical.train(
        loader, cfg.model.image_size, device, cfg.model.latent_dim, cfg.model.ngf, cfg.model.ndf,
        epochs=10**9, on_batch_end=out_of_time, quiet=True,
    )  # fmt: skip
    torch.save(generator.state_dict(), out)
    return {"batches": count["batches"], "train_s": time.perf_counter() - started}


class Judge:
    """Scores a trained generator: FID, KID, precision and recall against the held-out images, and the memorization
    ratio against the training images, its closest pairs drawn."""

    def __init__(self, evaluator: GeneratorEvaluator, training, device: torch.device):
        self.evaluator = evaluator
        self.device = device
        self.training = training  # the set-up datamodule of the training split
        self.training_features = evaluator.training_features(training, device)

    @torch.no_grad()
    def __call__(self, loop: str, seed: int, batches: int, images: int, train_s: float, net, latent_dim: int,
                 figure: Path) -> RunResult:  # fmt: skip
        def sample(z: torch.Tensor) -> torch.Tensor:
            return net(z.to(self.device))

        evaluator = self.evaluator
        fake = evaluator.generated_features(sample, latent_dim, self.device)
        scores = evaluator.score(fake)
        held_out = evaluator.scorer.real_features
        report = evaluator.memorization(
            fake, sample, latent_dim, self.training, self.training_features, figure, held_out=held_out
        )
        return RunResult(loop, seed, batches, images, train_s, scores.fid, scores.kid_mean, scores.kid_std,
                         scores.precision, scores.recall, report.ratio)  # fmt: skip


def progress(result: RunResult) -> None:
    """One line per trained loop while the benchmark goes on: a long run shows where it is."""
    ratio = format_ratio(result.memorization_ratio)
    print(f"{result.loop} seed {result.seed}: {result.batches:,} batches, FID {result.fid:.1f}, "
          f"KIDx1000 {result.kid * 1000:.1f}, precision {result.precision:.3f}, recall {result.recall:.3f}, "
          f"memorization ratio {ratio}", flush=True)  # fmt: skip


def run(cfg: DictConfig) -> None:
    bench = cfg.benchmark
    seconds = parse_budget(cfg.budget)
    if "root" not in cfg.data:
        raise ConfigError("mode=quality splits an image folder: use data=celeba data.root=<folder>")
    contenders = contender_overrides(OmegaConf.to_container(bench.contenders))
    settings: MetricSettings = hydra.utils.instantiate(cfg.metrics, enabled=True, num_samples=bench.num_samples)
    extractor = load_feature_extractor(settings)  # before any training: a missing extractor fails in one line
    device = torch.device(training_device_type(cfg.trainer))
    workdir = Path(cfg.paths.log_dir).resolve() / "benchmark" / "quality" / time.strftime("%Y-%m-%d_%H-%M-%S")
    train_root, held_out_root, train_count = split_folder(cfg.data.root, bench.held_out, bench.split_seed, workdir)

    def images_of(root: Path, count: int):
        images = hydra.utils.instantiate(
            cfg.data, root=str(root), batch_size=min(count, 100), cache=True, num_workers=0, flip=False
        )
        images.prepare_data()
        images.setup("fit")
        return images

    evaluator = GeneratorEvaluator(extractor, settings)
    evaluator.prepare(images_of(held_out_root, bench.held_out), device)
    judge = Judge(evaluator, images_of(train_root, train_count), device)

    results: list[RunResult] = []
    cfg_dict = OmegaConf.to_container(cfg, resolve=True)
    for seed in bench.seeds:
        for name, recipe in contenders.items():
            checkpoint, batches, images, train_s = train_facegan(
                cfg, train_root, seconds, seed, workdir / f"{name}-seed{seed}", recipe
            )
            generator, _ = load_generator(checkpoint, map_location=device)
            figure = workdir / f"{name}-seed{seed}-memorization.png"
            results.append(judge(name, seed, batches, images, train_s, generator, generator.latent_dim, figure))
            progress(results[-1])
        if not bench.canonical:
            continue
        weights = workdir / f"canonical-seed{seed}.pt"
        canonical_run = in_fresh_process(train_canonical, cfg_dict, str(train_root), seconds, seed, str(weights))
        net = Generator(cfg.model.latent_dim, cfg.model.image_size, cfg.model.ngf).to(device)
        net.load_state_dict(read_torch_file(weights, map_location=device))
        net.train()  # as the examples sample it: BatchNorm on each batch's own statistics
        images = canonical_run["batches"] * canonical.EXAMPLES_BATCH_SIZE
        figure = workdir / f"canonical-seed{seed}-memorization.png"
        results.append(
            judge("canonical", seed, canonical_run["batches"], images, canonical_run["train_s"], net,
                  cfg.model.latent_dim, figure)
        )  # fmt: skip
        progress(results[-1])
    report(cfg, results, contenders, train_count, workdir, device, extractor.name)


def format_ratio(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio:.2f}"


def report(
    cfg: DictConfig,
    results: list[RunResult],
    contenders: dict[str, list[str]],
    train_count: int,
    workdir: Path,
    device,
    extractor: str,
) -> None:
    bench = cfg.benchmark
    size = cfg.model.image_size
    protocol = {
        "device": str(device),
        "image_size": size,
        "budget": str(cfg.budget),
        "train_images": train_count,
        "held_out_images": bench.held_out,
        "split_seed": bench.split_seed,
        "num_fake": bench.num_samples,
        "num_real": min(bench.num_samples, bench.held_out),
        "extractor": extractor,
        "seeds": list(bench.seeds),
        "facegan_overrides": facegan_overrides(),
        "canonical_batch_size": canonical.EXAMPLES_BATCH_SIZE if bench.canonical else None,
        "contenders": contenders,
        "workdir": str(workdir),
    }
    print(
        f"Quality in {cfg.budget} of training per loop, {size}x{size}, device {device}: {protocol['num_fake']} "
        f"generated vs {protocol['num_real']} held-out real images ({bench.held_out} of the folder, split seed "
        f"{bench.split_seed}, never trained on; {train_count} train), extractor {extractor}"
    )
    for name, recipe in contenders.items():
        print(f"  {name}: scripts/train.py {' '.join([*facegan_overrides(), *recipe])}")
    width = max(10, *(len(name) for name in contenders))
    print(
        f"  {'loop':<{width}} {'seed':>5} {'batches':>8} {'images':>9} {'train s':>8} {'FID':>8} {'KIDx1000':>9} "
        f"{'precision':>9} {'recall':>7} {'memo':>5}"
    )
    for result in results:
        print(
            f"  {result.loop:<{width}} {result.seed:>5} {result.batches:>8,} {result.images_seen:>9,} "
            f"{result.train_s:>8.0f} {result.fid:>8.1f} {result.kid * 1000:>9.1f} {result.precision:>9.3f} "
            f"{result.recall:>7.3f} {format_ratio(result.memorization_ratio):>5}"
        )
    means = {}
    for loop in dict.fromkeys(result.loop for result in results):
        runs = [result for result in results if result.loop == loop]
        kids = [result.kid for result in runs]
        spread = statistics.stdev(kids) * 1000 if len(kids) > 1 else 0.0
        ratios = [result.memorization_ratio for result in runs if result.memorization_ratio is not None]
        means[loop] = {
            "fid": statistics.mean(result.fid for result in runs),
            "kid": statistics.mean(kids),
            "kid_x1000_stdev": spread,
            "precision": statistics.mean(result.precision for result in runs),
            "recall": statistics.mean(result.recall for result in runs),
            "memorization_ratio": statistics.mean(ratios) if ratios else None,
        }
        mean = means[loop]
        print(
            f"  {loop:<{width}} {'mean':>5} {'':>8} {'':>9} {'':>8} {mean['fid']:>8.1f} {mean['kid'] * 1000:>9.1f} "
            f"{mean['precision']:>9.3f} {mean['recall']:>7.3f} {format_ratio(mean['memorization_ratio']):>5} "
            f"(KID +-{spread:.1f} over seeds)"
        )
    first = next(iter(contenders))
    ratios = {}
    for loop in means:
        if "canonical" in means and loop != "canonical":
            ratios[f"{loop}/canonical"] = means[loop]["kid"] / means["canonical"]["kid"]
        if loop not in (first, "canonical"):
            ratios[f"{loop}/{first}"] = means[loop]["kid"] / means[first]["kid"]
    for pair, ratio in ratios.items():
        print(f"  KID {pair}: {ratio:.2f}")
    summary = {
        "benchmark": "quality",
        **protocol,
        "runs": [asdict(result) for result in results],
        "mean": means,
        "kid_ratios": {pair: round(ratio, 3) for pair, ratio in ratios.items()},
    }
    (workdir / "quality.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary))
