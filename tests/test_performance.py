"""The speed knobs resolve to concrete settings for the device, refuse impossible values in one line, and reach
the networks."""

import pytest
import torch
from torch import nn

from conftest import compose_train
from facegan.errors import ConfigError
from facegan.performance import cpu_has_native_bf16, resolve_performance
from facegan.train import build_module

CPU = ("data=synthetic", "trainer=cpu")


def test_auto_on_the_cpu():
    settings = resolve_performance(compose_train(*CPU))
    assert settings.device_type == "cpu"
    assert settings.precision == ("bf16-mixed" if cpu_has_native_bf16() else "32-true")
    assert settings.channels_last and not settings.compile and not settings.fused_adam
    assert settings.compile_mode == "default"


def test_fp32_preset_is_the_plain_reference():
    settings = resolve_performance(compose_train(*CPU, "performance=fp32"))
    assert (settings.precision, settings.channels_last, settings.compile, settings.fused_adam) == ("32-true", False, False, False)


@pytest.mark.parametrize(
    "override,message",
    [
        ("performance.fused_adam=true", "performance.fused_adam=true needs a CUDA device"),
        ("performance.channels_last=maybe", "performance.channels_last=maybe must be auto, true or false"),
        ("performance.compile_mode=fast", "performance.compile_mode=fast is not one of torch.compile's modes"),
    ],
)
def test_impossible_values_are_config_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        resolve_performance(compose_train(*CPU, override))


def test_compile_mode_reaches_both_networks(monkeypatch):
    modes = []
    monkeypatch.setattr(nn.Module, "compile", lambda self, **kwargs: modes.append(kwargs["mode"]))
    build_module(compose_train(*CPU, "performance.compile=true", "performance.compile_mode=reduce-overhead"))
    assert modes == ["reduce-overhead", "reduce-overhead"]  # G and D


def test_channels_last_converts_the_weights():
    module = build_module(compose_train(*CPU, "model=dcgan32", "performance.channels_last=true"))
    conv = next(m for m in module.discriminator.modules() if isinstance(m, nn.Conv2d) and m.in_channels > 3)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
