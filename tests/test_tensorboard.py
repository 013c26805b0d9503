"""TensorBoard as a person uses it: the HParams row of every run, throughput scalars, warnings in train.log, and a real
`tensorboard` server over a finished sweep, read through its HTTP API."""

import json
import logging
import socket
import subprocess
import sys
import time
import urllib.request
from types import SimpleNamespace

import pytest

from facegan.callbacks import throughput
from facegan.callbacks.hparams import run_hparams
from facegan.runtime.warnings_log import OncePerMessage
from helpers import TINY, compose_config, metrics_overrides, run_cli


def test_the_hparams_row_names_what_tells_runs_apart():
    row = run_hparams(compose_config("train", "loss=lsgan", "model=dcgan32", "optimizer=ttur", "augment=diffaugment"))
    assert row["loss"] == "lsgan" and row["model"] == "dcgan32" and row["augment"] == "diffaugment"
    assert (row["lr_g"], row["lr_d"], row["beta1"], row["beta2"]) == (1e-4, 4e-4, 0.0, 0.9)
    assert row["batch_size"] == 32 and row["image_size"] == 32 and row["ema_kimg"] == 10.0
    assert all(isinstance(value, str | int | float | bool) for value in row.values())
    assert run_hparams(compose_config("train", "model.ema_kimg=null"))["ema_kimg"] == "off"
    assert run_hparams(compose_config("train", "model=resnet64"))["model"] == "resnet64"


def test_a_warning_repeated_every_batch_is_logged_once():
    once = OncePerMessage()
    records = [logging.LogRecord("py.warnings", logging.WARNING, __file__, 1, text, None, None) for text in "aab"]
    assert [once.filter(record) for record in records] == [True, False, True]


def test_throughput_is_images_over_wall_time_between_log_points(monkeypatch):
    clock = iter([10.0, 12.0, 13.0])
    monkeypatch.setattr(throughput.time, "perf_counter", lambda: next(clock))
    trainer = SimpleNamespace(
        log_every_n_steps=10, world_size=2, is_global_zero=False, datamodule=SimpleNamespace(batch_size=32)
    )
    module = SimpleNamespace(batches_done=0, progress_bar_values={})
    callback = throughput.ThroughputCallback()
    for done in (10, 15, 20, 30):  # 15 is between log points: no clock read
        module.batches_done = done
        callback.on_train_batch_end(trainer, module, None, None, 0)
        if done == 20:
            assert module.progress_bar_values["img/s"] == pytest.approx(10 * 64 / 2.0)
    assert module.progress_bar_values["img/s"] == pytest.approx(10 * 64 / 1.0)


@pytest.mark.slow
def test_lightnings_warnings_reach_train_log_once(tmp_path):
    # 4 batches per epoch, fewer than the logging interval: Lightning warns (warnings.warn) at the start of fit
    run_cli("train.py", *TINY, "trainer.log_every_n_steps=10", f"hydra.run.dir={tmp_path}")
    lines = [line for line in (tmp_path / "train.log").read_text().splitlines() if "[py.warnings]" in line]
    assert len([line for line in lines if "smaller than the logging interval" in line]) == 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.slow
def test_a_tensorboard_server_shows_every_runs_curves_grids_and_hparams(tmp_path):
    sweep = tmp_path / "sweep"
    run_cli(
        "train.py", "-m", *TINY, "trainer.max_epochs=1", "trainer.log_every_n_steps=1", "loss=bce,lsgan",
        *metrics_overrides(tmp_path), f"hydra.sweep.dir={sweep}", timeout=600,
    )  # fmt: skip
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(sweep), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/data/plugin"
    runs = {"0/tensorboard", "1/tensorboard"}
    try:
        deadline, scalars = time.monotonic() + 90, {}
        while time.monotonic() < deadline:
            try:
                scalars = get(f"{base}/scalars/tags")
            except OSError:
                scalars = {}
            if set(scalars) >= runs and all("metrics/fid64" in scalars[run] for run in runs):
                break
            time.sleep(0.5)
        assert set(scalars) >= runs, f"TensorBoard never listed the runs: {sorted(scalars)}"
        for run in runs:
            assert {"loss/d", "loss/g", "metrics/fid64", "throughput/images_per_s", "throughput/step_s"} <= set(
                scalars[run]
            )
        images = get(f"{base}/images/tags")
        assert all("samples/fixed_noise" in images[run] for run in runs)

        experiment = get(f"{base}/hparams/experiment", {"experimentName": ""})
        columns = {info["name"] for info in experiment["hparamInfos"]}
        assert {"loss", "model", "lr_g", "lr_d", "beta1", "beta2", "batch_size", "augment", "ema_kimg"} <= columns
        assert {"precision", "global_batch_size", "n_critic", "ngf", "ndf"} <= columns
        metrics = {info["name"]["tag"] for info in experiment["metricInfos"]}
        assert metrics == {"metrics/fid64", "metrics/kid64", "loss/d_epoch", "loss/g_epoch"}
        groups = get(
            f"{base}/hparams/session_groups",
            {"experimentName": "", "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_RUNNING"],
             "colParams": [], "startIndex": 0, "sliceSize": 100},
        )["sessionGroups"]  # fmt: skip
        by_run = {group["name"]: group for group in groups}
        assert {by_run[run]["hparams"]["loss"] for run in runs} == {"bce", "lsgan"}
        for run in runs:
            values = {value["name"]["tag"]: value["value"] for value in by_run[run]["metricValues"]}
            assert values["metrics/fid64"] > 0 and "loss/d_epoch" in values
    finally:
        server.terminate()
        server.wait(timeout=30)
