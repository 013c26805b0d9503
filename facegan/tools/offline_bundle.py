"""`build_offline_bundle(cfg, image_size)` (make offline-bundle): one folder with everything `make gpu-check` needs on
a GPU machine without network (a rented box, an air-gapped cluster node) that the checkout does not hold:

  wheels/                  the pure-Python packages the scripts import that a bare PyTorch machine lacks (hydra-core,
                           omegaconf, antlr4-python3-runtime), installed there with pip --no-index
  data/img_align_celeba/   data_root's images, square-cropped as facegan crops them and re-encoded as JPEGs at the
                           largest size the check trains (bundle.resize=false: copied as they are)
  <extractor>-fp16.pt      feature_extractor with its weights stored in fp16 (it computes in fp32), unless it is over
                           bundle.limit_mib: then the check saves its quality run's generators and `score_from=` scores
                           them later
  bundle.json              what it holds, and the checkout's size when it was made

bundle.limit_mib, when set, caps what the checkout's git-tracked files and the bundle weigh together (for a way to the
GPU machine that limits what it carries): the Inception is left out first, then the bundle is refused.
It prints the command that runs the check on the GPU machine, and the one that scores its results afterwards.
"""

import json
import os
import shlex
import shutil
import subprocess
import sys
import warnings
from importlib.metadata import version
from pathlib import Path

import torch
from omegaconf import DictConfig
from PIL import Image

from facegan.benchmarks.processes import REPO_ROOT
from facegan.data.decoding import BadImageError, ImageFilesDataset
from facegan.data.sources import find_images
from facegan.errors import ConfigError
from facegan.fileio import partial_path

MIB = 2**20
MANIFEST = "bundle.json"
IMAGES = Path("data") / "img_align_celeba"
# What the scripts import that a bare PyTorch machine lacks (pure Python: any platform).
OFFLINE_PACKAGES = ("hydra-core", "omegaconf", "antlr4-python3-runtime")
# High enough that re-encoding adds little loss to the resize, which already decides the pixels.
JPEG_QUALITY = 95


def download_wheels(folder: Path) -> list[str]:
    pins = [f"{name}=={version(name)}" for name in OFFLINE_PACKAGES]  # the versions this checkout runs with
    # pip wheel, not download: antlr4-python3-runtime 4.9 (omegaconf's pin) is published as a source archive only.
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(folder), *pins]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise ConfigError(
            f"pip could not download {' '.join(pins)} ({result.stderr.strip()[-300:]}): check the network, "
            "or give bundle.wheels=false when the GPU machine has them"
        )
    return sorted(path.name for path in folder.glob("*.whl"))


def half_weights_copy(source: Path, target: Path) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.*deprecated", category=FutureWarning)
        network = torch.jit.load(str(source), map_location="cpu")
        network.half()
        torch.jit.save(network, str(target))


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def checkout_bytes() -> int:
    """What the checkout weighs: its git-tracked files (the bundle goes beside them)."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        raise ConfigError(
            f"{REPO_ROOT} is not a git checkout: an offline bundle goes beside the checkout that runs make gpu-check, "
            "so make it from a clone of facegan"
        ) from None
    files = [REPO_ROOT / name for name in listed.decode().split("\0") if name]
    return sum(path.stat().st_size for path in files if path.is_file())


def copy_images(data_root: str, target: Path, image_size: int | None) -> tuple[int, int]:
    """data_root's images into `target`, re-encoded at `image_size` (None: the files as they are); how many were
    copied and how many skipped as unreadable (the prepared cache would skip them too)."""
    source = find_images(data_root)
    target.mkdir(parents=True)
    if image_size is None:
        if source.zip_path is not None:
            raise ConfigError(f"data_root={data_root} is a zip: bundle.resize=false copies a folder, so unzip it first")
        for name in source.files:
            shutil.copyfile(source.location / name, target / Path(name).name)
        return len(source.files), 0
    images = ImageFilesDataset(source, image_size)
    skipped = 0
    for index, name in enumerate(source.files):
        try:
            pixels = images.load_uint8(index)  # (S, S, 3): the center square facegan would crop, at the check's size
        except BadImageError:
            skipped += 1
            continue
        Image.fromarray(pixels).save(target / f"{Path(name).stem}.jpg", quality=JPEG_QUALITY)
    return len(source.files) - skipped, skipped


def bundle_of(data_root: str | None) -> tuple[Path, dict] | None:
    """The offline bundle whose data folder data_root is, and its manifest; None for any other folder."""
    if data_root is None:
        return None
    folder = Path(data_root).expanduser().resolve().parent
    try:
        return folder, json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def gpu_command(bundle: str, wheels: bool, overrides: list[str]) -> str:
    """The shell command that runs the check on the GPU machine, from the repository root, with the bundle at
    `bundle` (as given here: relative to the repository root, or absolute)."""
    check = f"make gpu-check PY=python3 ARGS={shlex.quote(' '.join(overrides))}"
    if not wheels:
        return f"PYTHONPATH=$PWD {check}"
    site = f"{bundle}/site"  # the wheels installed into a folder of the bundle: nothing else on the machine changes
    on_path = site if Path(bundle).is_absolute() else f"$PWD/{site}"
    return (
        f"python3 -m pip install -q --no-index --no-deps --target {site} {bundle}/wheels/*.whl && "
        f"PYTHONPATH={on_path}:$PWD {check}"
    )


def score_command(results_dir: str, data_root: str, feature_extractor: str | None) -> str:
    extractor = Path(feature_extractor).expanduser().resolve() if feature_extractor else "<TorchScript Inception .pt>"
    return (
        f"python scripts/gpu_check.py score_from={results_dir} data_root={Path(data_root).expanduser().resolve()} "
        f"feature_extractor={extractor}"
    )


def check_target(target: Path, given: str) -> None:
    """bundle_to is new, or an earlier bundle (replaced): never a folder of anything else."""
    if target.exists() and not (target / MANIFEST).is_file():
        raise ConfigError(f"bundle_to={given} exists and is not an offline bundle: give a new folder")


def build_offline_bundle(cfg: DictConfig, image_size: int) -> Path:
    given = str(cfg.bundle_to)
    target = Path(given).expanduser().resolve()
    check_target(target, given)
    checkout = checkout_bytes()
    limit = None if cfg.bundle.limit_mib is None else cfg.bundle.limit_mib * MIB
    partial = partial_path(target)
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        wheels = download_wheels(partial / "wheels") if cfg.bundle.wheels else []
        size = image_size if cfg.bundle.resize else None
        copied, skipped = copy_images(cfg.data_root, partial / IMAGES, size)
        extractor, left_out = None, None
        if cfg.feature_extractor is not None:
            source = Path(cfg.feature_extractor).expanduser()
            copy = partial / f"{source.stem}-fp16.pt"
            half_weights_copy(source, copy)
            if limit is not None and checkout + folder_bytes(partial) > limit:
                left_out = copy.stat().st_size
                copy.unlink()
            else:
                extractor = copy.name
        manifest = {
            "images": copied, "image_size": size, "wheels": wheels, "feature_extractor": extractor,
            "checkout_bytes": checkout, "limit_mib": cfg.bundle.limit_mib,
        }  # fmt: skip
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        bundle = folder_bytes(partial)
        if limit is not None and checkout + bundle > limit:
            fewer = "give a data_root with fewer images" + (
                "" if cfg.bundle.resize else ", or drop bundle.resize=false"
            )
            raise ConfigError(
                f"the checkout ({checkout / MIB:.1f} MiB) and the bundle ({bundle / MIB:.1f} MiB) weigh "
                f"{(checkout + bundle) / MIB:.1f} MiB, over bundle.limit_mib={cfg.bundle.limit_mib}: {fewer}"
            )
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    shutil.rmtree(target, ignore_errors=True)  # an earlier bundle (check_target)
    os.replace(partial, target)

    at = f"at {size} px" if size else "as they are"
    skips = f", {skipped} unreadable left out" if skipped else ""
    of_limit = "" if limit is None else f" of bundle.limit_mib={cfg.bundle.limit_mib}"
    print(
        f"Offline bundle {given}: {bundle / MIB:.1f} MiB ({copied:,} images {at}{skips}; {len(wheels)} wheels; "
        f"{extractor or 'no feature extractor'}). With the checkout ({checkout / MIB:.1f} MiB): "
        f"{(checkout + bundle) / MIB:.1f} MiB{of_limit}."
    )
    if left_out is not None:
        print(
            f"feature_extractor left out: with its fp16 copy ({left_out / MIB:.1f} MiB) the bundle is over "
            f"bundle.limit_mib={cfg.bundle.limit_mib}. The check saves its quality run's generators instead, scored "
            "afterwards (below)."
        )
    overrides = [f"data_root={given}/{IMAGES.parent}", f"results_dir={cfg.results_dir}"]
    if extractor:
        overrides.append(f"feature_extractor={given}/{extractor}")
    print("On the GPU machine, from the repository root, with the checkout and this folder copied there:")
    print(f"  {gpu_command(given, bool(wheels), overrides)}")
    if extractor:
        print(f"Its results: {cfg.results_dir}.")
    else:
        print(f"Then copy {cfg.results_dir} back to the same place here, and score its quality run:")
        print(f"  {score_command(cfg.results_dir, cfg.data_root, cfg.feature_extractor)}")
    return target
