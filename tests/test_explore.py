"""facegan-explore: the app's functions called directly, the page driven through Gradio's own client, and one-line
errors for a missing extra or a bad checkpoint. The headless-browser test is tests/test_explore_browser.py."""

import builtins
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from facegan.errors import exit_on_user_error
from facegan.explore.directions import find_directions
from facegan.metrics import MetricsUnavailable
from facegan.models import Generator, ResNetGenerator
from facegan.tools.explore import build_explorer, explore
from helpers import TINY, compose_config, free_port, run_cli, save_tiny_extractor

DATA = ("data=synthetic", "data.num_images=128")  # the synthetic faces the checkpoint was trained on


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("trained") / "run"
    tiny_run = (*TINY, *DATA, "trainer.limit_train_batches=2", "trainer.max_epochs=2", "checkpoint.keep_epochs=2")
    run_cli("train.py", *tiny_run, "metrics.enabled=false", f"hydra.run.dir={run_dir}")
    return run_dir


def explore_config(run_dir: Path, *overrides: str):
    extractor = save_tiny_extractor(run_dir.parent)
    return compose_config(
        "explore", f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}", *DATA, "device=cpu",
        f"metrics.feature_extractor={extractor}", f"paths.cache_dir={run_dir.parent / 'cache'}",
        "directions.samples=256", "page_size=8", "display_size=32", *overrides,
    )  # fmt: skip


@pytest.fixture(scope="module")
def explorer(run_dir):
    return build_explorer(explore_config(run_dir, f"compare_ckpt_path={run_dir / 'checkpoints' / 'epoch_000.ckpt'}"))


def pixels(picture: Image.Image) -> torch.Tensor:
    return torch.as_tensor(list(picture.getdata()), dtype=torch.float32)


def same_picture(first: Image.Image, second: Image.Image) -> bool:
    """Equal up to the rounding of a pixel: a face generated alone or in a batch may differ in the last float bit."""
    return first.size == second.size and float((pixels(first) - pixels(second)).abs().max()) <= 1


def test_a_page_is_the_same_for_a_seed_and_truncation_pulls_its_faces_together(explorer):
    pictures, z = explorer.page(3, 1.0)
    again, _ = explorer.page(3, 1.0)
    other, _ = explorer.page(4, 1.0)
    assert len(pictures) == 8 and z.shape == (8, explorer.latent_dim)
    assert [picture.tobytes() for picture in pictures] == [picture.tobytes() for picture in again]
    assert pictures[0].tobytes() != other[0].tobytes()
    truncated, truncated_z = explorer.page(3, 0.1)
    torch.testing.assert_close(truncated_z, z * 0.1)

    def spread(page: list[Image.Image]) -> float:
        return float(torch.stack([pixels(picture) for picture in page]).std(dim=0).mean())

    assert spread(truncated) < spread(pictures)


def test_an_interpolation_runs_from_one_kept_face_to_the_other_and_animates_there_and_back(explorer, tmp_path):
    _, z = explorer.page(0, 1.0)
    strip = explorer.interpolation(z[0], z[1], 5, tmp_path / "walk.gif")
    size = explorer.settings.display_size
    first = strip.crop((2, 2, 2 + size, 2 + size))  # the grid's first cell, inside its 2-pixel gutters
    last = strip.crop((strip.width - 2 - size, 2, strip.width - 2, 2 + size))
    assert same_picture(first, explorer.picture(z[0])) and same_picture(last, explorer.picture(z[1]))
    with Image.open(tmp_path / "walk.gif") as gif:
        assert gif.n_frames == 8  # 5 steps out, 3 back: it loops without a jump


@pytest.mark.parametrize("family", [Generator, ResNetGenerator])
def test_directions_find_the_z_coordinates_a_first_layer_amplifies_strongest_first(family):
    """A known answer: a generator whose first layer amplifies z's coordinate 3 tenfold and coordinate 7 fivefold
    varies most along them, so its first two directions are those coordinates (up to sign), in that order."""
    torch.manual_seed(0)
    generator = family(latent_dim=16, image_size=32, base_channels=8).eval()
    first = generator.get_submodule("net.0" if family is Generator else "start")
    with torch.no_grad():
        weight = first.weight if family is Generator else first.weight.T  # z's coordinates along dim 0
        weight[3] *= 10
        weight[7] *= 5
    directions = find_directions(generator, 3, 1024, seed=0, device=torch.device("cpu"))
    assert torch.allclose(directions.vectors.norm(dim=1), torch.ones(3))
    assert directions.vectors[0].abs().argmax() == 3 and directions.vectors[0].abs().max() > 0.8
    assert directions.vectors[1].abs().argmax() == 7 and directions.vectors[1].abs().max() > 0.8
    assert directions.explained[0] > directions.explained[1] > directions.explained[2]


def test_the_explorers_directions_are_unit_vectors_strongest_first(explorer):
    directions = explorer.directions
    assert len(directions) == 6 and torch.allclose(directions.vectors.norm(dim=1), torch.ones(6))
    assert (directions.explained[:-1] >= directions.explained[1:]).all()


def test_moving_a_face_by_nothing_keeps_it_and_the_sweep_has_a_row_per_direction(explorer):
    _, z = explorer.page(0, 1.0)
    assert same_picture(explorer.moved(z[2], [0.0] * 6), explorer.picture(z[2]))
    assert not same_picture(explorer.moved(z[2], [3.0, 0, 0, 0, 0, 0]), explorer.picture(z[2]))
    sweep = explorer.direction_sweep(z[2], [-3.0, 0.0, 3.0])
    cell = explorer.settings.display_size + 2
    assert (sweep.width, sweep.height) == (3 * cell + 2, 6 * cell + 2)


def test_a_training_image_is_its_own_nearest_training_image(explorer):
    neighbours = explorer.neighbours
    images = torch.stack([torch.as_tensor(neighbours.images[index]) for index in (5, 40)])
    found = neighbours(images, 3)
    assert [row[0].index for row in found] == [5, 40] and all(row[0].distance < 1e-3 for row in found)
    assert all(row[0].distance <= row[1].distance <= row[2].distance for row in found)
    _, z = explorer.page(0, 1.0)
    shown = explorer.nearest_training(z[0], 4)
    assert [caption for _, caption in shown][0] == "generated" and len(shown) == 5
    assert all(caption.startswith("image ") for _, caption in shown[1:])


def test_the_ema_raw_g_and_another_epoch_show_the_same_z(explorer):
    names = list(explorer.generators)
    assert names == ["last.ckpt (EMA, epoch 1)", "last.ckpt (G, epoch 1)", "epoch_000.ckpt (EMA, epoch 0)"]
    _, z = explorer.page(0, 1.0)
    left, right = explorer.compare(z, names[0], names[1])
    assert left.size == right.size and left.tobytes() != right.tobytes()
    same_left, _ = explorer.compare(z, names[0], names[2])
    assert same_left.tobytes() == left.tobytes()


def test_every_action_works_through_gradios_own_client(explorer, tmp_path):
    from gradio_client import Client

    from facegan.explore.app import build_app

    app = build_app(explorer, tmp_path)
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        page = client.predict(0, 1.0, api_name="/page")
        assert len(page) == 8 and all(Image.open(item["image"]).size == (32, 32) for item in page)
        for number in (3, 5):
            kept_strip, *menus = client.predict(number, api_name="/keep")
        kept_strip = Image.open(kept_strip)
        assert kept_strip.size == (2 * 34 + 2, 36) and menus[1]["value"] == "face 2"
        # the faces kept from the page are the page's faces 3 and 5, drawn the same
        assert same_picture(kept_strip.crop((2, 2, 34, 34)), Image.open(page[2]["image"]))
        assert same_picture(kept_strip.crop((36, 2, 68, 34)), Image.open(page[4]["image"]))
        strip, gif = client.predict("face 1", "face 2", 4, api_name="/interpolate")
        assert Image.open(strip).size == (4 * 34 + 2, 36) and Image.open(gif).n_frames == 6
        moved = client.predict("face 1", 2.0, 0, 0, 0, 0, 0, api_name="/move")
        unmoved = client.predict("face 1", 0, 0, 0, 0, 0, 0, api_name="/move")
        assert not same_picture(Image.open(moved), Image.open(unmoved))
        assert same_picture(Image.open(unmoved), Image.open(page[2]["image"]))
        assert Image.open(client.predict("face 2", api_name="/sweep")).height == 6 * 34 + 2
        nearest = client.predict("face 2", api_name="/nearest")
        assert nearest[0]["caption"] == "generated" and len(nearest) == 6
        left, right = client.predict(*list(explorer.generators)[:2], api_name="/compare")
        assert Image.open(left).size == Image.open(right).size
        with pytest.raises(Exception, match="face 7 is not a kept face"):
            client.predict("face 7", api_name="/sweep")
        with pytest.raises(Exception, match="Seed -1 is not a whole number"):
            client.predict(-1, 1.0, api_name="/page")
    finally:
        app.close()


def test_without_gradio_the_command_says_which_extra_to_install(run_dir, capsys, monkeypatch):
    real_import = builtins.__import__

    def no_gradio(name, *args, **kwargs):
        if name == "gradio" or name.startswith("gradio."):
            raise ImportError("No module named 'gradio'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "gradio", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_gradio)
    with pytest.raises(SystemExit) as exit_status, exit_on_user_error():
        explore(explore_config(run_dir))
    assert exit_status.value.code == 2
    (error,) = capsys.readouterr().err.splitlines()
    assert "pip install 'facegan[app]'" in error


@pytest.mark.parametrize(
    "overrides,expected",
    [
        (("ckpt_path=null",), "ckpt_path is not set"),
        (("ckpt_path=/nonexistent/last.ckpt",), "ckpt_path=/nonexistent/last.ckpt is not a file"),
        (("port=-1",), "port=-1"),
        (("directions.count=0",), "directions.count=0"),
        (("directions.count=300",), "directions.count=300 needs more directions.samples"),
        (("device=cuda:7",), "device=cuda:7"),
        (("nearest_training=maybe",), "nearest_training=maybe"),
    ],
)
def test_bad_input_is_one_line_before_a_port_opens(run_dir, capsys, overrides, expected):
    with pytest.raises(SystemExit) as exit_status, exit_on_user_error():
        explore(explore_config(run_dir, *overrides))
    assert exit_status.value.code == 2
    (error,) = capsys.readouterr().err.splitlines()
    assert error.startswith("facegan: error: ") and expected in error


@pytest.fixture(scope="module")
def residual_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("residual") / "run"
    run_cli("train.py", *TINY, *DATA, "model=resnet32", "model.ngf=8", "model.ndf=8", "trainer.limit_train_batches=1",
            "trainer.max_epochs=1", "metrics.enabled=false", f"hydra.run.dir={run_dir}")  # fmt: skip
    return run_dir


def test_the_residual_family_is_explored_the_same_way(residual_run, tmp_path):
    explorer = build_explorer(explore_config(residual_run))
    assert explorer.latent_dim == 128 and len(explorer.directions) == 6
    pictures, z = explorer.page(0, 0.7)
    assert len(pictures) == 8 and explorer.moved(z[0], [1.0] * 6).size == pictures[0].size
    assert len(explorer.nearest_training(z[0], 2)) == 3
    assert explorer.interpolation(z[0], z[1], 3, tmp_path / "walk.gif").size == (3 * 34 + 2, 36)


def test_a_file_that_is_not_a_checkpoint_and_a_checkpoint_of_another_model_are_one_line(
    run_dir, residual_run, tmp_path, capsys
):
    not_a_checkpoint = tmp_path / "notes.ckpt"
    not_a_checkpoint.write_bytes(b"not a checkpoint")
    cases = {
        f"ckpt_path={not_a_checkpoint}": f"ckpt_path={not_a_checkpoint}",
        f"compare_ckpt_path={residual_run / 'checkpoints' / 'last.ckpt'}": "compare checkpoints of the same model",
    }
    for override, expected in cases.items():
        with pytest.raises(SystemExit), exit_on_user_error():
            explore(explore_config(run_dir, override))
        (error,) = capsys.readouterr().err.splitlines()
        assert error.startswith("facegan: error: ") and expected in error


def test_without_training_images_or_a_feature_network_the_lookup_is_off_unless_asked_for(run_dir, tmp_path):
    """auto: no data.root there, or no feature network (here: Inception weights that do not load), starts the page
    without the lookup; nearest_training=true makes the missing network an error."""
    not_weights = tmp_path / "weights.pth"
    not_weights.write_bytes(b"not weights")
    checkpoint = f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}"
    common = (checkpoint, "device=cpu", "directions.samples=64", f"paths.cache_dir={tmp_path}")
    no_folder = compose_config("explore", *common, f"data.root={tmp_path / 'nowhere'}")
    assert build_explorer(no_folder).neighbours is None
    no_network = (*common, *DATA, f"metrics.inception_weights={not_weights}")  # the images are there
    assert build_explorer(compose_config("explore", *no_network)).neighbours is None
    with pytest.raises(MetricsUnavailable):
        build_explorer(compose_config("explore", *no_network, "nearest_training=true"))
