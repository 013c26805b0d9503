"""The code paths that only run on CUDA: compiled networks (CUDA graphs too), fused Adam, bf16 autocast, batches
resident on the GPU, gan_ddp over NCCL. Skipped without a GPU; `make gpu-check` runs them (marker `cuda`)."""

import json

import pytest
import torch

from facegan.checkpoints.io import read_checkpoint
from helpers import TINY, run_cli, synthetic_data, write_faces

pytestmark = [pytest.mark.cuda, pytest.mark.slow]

ON_GPU = (*TINY, "trainer=gpu", "data.num_images=128", "data.batch_size=32", "metrics.enabled=false")


def speed_settings(log: str) -> str:
    (line,) = [line for line in log.splitlines() if "Speed settings:" in line]
    return line


# reduce-overhead: torch.compile and CUDA graphs at once; the speed table of make gpu-check compiles every mode.
@pytest.mark.parametrize("compile_mode", ["reduce-overhead"])
def test_compiled_bf16_run_with_fused_adam_trains_saves_and_resumes(tmp_path, compile_mode):
    run_dir = tmp_path / "run"
    first = run_cli(
        "train.py", *ON_GPU, "performance.compile=true", f"performance.compile_mode={compile_mode}",
        f"hydra.run.dir={run_dir}", timeout=600,
    )  # fmt: skip
    settings = speed_settings(first.stdout + first.stderr)
    assert "bf16-mixed" in settings and "fused_adam=True" in settings and "compile=True" in settings
    checkpoint = read_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    assert checkpoint["global_step"] > 0
    weights = checkpoint["state_dict"]
    assert not any("_orig_mod" in key for key in weights)  # compiled in place: eager keys, loadable anywhere
    assert all(torch.isfinite(tensor).all() for tensor in weights.values() if tensor.is_floating_point())

    # ckpt_path=last with the run's own hydra.run.dir goes on in place, from that run's last.ckpt (a fresh run would
    # be refused there): one more epoch of the same length on top of the first two.
    run_cli(
        "train.py", *ON_GPU, "performance.compile=true", f"performance.compile_mode={compile_mode}",
        "trainer.max_epochs=3", "ckpt_path=last", f"hydra.run.dir={run_dir}", timeout=600,
    )  # fmt: skip
    resumed = read_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    assert resumed["global_step"] == checkpoint["global_step"] // 2 * 3


def test_gpu_checkpoint_samples_on_the_cpu(tmp_path):
    run_dir = tmp_path / "run"
    run_cli("train.py", *ON_GPU, f"hydra.run.dir={run_dir}", timeout=600)
    out = tmp_path / "samples"
    run_cli("sample.py", f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}", "device=cpu", f"outdir={out}")
    assert len(list(out.glob("*.png"))) > 0


def test_gan_ddp_over_nccl_on_one_gpu(tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli(
        "train.py", *ON_GPU, "trainer.strategy=gan_ddp", "trainer.devices=1", f"hydra.run.dir={run_dir}", timeout=600
    )
    assert result.returncode == 0
    assert read_checkpoint(run_dir / "checkpoints" / "last.ckpt")["global_step"] > 0


def test_cached_images_move_to_the_gpu_once_and_batches_come_from_there(tmp_path):
    datamodule = synthetic_data(image_size=32, num_images=96, batch_size=32, cache_dir=str(tmp_path))
    datamodule.prepare_data()
    datamodule.setup("fit")
    gpu = torch.device("cuda", 0)
    batches = list(datamodule.epoch_batches(gpu))
    assert len(batches) == 3 and all(batch.device == gpu and batch.shape == (32, 3, 32, 32) for batch in batches)
    assert datamodule._placed.device == gpu  # resident: the dataset fits in GPU memory
    assert all(batch.min() >= -1 and batch.max() <= 1 for batch in batches)


def test_benchmark_times_both_loops_on_the_gpu(tmp_path):
    write_faces(tmp_path / "faces" / "img_align_celeba", 64)
    result = run_cli(
        "benchmark.py", f"data.root={tmp_path / 'faces'}", f"paths.cache_dir={tmp_path / 'cache'}", "trainer=gpu",
        "benchmark.batches=5", "benchmark.warmup_batches=2", "data.batch_size=16", timeout=600,
    )  # fmt: skip
    summary = json.loads([line for line in result.stdout.splitlines() if line.startswith("{")][-1])
    assert summary["device"].startswith("cuda") and summary["facegan_img_per_s"] > 0
