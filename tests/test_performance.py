"""The speed knobs resolve to concrete settings for the device, refuse impossible values in one line, and reach
the networks."""

import traceback
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from torch import nn

import facegan.assembly
import facegan.train
from facegan.assembly import build_module, instantiate_all
from facegan.errors import ConfigError
from facegan.runtime.performance import cpu_has_native_bf16, resolve_performance
from helpers import compose_train

CPU = ("data=synthetic", "trainer=cpu")


def test_auto_on_the_cpu():
    settings = resolve_performance(compose_train(*CPU))
    assert settings.device_type == "cpu"
    assert settings.precision == ("bf16-mixed" if cpu_has_native_bf16() else "32-true")
    assert settings.channels_last and not settings.compile and settings.fused_adam  # torch >= 2.4 on the CPU
    assert settings.compile_mode == "default"


def test_fused_adam_reaches_both_optimizers_and_steps_like_the_foreach_one():
    fused = build_module(compose_train(*CPU, "model=dcgan32"))
    plain = build_module(compose_train(*CPU, "model=dcgan32", "performance.fused_adam=false"))
    plain.load_state_dict(fused.state_dict())
    results = []
    for module in (fused, plain):
        optimizers = module.configure_optimizers()
        results.append([optimizer.defaults["fused"] for optimizer in optimizers])
        torch.manual_seed(0)
        for parameter in module.generator.parameters():
            parameter.grad = torch.randn_like(parameter)
        for _ in range(3):
            optimizers[0].step()
    assert results == [[True, True], [None, None]]
    for after_fused, after_plain in zip(fused.generator.parameters(), plain.generator.parameters()):
        torch.testing.assert_close(after_fused, after_plain)


def test_an_optimizer_without_a_fused_kernel_gets_its_defaults():
    rmsprop = ("optimizer.generator._target_=torch.optim.RMSprop", "~optimizer.generator.betas")
    module = build_module(compose_train(*CPU, *rmsprop))
    generator_optimizer, discriminator_optimizer = module.configure_optimizers()
    assert isinstance(generator_optimizer, torch.optim.RMSprop) and "fused" not in generator_optimizer.defaults
    assert discriminator_optimizer.defaults["fused"] is True


def test_fused_adam_needs_torch_2_4_on_the_cpu(monkeypatch):
    monkeypatch.setattr(torch, "__version__", "2.3.1+cpu")
    assert not resolve_performance(compose_train(*CPU)).fused_adam
    message = r"performance.fused_adam=true needs CUDA or torch>=2.4 on the CPU \(this is torch 2.3.1\+cpu\)"
    with pytest.raises(ConfigError, match=message):
        resolve_performance(compose_train(*CPU, "performance.fused_adam=true"))


def test_fp32_preset_is_the_plain_reference():
    settings = resolve_performance(compose_train(*CPU, "performance=fp32"))
    assert (settings.precision, settings.channels_last, settings.compile, settings.fused_adam) == (
        "32-true",
        False,
        False,
        False,
    )


@pytest.mark.parametrize(
    "override,message",
    [
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


class _HostSyncCounter(pl.Callback):
    """Counts Tensor.item() calls per batch, leaving out torch.optim's: Adam reads its step counters, which
    live on the CPU (a GPU run's fused Adam keeps them on the device), so they never wait for the GPU."""

    def __init__(self):
        self.per_batch: list[int] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.per_batch.append(0)

    def count(self) -> None:
        caller = traceback.extract_stack(limit=3)[0]  # the frame that called .item()
        if self.per_batch and "torch/optim/" not in Path(caller.filename).as_posix():
            self.per_batch[-1] += 1


@pytest.mark.slow
def test_training_reads_values_back_only_at_the_log_interval(tmp_path, monkeypatch):
    """A `.item()` per batch would stall a GPU every step; logging and the progress bar read values only
    every trainer.log_every_n_steps batches."""
    counter = _HostSyncCounter()
    original_item = torch.Tensor.item

    def counted_item(tensor):
        counter.count()
        return original_item(tensor)

    def callbacks_and_counter(group):
        built = instantiate_all(group)
        return [*built, counter] if any(isinstance(item, pl.Callback) for item in built) else built

    monkeypatch.setattr(torch.Tensor, "item", counted_item)
    monkeypatch.setattr(facegan.assembly, "instantiate_all", callbacks_and_counter)
    cfg = compose_train(
        *CPU, "model=dcgan32", "model.ngf=8", "model.ndf=8", "data.num_images=640", "data.batch_size=16",
        "trainer.max_epochs=1", "trainer.log_every_n_steps=10", output_dir=tmp_path,
    )  # fmt: skip
    facegan.train.train(cfg)
    assert len(counter.per_batch) == 40
    batches_that_read = [index for index, calls in enumerate(counter.per_batch) if calls]
    assert len(batches_that_read) <= 40 // 10 + 1, batches_that_read  # the log intervals and the epoch's end
