"""FID/KID plumbing with a tiny deterministic conv feature extractor, and the metrics of a real training run:
TensorBoard, metrics.jsonl, best.ckpt, the real-feature cache, DDP, and metrics that cannot run."""

import json
import logging
import os
from pathlib import Path

import pytest
import torch
from torch import nn

from facegan.data.synthetic import SyntheticFaces
from facegan.errors import ConfigError
from facegan.latent import random_latents
from facegan.metrics import FeatureExtractor, FeatureScorer, MetricsUnavailable, Shard, load_feature_extractor
from facegan.metrics.evaluator import quantized
from facegan.metrics.feature_cache import RealFeatureCache
from facegan.metrics.features import generated_features
from facegan.metrics.settings import metric_key
from facegan.tools.evaluate import evaluate
from facegan.train import train
from helpers import (
    TINY,
    TinyConvNet,
    compose_config,
    compose_train,
    metric_settings,
    metrics_overrides,
    run_cli,
    save_tiny_extractor,
    tensorboard_tags,
)

# A few batches of synthetic faces; add metrics_overrides() to measure them.
TINY_RUN = (*TINY, "data.num_images=256", "trainer.limit_train_batches=2")


class TinyExtractor(FeatureExtractor):
    def __init__(self):
        super().__init__("tiny")
        self.network = TinyConvNet()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network(images)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def synthetic_images(count: int, start: int = 0) -> torch.Tensor:
    faces = SyntheticFaces(num_images=start + count, image_size=32, seed=0)
    return torch.stack([faces[index] for index in range(start, start + count)])


# ---- FID and KID themselves ----


def test_fid_kid_of_a_set_with_itself_is_near_zero_and_against_noise_large():
    extractor = TinyExtractor()
    with torch.no_grad():
        real = extractor(synthetic_images(128))
        other_real = extractor(synthetic_images(128, start=128))
        noise = extractor(torch.rand(128, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1)
    score = FeatureScorer(real, kid_subsets=20, kid_subset_size=64)

    itself, other, against_noise = score(real), score(other_real), score(noise)
    assert abs(itself.fid) < 1e-4
    assert 0 < other.fid < against_noise.fid / 20  # other faces are close, noise is far
    assert against_noise.kid_mean > 10 * (abs(itself.kid_mean) + itself.kid_std)
    assert (against_noise.num_real, against_noise.num_fake) == (128, 128)
    assert score(noise) == against_noise  # KID's random subsets are seeded: a score depends on the features only


def test_scoring_seeds_no_global_generator_and_leaves_the_cpu_stream_where_it_was(monkeypatch):
    def refuse(*args):
        raise AssertionError("a global seed was set: on a GPU this restarts training's CUDA noise stream")

    monkeypatch.setattr(torch, "manual_seed", refuse)
    monkeypatch.setattr(torch.cuda, "manual_seed_all", refuse)
    monkeypatch.setattr(torch.cuda, "manual_seed", refuse)
    real = torch.randn(40, 8, generator=torch.Generator().manual_seed(0))
    before = torch.get_rng_state()
    scorer = FeatureScorer(real, kid_subsets=5, kid_subset_size=10)
    assert scorer(real + 1) == scorer(real + 1)  # still a function of the features alone
    assert torch.equal(torch.get_rng_state(), before)


def test_kid_subset_size_is_capped_by_the_smaller_sample():
    real = torch.randn(40, 8, generator=torch.Generator().manual_seed(0))
    scores = FeatureScorer(real, kid_subset_size=1000)(real[:10] + 1)
    assert scores.num_fake == 10 and scores.kid_mean > 0


# ---- Shares across DDP ranks ----


@pytest.mark.parametrize("world_size", [2, 3])
def test_ranks_generate_their_shares_and_gather_the_single_process_sample(world_size):
    """Simulated ranks: each generates its rows; gathered, they equal what one process computes."""
    extractor = TinyExtractor()
    generator = nn.Sequential(nn.Linear(4, 3 * 8 * 8), nn.Tanh(), nn.Unflatten(1, (3, 8, 8)))

    def features(shard: Shard) -> torch.Tensor:
        z = random_latents(7, 4, seed=3)
        return generated_features(extractor, generator, z, shard, torch.device("cpu"), batch_size=2)

    local = {}

    def record(rank: int):  # first pass: keep each rank's own rows (and pretend the others had the same)
        return lambda rows: local.setdefault(rank, rows).expand(world_size, *rows.shape)

    def stack_all_ranks(rows: torch.Tensor) -> torch.Tensor:
        return torch.stack([local[rank] for rank in range(world_size)])

    for rank in range(world_size):
        features(Shard(rank, world_size, all_gather=record(rank)))
    gathered = [features(Shard(rank, world_size, all_gather=stack_all_ranks)) for rank in range(world_size)]

    single = features(Shard())
    assert single.shape == (7, 16)
    for result in gathered:
        torch.testing.assert_close(result, single)


def test_every_row_is_in_exactly_one_share():
    shards = [Shard(rank, 3).rows(10) for rank in range(3)]
    assert all(len(rows) == 4 for rows in shards)  # equal shares, as all_gather needs
    assert [row for rows in shards for row in rows][:10] == list(range(10))


# ---- Settings, extractors, cache ----


@pytest.mark.parametrize(
    "override,message",
    [
        ({"enabled": "yes"}, "metrics.enabled=yes"),
        ({"num_samples": 1}, "metrics.num_samples=1"),
        ({"every_n_epochs": 0}, "metrics.every_n_epochs=0"),
        ({"feature_extractor": "/nonexistent/i.pt"}, "metrics.feature_extractor=/nonexistent/i.pt is not a file"),
        ({"num_real": 1}, "metrics.num_real=1"),
        ({"num_real": "most"}, "metrics.num_real=most"),
        ({"quantize": "no"}, "metrics.quantize=no"),
    ],
)
def test_bad_settings_are_one_line_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        metric_settings(**override)


def test_metric_keys_carry_the_sample_count_and_the_real_set_its_own():
    assert metric_settings(num_samples=10000).key("fid") == "metrics/fid10k"
    assert metric_settings(num_samples=50000).key("recall") == "metrics/recall50k"
    assert metric_key("fid", 500) == "metrics/fid500" and metric_key("fid", 2500) == "metrics/fid2500"
    assert metric_settings(num_samples=100).real_count(60) == 60  # at most the dataset
    assert metric_settings(num_samples=100).real_count(1000) == 100
    assert metric_settings(num_samples=100, num_real="all").real_count(1000) == 1000
    assert metric_settings(num_samples=100, num_real=300).real_count(1000) == 300


def test_quantized_sampling_rounds_to_8_bit_levels():
    images = torch.linspace(-1, 1, 1000).reshape(1, 1, 10, 100)
    rounded = quantized(lambda z: images)(torch.zeros(1))
    levels = (rounded + 1) * 127.5
    torch.testing.assert_close(levels, levels.round(), atol=1e-4, rtol=0)
    assert (rounded - images).abs().max() <= 1 / 127.5 / 2 + 1e-6
    assert rounded.min() == -1 and rounded.max() == 1


def test_auto_is_on_for_gpus_only():
    settings = metric_settings(enabled="auto")
    assert settings.off_reason(torch.device("cuda", 0)) is None
    assert "metrics.enabled=true" in settings.off_reason(torch.device("cpu"))
    assert metric_settings(enabled=True).off_reason(torch.device("cpu")) is None


def test_unloadable_extractors_say_how_to_provide_one(tmp_path):
    not_a_network = tmp_path / "weights.pth"
    not_a_network.write_bytes(b"not a network")
    for field in ("feature_extractor", "inception_weights"):
        settings = metric_settings(**{field: str(not_a_network)})
        with pytest.raises(MetricsUnavailable, match="metrics.feature_extractor=<TorchScript Inception .pt>"):
            load_feature_extractor(settings)


def test_torchscript_extractor_resizes_to_299_and_is_named_by_content(tmp_path):
    extractor = load_feature_extractor(metric_settings(feature_extractor=str(save_tiny_extractor(tmp_path))))
    assert extractor.name.startswith("tiny_extractor-")
    assert extractor(torch.zeros(2, 3, 32, 32)).shape == (2, 16)


def test_standard_inception_from_offline_weights(tmp_path, monkeypatch):
    """metrics.inception_weights: torch-fidelity's network from a local file (random weights stand in here)."""
    fidelity = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3")
    with monkeypatch.context() as patch:  # build the architecture once without any weights, to save its state_dict
        patch.setattr(fidelity, "load_state_dict_from_url", lambda *args, **kwargs: None)
        patch.setattr(fidelity.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state_dict: None)
        weights = fidelity.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"]).state_dict()
    torch.save(weights, tmp_path / "weights-inception.pth")

    extractor = load_feature_extractor(metric_settings(inception_weights=str(tmp_path / "weights-inception.pth")))
    assert extractor.name.startswith("inception-v3-compat-")
    assert extractor(torch.rand(2, 3, 32, 32) * 2 - 1).shape == (2, 2048)


def test_real_feature_cache_round_trip(tmp_path):
    cache = RealFeatureCache(tmp_path)
    key = {
        "dataset": "faces",
        "dataset_key": "ab",
        "image_size": 32,
        "available": 9,
        "extractor": "tiny",
        "num_samples": 9,
    }
    key["seed"] = 0
    features = torch.randn(9, 16)
    assert cache.load(key) is None
    path = cache.save(key, features)
    assert path.name.startswith("faces-32px-tiny-n9-")
    torch.testing.assert_close(cache.load(key), features)
    assert cache.path({**key, "seed": 1}) != path
    path.write_bytes(b"cut short")
    assert cache.load(key) is None  # a broken file is extracted again, not an error


# ---- Training runs ----


@pytest.mark.slow
def test_short_run_logs_fid_kid_precision_recall_writes_metrics_jsonl_and_best_checkpoint(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    run_dir = tmp_path / "run"
    overrides = (*metrics_overrides(tmp_path), "trainer.max_epochs=3", "metrics.every_n_epochs=2")
    train(compose_train(*TINY_RUN, *overrides, output_dir=run_dir))

    scalars = tensorboard_tags(run_dir)["scalars"]
    # the sample count is part of the key
    assert {"metrics/fid64", "metrics/kid64", "metrics/precision64", "metrics/recall64"} <= scalars
    assert not {"metrics/fid", "metrics/kid", "metrics/precision", "metrics/recall"} & scalars
    evaluations = read_jsonl(run_dir / "metrics.jsonl")
    assert [line["epoch"] for line in evaluations] == [1, 2]  # every 2nd epoch, and the last one
    assert [line["images_seen"] for line in evaluations] == [64, 96]  # 2 batches of 16 per epoch
    assert all(line["num_fake"] == line["num_real"] == 64 and line["fid"] >= 0 for line in evaluations)
    assert all(0 <= line["precision"] <= 1 and 0 <= line["recall"] <= 1 for line in evaluations)
    best = torch.load(run_dir / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=False)
    (best_state,) = [state for name, state in best["callbacks"].items() if "metrics/fid64" in name]
    assert best_state["best_model_score"].item() == pytest.approx(min(line["fid"] for line in evaluations))
    assert "cached in" in caplog.text

    # A second run measures against the same real images: their features come from the cache.
    # (That measuring leaves training's random streams alone is checked with two processes below.)
    caplog.clear()
    second_dir = tmp_path / "second"
    train(compose_train(*TINY_RUN, *metrics_overrides(tmp_path), "trainer.max_epochs=1", output_dir=second_dir))
    assert "from the cache" in caplog.text
    assert len(list((tmp_path / "cache" / "fid").glob("*.pt"))) == 1
    assert len(read_jsonl(second_dir / "metrics.jsonl")) == 1


@pytest.mark.slow
def test_without_an_extractor_training_goes_on_and_says_so_once(tmp_path):
    not_weights = tmp_path / "weights.pth"
    not_weights.write_bytes(b"not weights")
    run_dir = tmp_path / "run"
    overrides = ("metrics.enabled=true", f"metrics.inception_weights={not_weights}", f"hydra.run.dir={run_dir}")
    result = run_cli("train.py", *TINY_RUN, *overrides)
    output = result.stdout + result.stderr
    assert output.count("FID/KID are off") == 1 and "metrics.feature_extractor=" in output
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert not (run_dir / "checkpoints" / "best.ckpt").exists() and not (run_dir / "metrics.jsonl").exists()
    assert "could not find the monitored key" not in output


@pytest.mark.slow
def test_two_process_ddp_scores_the_whole_sample_once_and_leaves_training_as_it_was(tmp_path):
    """Under DDP each rank generates its share; the gathered FID, precision and recall equal a one-process evaluation
    of the same weights; and the run ends on the weights it ends on without metrics."""
    run_dir = tmp_path / "run"
    overrides = metrics_overrides(tmp_path, num_samples=63)  # odd: the ranks' shares are padded and trimmed
    ddp = ("trainer.accelerator=cpu", "trainer.devices=2", "trainer.max_epochs=2")  # training goes on after epoch 0's
    run_cli("train.py", *TINY_RUN, *overrides, *ddp, f"hydra.run.dir={run_dir}")

    _, evaluation = read_jsonl(run_dir / "metrics.jsonl")  # one line per epoch: rank 0 writes
    assert evaluation["num_fake"] == 63
    last = run_dir / "checkpoints" / "last.ckpt"
    scores = evaluate(
        compose_config("evaluate", f"ckpt_path={last}", "data=synthetic", "data.num_images=256", *overrides)
    )
    assert scores["fid"] == pytest.approx(evaluation["fid"], rel=1e-5)
    # precision and recall over the gathered sample too: the same as one process measures on the same weights
    assert (scores["precision"], scores["recall"]) == pytest.approx((evaluation["precision"], evaluation["recall"]))

    # Measuring draws nothing from either process's training stream: without metrics, the same weights.
    unmeasured_dir = tmp_path / "unmeasured"
    run_cli("train.py", *TINY_RUN, "metrics.enabled=false", *ddp, f"hydra.run.dir={unmeasured_dir}")
    measured, unmeasured = (
        torch.load(folder / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
        for folder in (run_dir, unmeasured_dir)
    )
    for name, weights in measured.items():
        torch.testing.assert_close(weights, unmeasured[name], rtol=0, atol=0, msg=name)


class RunsCode:
    """Unpickled with code allowed, this object runs `touch <marker>`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_inception_weights_holding_code_are_refused_in_one_line_and_never_run(tmp_path):
    pytest.importorskip("torch_fidelity")
    marker, weights = tmp_path / "ran", tmp_path / "weights-inception.pth"
    torch.save({"Conv2d_1a_3x3.conv.weight": RunsCode(marker)}, weights)
    with pytest.raises(MetricsUnavailable) as refused:
        load_feature_extractor(metric_settings(inception_weights=str(weights)))
    assert not marker.exists()
    message = str(refused.value)
    assert f"metrics.inception_weights={weights}" in message and "\n" not in message
    assert "metrics.inception_weights=<a copy of weights-inception-2015-12-05-6726825d.pth>" in message
