"""progress.gif, real_vs_fake.png and the sample grids written during a real (tiny) fit, by rank 0 only."""

from pathlib import Path
from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch
from PIL import Image
from torch.utils.data import DataLoader

from facegan.callbacks import ProgressGifCallback, RealVsFakeCallback, SampleGridCallback, progress_gif
from helpers import tiny_gan

EPOCHS = 3


class GifFrameCounter(pl.Callback):
    """Opens progress.gif after every epoch (after ProgressGifCallback, which runs first) and counts frames."""

    def __init__(self, path: Path):
        self.path = path
        self.counts: list[int] = []

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        with Image.open(self.path) as gif:
            self.counts.append(gif.n_frames)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> SimpleNamespace:
    """A 3-epoch fit on 12 random images in batches of 4, with both callbacks writing to one folder."""
    output_dir = tmp_path_factory.mktemp("run")
    images = torch.rand(12, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    gif = ProgressGifCallback(str(output_dir), nrow=3)
    real_vs_fake = RealVsFakeCallback(str(output_dir), nrow=3)
    counter = GifFrameCounter(output_dir / "progress.gif")
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=EPOCHS,
        callbacks=[gif, real_vs_fake, counter],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(tiny_gan(), DataLoader(images, batch_size=4))
    return SimpleNamespace(output_dir=output_dir, images=images, counter=counter, real_vs_fake=real_vs_fake)


@pytest.mark.slow
def test_progress_gif_gains_one_frame_per_epoch_as_epochs_finish(fitted):
    assert fitted.counter.counts == list(range(1, EPOCHS + 1))
    with Image.open(fitted.output_dir / "progress.gif") as gif:
        assert gif.n_frames == EPOCHS
        assert gif.info["loop"] == 0  # loops forever
        grid_width, grid_height = 2 + 3 * (16 + 2), 2 + 2 * (16 + 2)  # 6 samples, 3 per row, 2-pixel gutters
        assert gif.width == grid_width and gif.height > grid_height  # the grid under its "epoch N" caption
    assert not list(fitted.output_dir.glob("*.partial"))


def test_long_runs_rewrite_the_gif_about_every_tenth_and_at_the_end(tmp_path, monkeypatch):
    writes = []
    monkeypatch.setattr(progress_gif, "write_gif", lambda frames, *args: writes.append(len(frames)))
    gif, module = ProgressGifCallback(str(tmp_path), nrow=3), tiny_gan()
    for epoch in range(45):
        gif.on_train_epoch_end(SimpleNamespace(is_global_zero=True, current_epoch=epoch), module)
    gif.on_train_end(SimpleNamespace(is_global_zero=True), module)
    assert writes == [*range(1, 20), 20, 22, 24, 26, 28, 30, 33, 36, 39, 40, 44, 45]  # the last at training's end
    assert all(later - earlier <= max(1, earlier // 10) + 1 for earlier, later in zip(writes, writes[1:]))


@pytest.mark.slow
def test_real_vs_fake_shows_the_first_batch_beside_samples(fitted):
    torch.testing.assert_close(fitted.real_vs_fake.real, fitted.images[:4])  # the first batch: 4 < 6 samples
    with Image.open(fitted.output_dir / "real_vs_fake.png") as figure:
        assert figure.width > 2 * (2 + 3 * 18) and figure.height > 2 + 2 * 18  # two grids side by side, titled


def test_only_rank_zero_writes(tmp_path):
    other_rank = SimpleNamespace(is_global_zero=False, current_epoch=0)
    module = tiny_gan()
    ProgressGifCallback(str(tmp_path)).on_train_epoch_end(other_rank, module)
    real_vs_fake = RealVsFakeCallback(str(tmp_path))
    real_vs_fake.on_train_batch_end(other_rank, module, None, torch.zeros(4, 3, 16, 16), 0)
    real_vs_fake.on_train_end(other_rank, module)
    assert real_vs_fake.real is None
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_grid_gif_and_real_vs_fake_share_one_generator_pass_per_epoch(tmp_path, monkeypatch):
    module = tiny_gan()
    passes = []
    sample = module.sample
    monkeypatch.setattr(module, "sample", lambda z: passes.append(module.batches_done) or sample(z))
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=EPOCHS,
        callbacks=[
            SampleGridCallback(str(tmp_path), nrow=3),
            ProgressGifCallback(str(tmp_path), nrow=3),
            RealVsFakeCallback(str(tmp_path), nrow=3),
        ],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, DataLoader(torch.rand(8, 3, 16, 16) * 2 - 1, batch_size=4))
    assert passes == [2, 4, 6]  # one pass after each epoch's 2 batches, for all three files
    assert (tmp_path / "real_vs_fake.png").is_file()
    # ...and the two files show the same images: the GIF's last frame is the last epoch's grid under a caption
    grid = Image.open(tmp_path / "samples" / f"epoch_{EPOCHS - 1:03d}.png").convert("RGB")
    with Image.open(tmp_path / "progress.gif") as gif:
        gif.seek(gif.n_frames - 1)
        frame = gif.convert("RGB")
    below_caption = frame.crop((0, frame.height - grid.height, frame.width, frame.height))
    pixels = [torch.tensor(list(image.getdata()), dtype=torch.float) for image in (below_caption, grid)]
    assert (pixels[0] - pixels[1]).abs().mean() < 8  # 256-colour quantisation error only (mean of 0-255 channels)


def test_kept_samples_survive_a_network_that_writes_every_output_into_the_same_memory():
    module = tiny_gan(num_sample_images=6)
    generator_forward, output_memory = module.generator.forward, torch.empty(6, 3, 16, 16)

    def forward_like_a_cuda_graph(z):  # compile_mode=reduce-overhead: each replay overwrites the last output
        return output_memory.copy_(generator_forward(z))

    module.generator.forward = forward_like_a_cuda_graph
    kept = module.fixed_noise_samples()  # what real_vs_fake.png draws at the end, after other samples were made
    seen = kept.clone()
    module.sample(torch.randn(6, 8))
    assert torch.equal(kept, seen)
