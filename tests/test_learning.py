"""Every loss learns with its default settings: a short run on real faces per loss, whose losses stay in a
sane band and whose samples are not one texture. A loss that collapses to grey noise (as LSGAN does on raw DCGAN
logits, loss.output_scale=1.0) fails here."""

import math

import pytest
import torch
import torch.nn.functional as F
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from facegan.checkpoints.trained_generator import load_generator
from facegan.train import train
from helpers import NEEDS_REAL_FACES, REAL_FACES, compose_train

BATCHES = 90  # 5 epochs of the 2,330-image sample at batch 128
# On samples pooled to 8x8 (face layout, not pixel noise), in [-1, 1] units: between what faces give after these
# batches and what a collapsed grey texture gives (docs/RESULTS.md, "LSGAN: why it never learnt", has both).
STRUCTURE_FLOOR = 0.08
VARIETY_FLOOR = 0.035


def scalar_values(run_dir, tag: str) -> list[float]:
    accumulator = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    accumulator.Reload()
    return [event.value for event in accumulator.Scalars(tag)]


@pytest.mark.slow
@pytest.mark.long
@pytest.mark.skipif(not REAL_FACES.is_dir(), reason=NEEDS_REAL_FACES)
@pytest.mark.parametrize("loss", ["bce", "lsgan", "hinge"])
def test_each_loss_learns_varied_faces_with_its_defaults(tmp_path, loss):
    cfg = compose_train(
        f"data.root={REAL_FACES}",
        "model=dcgan32",
        "data.batch_size=128",  # the batch the floors above were set for, whatever dcgan32's recipe batch is
        f"loss={loss}",
        "model.ema_kimg=null",  # the raw generator: what the loss taught
        f"trainer.max_steps={BATCHES}",
        "trainer.max_epochs=100",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        "callbacks.rich_progress_bar=null",
        "callbacks.progress_gif=null",
        f"paths.cache_dir={tmp_path / 'cache'}",
        output_dir=tmp_path / "run",
    )
    train(cfg)

    g_losses, d_losses = scalar_values(tmp_path / "run", "loss/g"), scalar_values(tmp_path / "run", "loss/d")
    assert all(math.isfinite(value) for value in g_losses + d_losses)
    late = g_losses[len(g_losses) // 2 :]
    assert sum(late) / len(late) < 10, f"{loss}: G's loss {sum(late) / len(late):.1f} in the second half"

    generator, _ = load_generator(tmp_path / "run" / "checkpoints" / "last.ckpt")
    with torch.no_grad():
        images = generator(torch.randn(256, generator.latent_dim, generator=torch.Generator().manual_seed(0)))
    coarse = F.avg_pool2d(images, 4)  # (256, 3, 8, 8)
    structure = coarse.flatten(1).std(dim=1).mean().item()  # light and dark regions within a face
    variety = coarse.std(dim=0).mean().item()  # how much the faces differ from each other
    assert structure > STRUCTURE_FLOOR, f"{loss}: samples have a coarse contrast of {structure:.3f}: a flat texture"
    assert variety > VARIETY_FLOOR, f"{loss}: samples differ by {variety:.3f}: the same image for every z"
