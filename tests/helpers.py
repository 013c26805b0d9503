"""What the tests share: the tiny-run preset, image folders made on the fly, a runner for the real CLI, the
composed config, TensorBoard's tags, a tiny GAN module, a free loopback port, and a tiny deterministic feature
extractor for FID/KID."""

import functools
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from facegan.gan.divergence import DivergenceMonitor
from facegan.gan.losses import BCELoss
from facegan.gan.module import GAN
from facegan.models import Discriminator, Generator

REPO_ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = str(REPO_ROOT / "conf")
# Real CelebA faces for the tests that need them (a folder in CelebA's layout), else those tests are skipped.
REAL_FACES_VARIABLE = "FACEGAN_TEST_FACES"
REAL_FACES = Path(os.environ.get(REAL_FACES_VARIABLE, "/nonexistent")).expanduser()
NEEDS_REAL_FACES = f"needs real CelebA faces: set {REAL_FACES_VARIABLE} to a folder of them"

# The smallest real run (conf/debug/tiny.yaml): 64 synthetic faces, 8-wide 32x32 networks, 2 epochs.
# Tests add only the overrides they are about.
TINY = ("debug=tiny",)


def tiny_on_folder(root: str | Path) -> tuple[str, ...]:
    """The tiny run on an image folder (CelebA layout) instead of the synthetic faces."""
    return (*TINY, "data=celeba", f"data.root={root}", "~data.num_images")


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


def run_cli(
    script: str, *overrides: str, timeout: int = 300, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run scripts/<script> in a subprocess from the repo root, as a user would (in `env` when given)."""
    env = {**(env or os.environ), "PYTHONUNBUFFERED": "1", "HYDRA_FULL_ERROR": "1"}
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


def compose_config(name: str, *overrides: str, return_hydra_config: bool = False):
    """A config of conf/ (sample, export, evaluate, ...) composed as its script would (with its `hydra` node
    when `return_hydra_config`)."""
    from hydra import compose, initialize_config_dir

    from facegan import runtime

    runtime.register()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name=name, overrides=list(overrides), return_hydra_config=return_hydra_config)


def compose_train(*overrides: str, output_dir: str | Path = "/tmp/facegan-test-compose"):
    """The real train.yaml composed as the CLI would, with the run folder Hydra would have made."""
    from hydra import compose, initialize_config_dir
    from omegaconf import open_dict

    from facegan import runtime

    runtime.register()  # as scripts/train.py does before Hydra composes

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)  # ${hydra:runtime.output_dir} needs a live Hydra run
    return cfg


@functools.cache
def configured_data_settings(source: str) -> dict:
    """conf/data/<source>.yaml as train.yaml composes it for the 64x64 model (batch 128)."""
    from omegaconf import OmegaConf

    cfg = compose_train(f"data={source}", "model=dcgan64")
    return OmegaConf.to_container(cfg.data, resolve=True)


def build_configured(node: dict, **overrides):
    """The object of a config node (its `_target_` called with its values), `overrides` replacing some of them."""
    from hydra.utils import get_object

    settings = {**node, **overrides}
    return get_object(settings.pop("_target_"))(**settings)


def celeba_data(root: str, image_size: int, **settings):
    """A CelebADataModule with the configured settings, `settings` overriding them, as `data.*=` overrides would."""
    return build_configured(configured_data_settings("celeba"), root=root, image_size=image_size, **settings)


def synthetic_data(image_size: int, **settings):
    """A SyntheticDataModule with the configured settings, `settings` overriding them."""
    return build_configured(configured_data_settings("synthetic"), image_size=image_size, **settings)


def metric_settings(**overrides):
    """MetricSettings of conf/metrics/default.yaml, `overrides` replacing fields as `metrics.*=` overrides would."""
    from omegaconf import OmegaConf

    return build_configured(OmegaConf.to_container(compose_train("data=synthetic").metrics, resolve=True), **overrides)


class TinyConvNet(nn.Module):
    """(N, 3, H, W) in [-1, 1] -> (N, 16): fixed random weights, the same on every machine."""

    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(3, 8, 4, 2, 1),
            nn.ReLU(),
            nn.Conv2d(8, 16, 4, 2, 1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        weights = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=weights) * 0.5)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.layers(images)


def save_tiny_extractor(folder: Path) -> Path:
    """The tiny network as a TorchScript file, for metrics.feature_extractor in CLI runs."""
    path = folder / "tiny_extractor.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # recent torch marks TorchScript deprecated
        torch.jit.save(torch.jit.script(TinyConvNet().eval()), str(path))
    return path


def metrics_overrides(tmp_path: Path, num_samples: int = 64) -> tuple[str, ...]:
    return (
        "metrics.enabled=true",
        f"metrics.feature_extractor={save_tiny_extractor(tmp_path)}",
        f"metrics.num_samples={num_samples}",
        f"paths.cache_dir={tmp_path / 'cache'}",
    )


def tiny_gan(num_sample_images: int = 6) -> GAN:
    """A GAN module of 4-wide 16x16 networks with BCE, for fits on a handful of random images."""
    return GAN(
        generator=Generator(latent_dim=8, image_size=16, base_channels=4),
        discriminator=Discriminator(image_size=16, base_channels=4),
        loss=BCELoss(),
        generator_optimizer=lambda params: torch.optim.Adam(params, lr=2e-4),
        discriminator_optimizer=lambda params: torch.optim.Adam(params, lr=2e-4),
        num_sample_images=num_sample_images,
        seed=0,
        divergence=DivergenceMonitor(on_nonfinite="stop", check_every_n_batches=20),
    )


def free_port() -> int:
    """A loopback port nobody listens on (for a server or a process group the test starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# A run that trains far longer than any test waits: the tests stop it.
LONG_RUN = (*TINY, "data.num_images=4096", "data.batch_size=32", "trainer.max_epochs=50")


def start_training(run_dir: Path, *overrides: str, ready: Callable[[], bool] | None = None) -> subprocess.Popen:
    """A long train.py in its own process group (as a terminal runs it), its log and Lightning's in one pipe (little
    is written before the signal, so the pipe never fills), returned once `ready()` holds: by default once it has
    trained a batch (rank 0 writes samples/real.png after the first)."""
    script = str(REPO_ROOT / "scripts" / "train.py")
    command = [sys.executable, script, *LONG_RUN, *overrides, f"hydra.run.dir={run_dir}"]
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    ready = ready or (run_dir / "samples" / "real.png").exists
    deadline = time.time() + 300
    while not ready():
        assert process.poll() is None, process.stdout.read()[-3000:]
        assert time.time() < deadline, "training did not start"
        time.sleep(0.2)
    return process


def rank_process(parent: int, local_rank: int) -> int:
    """The pid of the training process Lightning started for `local_rank` (a child of rank 0)."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    for child in children:
        environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        if f"LOCAL_RANK={local_rank}".encode() in environ:
            return int(child)
    raise AssertionError(f"no process with LOCAL_RANK={local_rank} among {children}")


def finish(process: subprocess.Popen) -> str:
    """Everything the run printed, once it has ended; kills its group if it does not end."""
    try:
        output, _ = process.communicate(timeout=180)  # a process left in a collective would hang here
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    return output


def saved_step(run_dir: Path) -> int:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu")["global_step"]
