"""Beyond one process: the submitit launchers (a local sweep, a SLURM submission without a cluster), SLURM ranks
in Lightning, 2-process CPU runs under torchrun (one run folder; a restart resumes there), and requeued runs
resuming from their own checkpoint."""

import os
import subprocess
import sys
from pathlib import Path

import hydra
import pytest
import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.environments import SLURMEnvironment
from omegaconf import OmegaConf

from facegan.assembly import trainer_overrides
from facegan.checkpoints.resume import own_checkpoint_after_restart
from facegan.config_checks import check_config
from facegan.errors import ConfigError
from facegan.runtime.distributed import follow_launcher_layout, new_folder, run_folder, shared_run_name
from facegan.runtime.strategy import GANDDPStrategy
from facegan.train import train
from helpers import REPO_ROOT, TINY, compose_train, run_cli

# 96 images: each of 2 processes trains on 3 batches of 16
SCALING_RUN = (*TINY, "data.num_images=96", "trainer.limit_train_batches=3")
ONE_EPOCH = (*SCALING_RUN, "trainer.max_epochs=1")
TORCHRUN_VARIABLES = ("RANK", "LOCAL_RANK", "GROUP_RANK", "LOCAL_WORLD_SIZE", "WORLD_SIZE", "TORCHELASTIC_RUN_ID")
TIMESTAMP = "2024-01-01_00-00-00"


@pytest.fixture
def no_launcher(monkeypatch):
    """A process started on its own, whatever shell runs the tests (an sbatch job, a torchrun)."""
    for name in [*TORCHRUN_VARIABLES, *(name for name in os.environ if name.startswith(("SLURM_", "TORCHELASTIC_")))]:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def srun_task(monkeypatch, rank: int, nodes: int = 2, tasks_per_node: int = 2, job_id: str = "4242") -> None:
    """The environment srun gives task `rank` of a job step (what each process of hydra/launcher=slurm sees)."""
    for name, value in {
        "SLURM_JOB_ID": job_id,
        "SLURM_JOB_NAME": "train",
        "SLURM_STEP_ID": "0",
        "SLURM_NODELIST": "node[01-02]",
        "SLURM_NNODES": nodes,
        "SLURM_NTASKS": nodes * tasks_per_node,
        "SLURM_NTASKS_PER_NODE": tasks_per_node,
        "SLURM_PROCID": rank,
        "SLURM_LOCALID": rank % tasks_per_node,
        "SLURM_NODEID": rank // tasks_per_node,
    }.items():
        monkeypatch.setenv(name, str(value))


def torchrun_task(monkeypatch, rank: int, run_id: str) -> None:
    """The environment torchrun gives process `rank` of 2 on one node."""
    for name, value in {
        "RANK": rank,
        "LOCAL_RANK": rank,
        "GROUP_RANK": 0,
        "LOCAL_WORLD_SIZE": 2,
        "WORLD_SIZE": 2,
        "TORCHELASTIC_RUN_ID": run_id,
    }.items():
        monkeypatch.setenv(name, str(value))


def torchrun(*arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`torchrun --standalone --nproc-per-node 2 ...` from the repo root, as a user would type it."""
    command = [str(Path(sys.executable).with_name("torchrun")), "--standalone", "--nproc-per-node", "2", *arguments]
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


@pytest.mark.slow
@pytest.mark.long
def test_local_launcher_runs_each_sweep_point_as_a_job_in_one_sweep_folder(tmp_path):
    run_cli("train.py", "-m", "hydra/launcher=local", *ONE_EPOCH, "loss=bce,lsgan", f"paths.log_dir={tmp_path}")
    sweeps = list((tmp_path / "train" / "multiruns").iterdir())
    assert len(sweeps) == 1, sweeps  # the jobs, seconds later, reuse the timestamp the submitting process chose
    sweep = sweeps[0]
    assert len(list((sweep / ".submitit").glob("*/*_submitted.pkl"))) == 2  # one submitit job per point
    for job, loss in (("0", "bce"), ("1", "lsgan")):
        assert f"loss={loss}" in (sweep / job / ".hydra" / "overrides.yaml").read_text()
        assert load(sweep / job / "checkpoints" / "last.ckpt")["global_step"] == 3 * 2
    assert (sweep / "sweep_summary.json").is_file()


@pytest.mark.slow
@pytest.mark.long
def test_slurm_launcher_submits_one_job_per_point_with_the_configured_resources(tmp_path):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    submitted = tmp_path / "submitted.sh"
    (fake_bin / "sbatch").write_text(f'#!/bin/sh\ncp "$1" {submitted}\necho "sbatch: no cluster here" >&2; exit 1\n')
    (fake_bin / "srun").write_text("#!/bin/sh\nexit 1\n")  # submitit only checks that srun exists
    for tool in fake_bin.iterdir():
        tool.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}"}
    launcher = {"nodes": 2, "gpus_per_node": 4, "partition": "gpu", "account": "proj42", "timeout_min": 600}
    command = [
        sys.executable,
        "scripts/train.py",
        "-m",
        *SCALING_RUN,
        "loss=bce,lsgan",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        "hydra/launcher=slurm",
        *(f"hydra.launcher.{key}={value}" for key, value in launcher.items()),
    ]
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "sbatch: no cluster here" in result.stderr, result.stderr[-2000:]

    script = submitted.read_text()
    sbatch_lines = [line.removeprefix("#SBATCH ") for line in script.splitlines() if line.startswith("#SBATCH ")]
    directives = dict(line.split("=", 1) for line in sbatch_lines)
    assert directives["--array"].startswith("0-1%")  # one array job per sweep point
    expected = {
        "--nodes": "2",
        "--ntasks-per-node": "4",
        "--gpus-per-node": "4",
        "--partition": "gpu",
        "--account": "proj42",
        "--time": "600",
        "--signal": "USR2@120",
    }  # submitit requeues on USR2
    assert {key: directives.get(key) for key in expected} == expected
    assert "srun" in script and "-m submitit.core._submit" in script  # every task runs the pickled Hydra job


def test_slurm_tasks_become_lightning_ranks_and_share_one_run_folder(tmp_path, no_launcher):
    srun_task(no_launcher, rank=3)
    launcher = ("hydra/launcher=slurm", "hydra.launcher.nodes=2", "hydra.launcher.gpus_per_node=2")
    cfg = compose_train(*SCALING_RUN, *launcher, "trainer.accelerator=cpu", output_dir=tmp_path)
    follow_launcher_layout(cfg.trainer)
    trainer = hydra.utils.instantiate(cfg.trainer, callbacks=[], logger=[], **trainer_overrides(cfg))
    assert isinstance(trainer.strategy.cluster_environment, SLURMEnvironment)
    assert isinstance(trainer.strategy, GANDDPStrategy)
    assert (trainer.num_nodes, trainer.num_devices, trainer.world_size) == (2, 2, 4)
    assert (trainer.global_rank, trainer.local_rank, trainer.node_rank) == (3, 1, 1)
    assert Path(cfg.hydra.run.dir).name == "slurm-4242.0"  # plain srun; submitit jobs write their sweep folder


def test_run_folder_name_comes_from_the_launch_not_the_clock(no_launcher):
    assert shared_run_name(TIMESTAMP) == TIMESTAMP
    srun_task(no_launcher, rank=0, nodes=1, tasks_per_node=1)
    assert shared_run_name(TIMESTAMP) == TIMESTAMP  # one task agrees with itself
    torchrun_task(no_launcher, rank=1, run_id="abc")
    assert shared_run_name(TIMESTAMP) == "torchrun-abc"  # asked before SLURM: `srun torchrun ...`


def test_launches_in_the_same_second_get_folders_of_their_own(no_launcher, tmp_path):
    first = run_folder(str(tmp_path), TIMESTAMP)
    assert first == str(tmp_path / TIMESTAMP) and Path(first).is_dir()
    assert run_folder(str(tmp_path), TIMESTAMP) == first  # the same process asking again
    new_folder.cache_clear()  # as a second process would
    assert run_folder(str(tmp_path), TIMESTAMP) == str(tmp_path / f"{TIMESTAMP}-2")
    torchrun_task(no_launcher, rank=1, run_id="abc")
    assert run_folder(str(tmp_path / "launch"), TIMESTAMP) == str(tmp_path / "launch" / "torchrun-abc")


def test_multiruns_started_in_the_same_second_get_sweep_folders_of_their_own(tmp_path):
    hydra_cfg = compose_train(f"paths.log_dir={tmp_path}").hydra
    assert OmegaConf.to_container(hydra_cfg.sweep, resolve=False)["dir"].startswith("${facegan.new_folder:")
    first = str(hydra_cfg.sweep.dir)
    assert Path(first).is_dir() and Path(first).parent == tmp_path / "train" / "multiruns"
    new_folder.cache_clear()  # as a second launch in the same second would
    assert new_folder(str(Path(first).parent), Path(first).name) == f"{first}-2"


def test_torchrun_without_run_id_is_one_line_error(no_launcher, capsys):
    torchrun_task(no_launcher, rank=0, run_id="none")
    with pytest.raises(SystemExit) as stopped:
        shared_run_name(TIMESTAMP)
    assert stopped.value.code == 2 and "--rdzv-id" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.long
def test_torchrun_two_cpu_processes_write_one_run_folder(tmp_path):
    torchrun(
        "scripts/train.py",
        *ONE_EPOCH,
        "trainer.limit_train_batches=1.0",
        "trainer.accelerator=cpu",
        f"paths.log_dir={tmp_path}",
    )

    assert [path.name for path in tmp_path.iterdir()] == ["train"]
    assert [path.name for path in (tmp_path / "train").iterdir()] == ["runs"]
    runs = list((tmp_path / "train" / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("torchrun-"), runs
    run = runs[0]
    assert (run / ".hydra" / "config.yaml").is_file()
    assert [path.name for path in run.glob("*.log")] == ["train.log"]  # rank 1 logs to the terminal only
    log = (run / "train.log").read_text()
    assert "Data-parallel (gan_ddp) over 2 processes: global batch 32" in log
    assert log.count("Speed settings") == 1  # every rank logs it, only rank 0 into the file
    assert len(list((run / "tensorboard").glob("events.out.tfevents.*"))) == 1
    # each rank trains on half of the 96 images: 3 batches of 16, one D and one G step each
    assert load(run / "checkpoints" / "last.ckpt")["global_step"] == 3 * 2


class FailFirstAttemptAtEpochOne(pl.Callback):
    """A node failure after epoch 0's checkpoint, on torchrun's first attempt only."""

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == 1 and os.environ["TORCHELASTIC_RESTART_COUNT"] == "0":
            raise RuntimeError("simulated node failure")


@pytest.mark.slow
@pytest.mark.long
def test_torchrun_restart_resumes_in_the_same_run_folder(tmp_path):
    fail_once = f"+callbacks.fail_once._target_={__name__}.{FailFirstAttemptAtEpochOne.__name__}"
    # TORCH_DISABLE_SHARE_RDZV_TCP_STORE: restarted workers otherwise read the last attempt's addresses (pytorch#135712)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1"}
    overrides = (*SCALING_RUN, "trainer.accelerator=cpu", fail_once, f"paths.log_dir={tmp_path}")
    result = torchrun("--max-restarts", "1", "scripts/train.py", *overrides, env=env)
    assert "simulated node failure" in result.stderr

    runs = list((tmp_path / "train" / "runs").iterdir())
    assert len(runs) == 1, runs  # the restarted processes found the same folder
    assert "Restart 1 of this run: resuming from its own" in (runs[0] / "train.log").read_text()
    checkpoint = load(runs[0] / "checkpoints" / "last.ckpt")
    assert (checkpoint["epoch"], checkpoint["global_step"]) == (1, 2 * 3 * 2)  # epochs 0 and 1, 3 batches each


@pytest.mark.slow
def test_requeued_run_resumes_from_its_own_last_checkpoint(tmp_path, no_launcher):
    train(compose_train(*ONE_EPOCH, output_dir=tmp_path))
    first = load(tmp_path / "checkpoints" / "last.ckpt")
    no_launcher.setenv("SLURM_RESTART_COUNT", "1")  # what SLURM sets in a requeued job, which reruns in the same folder
    train(compose_train(*ONE_EPOCH, "trainer.max_epochs=2", output_dir=tmp_path))
    second = load(tmp_path / "checkpoints" / "last.ckpt")
    assert (second["epoch"], second["global_step"]) == (first["epoch"] + 1, 2 * first["global_step"])


def test_only_a_restart_resumes_and_it_takes_the_newest_own_checkpoint(tmp_path, no_launcher):
    (tmp_path / "checkpoints").mkdir()
    last = tmp_path / "checkpoints" / "last.ckpt"
    last.write_bytes(b"older")
    hpc = tmp_path / "hpc_ckpt_1.ckpt"  # Lightning's own SLURM auto-requeue checkpoint
    hpc.write_bytes(b"newer")
    os.utime(last, (1, 1))
    assert (
        own_checkpoint_after_restart(tmp_path, tmp_path / "checkpoints") is None
    )  # a first start never picks up files it finds
    no_launcher.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    assert own_checkpoint_after_restart(tmp_path, tmp_path / "checkpoints") == hpc
    assert own_checkpoint_after_restart(tmp_path / "elsewhere", tmp_path / "elsewhere" / "checkpoints") is None


def test_sync_batchnorm_over_cpu_processes_is_refused():
    cfg = compose_train(*SCALING_RUN, "trainer.accelerator=cpu", "trainer.devices=2", "trainer.sync_batchnorm=true")
    with pytest.raises(ConfigError, match="sync_batchnorm=true needs GPUs"):
        check_config(cfg)
