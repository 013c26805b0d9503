"""Images from a trained generator: seeded latents, truncation, spherical latent walks, and the files
`scripts/sample.py` writes (grid.png, samples/sample_NNNN.png, interpolation.png)."""

import logging
import math
from pathlib import Path

import torch
from omegaconf import DictConfig
from torch import nn
from torchvision.utils import save_image

from facegan.callbacks.figures import image_grid
from facegan.checkpoints.trained_generator import check_checkpoint_path, load_generator
from facegan.errors import ConfigError
from facegan.runtime.devices import resolve_device

log = logging.getLogger(__name__)


def random_latents(count: int, latent_dim: int, seed: int) -> torch.Tensor:
    """(count, latent_dim) standard normal z. Drawn on the CPU so a seed gives the same z on every device."""
    return torch.randn(count, latent_dim, generator=torch.Generator().manual_seed(seed))


def check_truncation(psi: float) -> None:
    if not isinstance(psi, (int, float)) or not 0 < psi <= 1:
        raise ConfigError(f"truncation={psi} must be in (0, 1]: 1 is off, e.g. truncation=0.7 for more typical faces")


def truncate(z: torch.Tensor, psi: float) -> torch.Tensor:
    """The truncation trick: pull z toward the mean of its prior (0 for N(0, I)) by the factor psi in (0, 1].
    Smaller psi gives more typical, less varied faces; psi = 1 leaves z unchanged."""
    check_truncation(psi)
    return z * psi


def slerp(start: torch.Tensor, end: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation from start to end (N, D) at fractions t (T,) -> (N, T, D); exact at t = 0 and 1.

    Gaussian z of high dimension live near a sphere: a straight line between two of them passes through
    low-norm z the generator never saw in training, the great-circle path does not (White, 2016).
    """
    start_dir = start / start.norm(dim=-1, keepdim=True)
    end_dir = end / end.norm(dim=-1, keepdim=True)
    omega = torch.acos((start_dir * end_dir).sum(dim=-1).clamp(-1.0, 1.0))[:, None, None]  # (N, 1, 1) angle
    t = t.to(start.dtype)[None, :, None]  # (1, T, 1)
    start, end = start[:, None, :], end[:, None, :]  # (N, 1, D)
    sin_omega = torch.sin(omega)
    # Weights first: at t = 0 and 1 they are exactly 1 and 0, so the ends are exactly start and end.
    spherical = torch.sin((1 - t) * omega) / sin_omega * start + torch.sin(t * omega) / sin_omega * end
    linear = (1 - t) * start + t * end  # the limit for (anti)parallel z, where sin(omega) -> 0
    return torch.where(sin_omega.abs() > 1e-6, spherical, linear)


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
def generate(generator: nn.Module, z: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """(N, 3, S, S) images in [-1, 1] on the CPU, in batches so that any N fits in memory."""
    device = next(generator.parameters()).device
    return torch.cat([generator(chunk.to(device)).cpu() for chunk in z.split(batch_size)])


def square_grid_columns(count: int) -> int:
    """Images per grid row that make a near-square grid (8 for 64)."""
    return math.ceil(math.sqrt(count))


def save_each(images: torch.Tensor, folder: Path) -> list[Path]:
    """One PNG per image, sample_0000.png, ...; earlier sample_*.png there are removed first, so the folder
    holds exactly this command's samples."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("sample_*.png"):
        stale.unlink()
    paths = []
    for index, image in enumerate(images):
        path = folder / f"sample_{index:04d}.png"
        save_image(image_grid(image[None], nrow=1), path)  # a one-image grid has no gutter: the bare image
        paths.append(path)
    return paths


def check_sample_config(cfg: DictConfig) -> None:
    """One-line ConfigErrors for values that cannot work, before the checkpoint is loaded."""
    check_checkpoint_path(cfg.ckpt_path)
    if not isinstance(cfg.num_samples, int) or cfg.num_samples <= 0:
        raise ConfigError(f"num_samples={cfg.num_samples} must be a positive integer, e.g. num_samples=64")
    check_truncation(cfg.truncation)
    if cfg.interpolate:
        check_walks(cfg.num_samples, cfg.walks, cfg.steps)
    resolve_device(cfg.device)


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
    z = truncate(random_latents(cfg.num_samples, info.latent_dim, cfg.seed), cfg.truncation)
    images = generate(generator, z)

    outdir = Path(cfg.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    written = {"grid": outdir / "grid.png"}
    save_image(image_grid(images, square_grid_columns(len(images))), written["grid"])
    written["samples"] = outdir / "samples"
    count = len(save_each(images, written["samples"]))
    log.info("Wrote %s and %d images in %s", written["grid"], count, written["samples"])
    if cfg.interpolate:
        walk_images = generate(generator, latent_walks(z, cfg.walks, cfg.steps))
        written["interpolation"] = outdir / "interpolation.png"
        save_image(image_grid(walk_images, nrow=cfg.steps), written["interpolation"])
        log.info(
            "Wrote %s: %d walks of %d steps, through samples 0 -> 1 -> ... -> %d",
            written["interpolation"],
            cfg.walks,
            cfg.steps,
            cfg.walks,
        )
    return written
