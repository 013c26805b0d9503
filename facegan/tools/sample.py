"""Images from a trained generator: seeded latents, truncation, spherical latent walks, and the files
`scripts/sample.py` writes (grid.png, samples/sample_NNNN.png, interpolation.png).

Any number of samples: z are drawn, images generated and written batch by batch, so memory holds one batch of
images (and the few the grid shows); the output folder is checked before anything loads, so no output replaces an
input (the checkpoint) and no run ends in a traceback on a path that could never be written.
"""

import fnmatch
import logging
import math
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch
from omegaconf import DictConfig
from torch import nn
from torchvision.utils import save_image

from facegan.checkpoints.trained_generator import check_checkpoint_path, load_generator
from facegan.errors import ConfigError, require_integer
from facegan.figures import image_grid
from facegan.fileio import atomic_write, output_file_error, same_file
from facegan.latent import check_truncation, slerp, truncate
from facegan.runtime.devices import resolve_device

log = logging.getLogger(__name__)

# z are drawn this many at a time from the seed's stream, whatever batch_size is, so that batch_size never changes
# which faces a seed gives (and up to this many samples get exactly the z of one draw, random_latents).
LATENT_BLOCK = 4096
SAMPLES_FOLDER = "samples"
SAMPLE_FILES = "sample_*.png"  # in SAMPLES_FOLDER: the command's own, removed before it writes its new ones


def latent_blocks(count: int, latent_dim: int, seed: int) -> Iterator[torch.Tensor]:
    """The `count` z of a seed, (<= LATENT_BLOCK, latent_dim) at a time, from one stream on the CPU; up to
    LATENT_BLOCK of them are exactly random_latents(count, latent_dim, seed)."""
    stream = torch.Generator().manual_seed(seed)
    for start in range(0, count, LATENT_BLOCK):
        yield torch.randn(min(LATENT_BLOCK, count - start), latent_dim, generator=stream)


def check_walks(num_samples: int, walks: int, steps: int) -> None:
    if not isinstance(walks, int) or not isinstance(steps, int) or walks < 1 or steps < 2:
        raise ConfigError(f"walks={walks}, steps={steps}: need walks >= 1 and steps >= 2 (the two endpoints)")
    if num_samples < walks + 1:
        raise ConfigError(
            f"walks={walks} needs num_samples >= {walks + 1} (got {num_samples}): raise num_samples or lower walks"
        )


def latent_walks(z: torch.Tensor, walks: int, steps: int) -> torch.Tensor:
    """A tour through z[0] -> z[1] -> ... -> z[walks], one leg per walk: (walks * steps, D), leg by leg.
    Each leg starts and ends exactly on a sample's z, so its first and last images are those samples."""
    check_walks(len(z), walks, steps)
    fractions = torch.linspace(0.0, 1.0, steps)
    return slerp(z[:walks], z[1 : walks + 1], fractions).reshape(walks * steps, z.shape[1])


@torch.no_grad()
def generate(generator: nn.Module, z_blocks: Iterable[torch.Tensor], batch_size: int) -> Iterator[torch.Tensor]:
    """Images (<= batch_size, 3, S, S) in [-1, 1] on the CPU, one batch at a time, for z given in blocks of any
    size: a caller that writes each batch before asking for the next holds one batch of images, whatever N."""
    device = next(generator.parameters()).device
    for block in z_blocks:
        for chunk in block.split(batch_size):
            yield generator(chunk.to(device)).cpu()


def square_grid_columns(count: int) -> int:
    """Images per grid row that make a near-square grid (8 for 64)."""
    return math.ceil(math.sqrt(count))


def save_png(image: torch.Tensor, path: Path) -> None:
    """A (3, H, W) picture in [0, 1] as a PNG, written atomically (a viewer never sees half a file)."""
    with atomic_write(path) as partial:
        save_image(image, partial, format="PNG")


def sample_name(index: int, count: int) -> str:
    """sample_0000.png, ...: four digits, more when `count` needs them, so the names sort in sample order."""
    return f"sample_{index:0{max(4, len(str(count - 1)))}d}.png"


def remove_samples(folder: Path) -> None:
    """Remove the sample_*.png an earlier run left, so the folder holds exactly this command's samples."""
    for stale in folder.glob(SAMPLE_FILES):
        stale.unlink()


def save_each(images: torch.Tensor, folder: Path, first: int, count: int) -> None:
    """Images `first`, `first` + 1, ... of `count` as one PNG each."""
    for offset, image in enumerate(images):
        # a one-image grid has no gutter: the bare image
        save_png(image_grid(image[None], nrow=1), folder / sample_name(first + offset, count))


def check_outputs(cfg: DictConfig, checkpoint: Path) -> None:
    """One-line ConfigErrors for an outdir where the command's files cannot go, or where one of them (or a
    stale sample it removes) would be the checkpoint it reads."""
    if not cfg.outdir:
        raise ConfigError("outdir is not set: give the folder for the images, e.g. outdir=outputs/sample")
    outdir = Path(str(cfg.outdir)).expanduser()
    fix = "give a folder of its own for the images, e.g. outdir=outputs/sample"
    if outdir.exists() and not outdir.is_dir():
        raise ConfigError(f"outdir={cfg.outdir} is a file, not a folder: {fix}")
    samples = outdir / SAMPLES_FOLDER
    if samples.exists() and not samples.is_dir():
        raise ConfigError(f"outdir={cfg.outdir} holds a file {SAMPLES_FOLDER}, where the sample images go: {fix}")
    if same_file(checkpoint.parent, samples) and fnmatch.fnmatch(checkpoint.name, SAMPLE_FILES):
        raise ConfigError(f"outdir={cfg.outdir} would replace the checkpoint ckpt_path={cfg.ckpt_path}: {fix}")
    files = ["grid.png", "interpolation.png"] if cfg.interpolate else ["grid.png"]
    for name in files:
        problem = output_file_error(outdir / name, {"ckpt_path": checkpoint})
        if problem:
            raise ConfigError(f"outdir={cfg.outdir}: {outdir / name} {problem}: {fix}")


def check_sample_config(cfg: DictConfig) -> None:
    """One-line ConfigErrors for values that cannot work, before the checkpoint is loaded."""
    checkpoint = check_checkpoint_path(cfg.ckpt_path)
    if not isinstance(cfg.num_samples, int) or cfg.num_samples <= 0:
        raise ConfigError(f"num_samples={cfg.num_samples} must be a positive integer, e.g. num_samples=64")
    require_integer("batch_size", cfg.batch_size, 1, 256)
    require_integer("grid_images", cfg.grid_images, 1, 64)
    check_truncation(cfg.truncation)
    if cfg.interpolate:
        check_walks(cfg.num_samples, cfg.walks, cfg.steps)
    resolve_device(cfg.device)
    check_outputs(cfg, checkpoint)


def sample(cfg: DictConfig) -> dict[str, Path]:
    """Write grid.png, samples/sample_NNNN.png and, with interpolate=true, interpolation.png into cfg.outdir."""
    check_sample_config(cfg)
    generator, info = load_generator(cfg.ckpt_path, map_location=resolve_device(cfg.device))
    log.info(
        "%s: %dx%d images, latent_dim=%d, %s weights (epoch %d)",
        info.ckpt_path,
        info.image_size,
        info.image_size,
        info.latent_dim,
        info.weights,
        info.epoch,
    )
    outdir = Path(str(cfg.outdir)).expanduser()
    written = {"grid": outdir / "grid.png", "samples": outdir / SAMPLES_FOLDER}
    written["samples"].mkdir(parents=True, exist_ok=True)
    remove_samples(written["samples"])

    walk_count = cfg.walks + 1 if cfg.interpolate else 0
    walk_ends = torch.empty(0, info.latent_dim)  # the z of samples 0 .. walks, where the latent walks go
    grid: list[torch.Tensor] = []  # copies of the first grid_images images: no batch is kept for them
    done = 0
    for z in latent_blocks(cfg.num_samples, info.latent_dim, cfg.seed):
        z = truncate(z, cfg.truncation)
        walk_ends = torch.cat([walk_ends, z[: walk_count - len(walk_ends)]])
        for images in generate(generator, [z], cfg.batch_size):
            if done < cfg.grid_images:
                grid.append(images[: cfg.grid_images - done].clone())
            save_each(images, written["samples"], done, cfg.num_samples)
            done += len(images)
    grid_images = torch.cat(grid)
    save_png(image_grid(grid_images, square_grid_columns(len(grid_images))), written["grid"])
    log.info(
        "Wrote %s (of the first %d) and %d images in %s", written["grid"], len(grid_images), done, written["samples"]
    )
    if cfg.interpolate:
        walks = latent_walks(walk_ends, cfg.walks, cfg.steps)
        walk_images = torch.cat(list(generate(generator, [walks], cfg.batch_size)))  # (walks * steps, 3, S, S)
        written["interpolation"] = outdir / "interpolation.png"
        save_png(image_grid(walk_images, nrow=cfg.steps), written["interpolation"])
        log.info(
            "Wrote %s: %d walks of %d steps, through samples 0 -> 1 -> ... -> %d",
            written["interpolation"],
            cfg.walks,
            cfg.steps,
            cfg.walks,
        )
    return written
