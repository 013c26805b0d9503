"""Resolve the speed knobs (`performance.*`) to concrete settings for the device.

`auto` means the fastest setting that keeps results equivalent on that device (docs/BENCHMARKS.md has the
measurements): channels_last, bf16 autocast on CPUs with native bf16 (AVX512-BF16/AMX) and on GPUs' tensor
cores, fused Adam where torch has it.
"""

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from omegaconf import DictConfig

from facegan.errors import ConfigError
from facegan.runtime.devices import training_device_type


@dataclass(frozen=True)
class PerformanceSettings:
    device_type: str  # "cuda" or "cpu"
    precision: str  # a Lightning precision string
    channels_last: bool
    compile: bool
    compile_mode: str  # torch.compile's mode; reduce-overhead adds CUDA graphs
    fused_adam: bool


# torch.compile's modes: "reduce-overhead" replays CUDA graphs (one launch for all of a network's kernels),
# which pays where small networks leave the GPU waiting on kernel launches.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX: without them bf16 autocast on CPU is emulated and slower than fp32."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        return False
    flags = cpuinfo.read_text()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _auto_precision(device_type: str) -> str:
    if device_type == "cuda":
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "bf16-mixed" if cpu_has_native_bf16() else "32-true"


def fused_adam_supported(device_type: str) -> bool:
    """Adam's fused kernel (one kernel for every parameter's update) exists for CUDA, and for the CPU since
    torch 2.4."""
    if device_type == "cuda":
        return True
    major, minor = (int(part) for part in torch.__version__.split(".")[:2])
    return (major, minor) >= (2, 4)


def _flag(name: str, value, auto_value: bool) -> bool:
    if value == "auto":
        return auto_value
    if isinstance(value, bool):
        return value
    raise ConfigError(f"performance.{name}={value} must be auto, true or false")


def resolve_performance(cfg: DictConfig) -> PerformanceSettings:
    device_type = training_device_type(cfg.trainer)
    on_cuda = device_type == "cuda"
    performance = cfg.performance  # conf/performance/default.yaml
    precision = str(performance.precision)
    if precision == "auto":
        precision = _auto_precision(device_type)
    fused_supported = fused_adam_supported(device_type)
    fused_adam = _flag("fused_adam", performance.fused_adam, fused_supported)
    if fused_adam and not fused_supported:
        raise ConfigError(
            f"performance.fused_adam=true needs CUDA or torch>=2.4 on the CPU (this is torch {torch.__version__}): "
            "use performance.fused_adam=auto"
        )
    compile_mode = str(performance.compile_mode)
    if compile_mode not in COMPILE_MODES:
        raise ConfigError(
            f"performance.compile_mode={compile_mode} is not one of torch.compile's modes: "
            f"use one of {', '.join(COMPILE_MODES)}"
        )
    return PerformanceSettings(
        device_type=device_type,
        precision=precision,
        channels_last=_flag("channels_last", performance.channels_last, True),
        compile=_flag("compile", performance.compile, on_cuda),
        compile_mode=compile_mode,
        fused_adam=fused_adam,
    )
