"""TensorBoard as a person uses it: the HParams row of every run (its settings beside FID/KID, the epoch losses and
images/s, with the run's end status), in the event files of a real fit and through a real `tensorboard` server over
a finished sweep, read through its HTTP API."""

import json
import signal
import subprocess
import sys
import time
import urllib.request
from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from pytorch_lightning.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import api_pb2, metadata
from torch.utils.data import DataLoader

from facegan.callbacks import HParamsCallback, ThroughputCallback
from facegan.callbacks import hparams as hparams_module
from facegan.callbacks.hparams import config_choices, run_hparams
from facegan.gan.module import GAN
from facegan.runtime.stop_signals import StoppedBySignal
from helpers import TINY, compose_config, free_port, metrics_overrides, run_cli, tiny_gan


def composed_row(*overrides: str) -> dict:
    cfg = compose_config("train", *overrides, return_hydra_config=True)
    return run_hparams(cfg, cfg.hydra.runtime.choices)


def test_the_hparams_row_names_what_tells_runs_apart():
    row = composed_row("loss=lsgan", "model=dcgan32", "optimizer=ttur", "augment=diffaugment")
    assert row["loss"] == "lsgan" and row["model"] == "dcgan32" and row["augment"] == "diffaugment"
    assert (row["lr_g"], row["lr_d"], row["beta1"], row["beta2"]) == (1e-4, 4e-4, 0.0, 0.9)
    assert (row["batch_size"], row["image_size"], row["latent_dim"], row["ngf"], row["ndf"]) == (8, 32, 100, 64, 64)
    assert (row["ema_kimg"], row["n_critic"], row["seed"], row["max_epochs"]) == (10.0, 1, 42, 10)
    assert row["spectral_norm"] is False
    assert all(isinstance(value, str | int | float | bool) for value in row.values())


def test_the_row_follows_recipes_and_every_loss():
    assert composed_row("loss=wgan_gp")["loss"] == "wgan_gp" and composed_row("loss=wgan_gp")["n_critic"] == 5
    resnet = composed_row("experiment=resnet64")  # the recipe picks the model, the loss and Adam's betas
    assert (resnet["model"], resnet["loss"], resnet["spectral_norm"], resnet["beta1"]) == ("resnet64", "hinge", True, 0)
    assert composed_row("model.ema_kimg=null")["ema_kimg"] == 0.0
    tiny = composed_row(*TINY, "trainer.max_epochs=-1", "seed=7")
    assert (tiny["batch_size"], tiny["ngf"], tiny["max_epochs"], tiny["seed"]) == (16, 8, -1, 7)


def test_without_hydras_choices_the_names_come_from_the_targets():
    row = run_hparams(compose_config("train", "loss=lsgan", "augment=diffaugment", "model=resnet32"), {})
    assert (row["loss"], row["augment"], row["model"]) == ("lsgan", "diffaugment", "resnet32")
    assert run_hparams(compose_config("train"), {})["augment"] == "none"


def test_a_run_reads_the_options_hydra_chose(monkeypatch):
    hydra_config = HydraConfig.instance()
    monkeypatch.setattr(hydra_config, "cfg", None)  # the test's own Hydra run, undone afterwards
    assert config_choices() == {}
    hydra_config.set_config(compose_config("train", "loss=wgan_gp", "model=dcgan32", return_hydra_config=True))
    assert (config_choices()["loss"], config_choices()["model"]) == ("wgan_gp", "dcgan32")


class FailsAfterFirstEpoch(pl.Callback):
    def on_train_epoch_end(self, trainer, pl_module) -> None:
        raise RuntimeError("a failure on purpose")


def fit(logger, *callbacks: pl.Callback) -> GAN:
    """Two epochs of 3 batches of 4 random 16x16 images."""
    images = torch.rand(12, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=2,
        log_every_n_steps=1,
        logger=logger,
        callbacks=list(callbacks),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    module = tiny_gan(num_sample_images=4)
    trainer.fit(module, DataLoader(images, batch_size=4))
    return module


def hparams_plugin_data(run_dir) -> dict:
    """The run's experiment, session start and session end, as TensorBoard's hparams plugin reads them."""
    accumulator = EventAccumulator(str(run_dir))
    accumulator.Reload()
    contents = accumulator.PluginTagToContent(metadata.PLUGIN_NAME)
    parse = {
        metadata.EXPERIMENT_TAG: metadata.parse_experiment_plugin_data,
        metadata.SESSION_START_INFO_TAG: metadata.parse_session_start_info_plugin_data,
        metadata.SESSION_END_INFO_TAG: metadata.parse_session_end_info_plugin_data,
    }
    return {tag: parse[tag](content) for tag, content in contents.items()}


def tensorboard_logger(tmp_path) -> TensorBoardLogger:
    return TensorBoardLogger(save_dir=str(tmp_path), name="tensorboard", version="", default_hp_metric=False)


@pytest.mark.slow
def test_a_fit_writes_its_row_with_typed_values_metric_columns_and_success(tmp_path):
    row = composed_row(*TINY, "model.spectral_norm=true")
    fit(tensorboard_logger(tmp_path), ThroughputCallback(), HParamsCallback(row))
    data = hparams_plugin_data(tmp_path / "tensorboard")
    experiment = data[metadata.EXPERIMENT_TAG]
    columns = {info.name: info.type for info in experiment.hparam_infos}
    assert columns == {
        **{name: api_pb2.DATA_TYPE_STRING for name in ("loss", "model", "augment", "precision")},
        "spectral_norm": api_pb2.DATA_TYPE_BOOL,
        **{
            name: api_pb2.DATA_TYPE_FLOAT64 for name in row if name not in ("loss", "model", "augment", "spectral_norm")
        },
        "global_batch_size": api_pb2.DATA_TYPE_FLOAT64,
    }
    # metrics are off here: no FID/KID column that would stay empty
    metrics = [info.name.tag for info in experiment.metric_infos]
    assert metrics == ["loss/d_epoch", "loss/g_epoch", "throughput/images_per_s"]
    scalars = set(EventAccumulator(str(tmp_path / "tensorboard")).Reload().Tags()["scalars"])
    assert set(metrics) <= scalars  # every column has values
    values = data[metadata.SESSION_START_INFO_TAG].hparams
    assert values["loss"].string_value == "bce" and values["spectral_norm"].bool_value is True
    assert values["batch_size"].number_value == values["global_batch_size"].number_value == 16  # one process
    assert values["precision"].string_value == "32-true"
    end = data[metadata.SESSION_END_INFO_TAG]
    assert end.status == api_pb2.STATUS_SUCCESS
    assert 0 < data[metadata.SESSION_START_INFO_TAG].start_time_secs <= end.end_time_secs
    # the module's checkpoint hyperparameters (network_config, ...) stay out of the logger
    hparams_yaml = tmp_path / "tensorboard" / "hparams.yaml"
    assert not hparams_yaml.exists() or "network_config" not in hparams_yaml.read_text()


@pytest.mark.slow
def test_a_failed_fit_says_so_in_its_row(tmp_path):
    with pytest.raises(RuntimeError, match="a failure on purpose"):
        fit(tensorboard_logger(tmp_path), HParamsCallback(composed_row(*TINY)), FailsAfterFirstEpoch())
    assert hparams_plugin_data(tmp_path / "tensorboard")[metadata.SESSION_END_INFO_TAG].status == api_pb2.STATUS_FAILURE


@pytest.mark.slow
def test_without_a_logger_the_run_trains_and_the_bar_shows_images_per_second():
    module = fit(False, ThroughputCallback(), HParamsCallback(composed_row(*TINY)))
    assert module.progress_bar_values["img/s"] > 0


class SummaryRecorder:
    """A SummaryWriter's file writer, keeping what is written."""

    def __init__(self):
        self.tags: list[str] = []

    def _get_file_writer(self):
        return self

    def add_summary(self, summary) -> None:
        self.tags += [value.tag for value in summary.value]

    def flush(self) -> None:
        pass


def test_a_stop_by_signal_leaves_the_row_open_for_the_resumed_run(monkeypatch):
    recorder = SummaryRecorder()
    monkeypatch.setattr(hparams_module, "tensorboard_writer", lambda trainer: recorder)
    callback, trainer = HParamsCallback({}), SimpleNamespace(is_global_zero=True)
    callback.on_exception(trainer, None, StoppedBySignal(signal.SIGTERM))
    callback.on_exception(trainer, None, KeyboardInterrupt())
    assert recorder.tags == []  # TensorBoard keeps a tag's first summary: an end now would outlive the resume
    callback.on_exception(trainer, None, RuntimeError("diverged"))
    assert recorder.tags == [metadata.SESSION_END_INFO_TAG]
    callback.on_fit_end(SimpleNamespace(is_global_zero=False), None)  # rank 1 writes nothing
    assert recorder.tags == [metadata.SESSION_END_INFO_TAG]


def request_json(url: str, body: dict | None = None):
    """GET, or POST `body` as JSON (the hparams plugin's requests), and the JSON answer."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def wait_for_runs(base: str, runs: set[str], tag: str, seconds: float) -> dict:
    """The scalar tags per run once the server lists `tag` for every run (it loads event files in the background)."""
    deadline, scalars = time.monotonic() + seconds, {}
    while time.monotonic() < deadline:
        try:
            scalars = request_json(f"{base}/scalars/tags")
        except OSError:  # not listening yet
            scalars = {}
        if set(scalars) >= runs and all(tag in scalars[run] for run in runs):
            return scalars
        time.sleep(0.2)  # a poll interval, not a wait for a race: the loop ends on what the server answers
    raise AssertionError(f"TensorBoard never listed {tag} for {sorted(runs)}: {scalars}")


@pytest.mark.slow
@pytest.mark.long
def test_a_tensorboard_server_shows_every_runs_curves_grids_and_hparams(tmp_path):
    sweep = tmp_path / "sweep"
    run_cli(
        "train.py", "-m", *TINY, "trainer.max_epochs=1", "loss=bce,lsgan",
        *metrics_overrides(tmp_path), f"hydra.sweep.dir={sweep}", timeout=600,
    )  # fmt: skip
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(sweep), "--host", "127.0.0.1", "--port", str(port),
         "--reload_interval", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/data/plugin"
    runs = {"0/tensorboard", "1/tensorboard"}
    try:
        scalars = wait_for_runs(base, runs, "metrics/fid64", seconds=60)
        for run in runs:
            assert {"loss/d", "loss/g", "loss/d_epoch", "metrics/fid64", "throughput/images_per_s"} <= set(scalars[run])
        images = request_json(f"{base}/images/tags")
        assert all("samples/fixed_noise" in images[run] for run in runs)

        experiment = request_json(f"{base}/hparams/experiment", {"experimentName": ""})
        columns = {info["name"] for info in experiment["hparamInfos"]}
        assert columns == {
            "loss", "model", "image_size", "latent_dim", "ngf", "ndf", "spectral_norm", "lr_g", "lr_d", "beta1",
            "beta2", "n_critic", "batch_size", "global_batch_size", "augment", "ema_kimg", "precision", "seed",
            "max_epochs",
        }  # fmt: skip
        metrics = {info["name"]["tag"] for info in experiment["metricInfos"]}
        assert metrics == {
            "metrics/fid64", "metrics/kid64", "metrics/precision64", "metrics/recall64", "loss/d_epoch",
            "loss/g_epoch", "throughput/images_per_s",
        }  # fmt: skip
        statuses = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]
        groups = request_json(
            f"{base}/hparams/session_groups",
            {"experimentName": "", "allowedStatuses": statuses, "colParams": [], "startIndex": 0, "sliceSize": 100},
        )["sessionGroups"]
        by_run = {group["name"]: group for group in groups}
        assert set(by_run) == runs
        assert {run: by_run[run]["hparams"]["loss"] for run in runs} == {
            "0/tensorboard": "bce",
            "1/tensorboard": "lsgan",
        }
        for run in runs:
            hparams = by_run[run]["hparams"]
            assert (hparams["model"], hparams["lr_g"], hparams["batch_size"], hparams["global_batch_size"]) == (
                "dcgan32", 2e-4, 16, 16,
            )  # fmt: skip
            assert by_run[run]["sessions"][0]["status"] == "STATUS_SUCCESS"
            values = {value["name"]["tag"]: value["value"] for value in by_run[run]["metricValues"]}
            assert set(values) == metrics and values["metrics/fid64"] > 0 and values["throughput/images_per_s"] > 0
    finally:
        server.terminate()
        server.wait(timeout=30)
