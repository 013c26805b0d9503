"""The generator's latent space, for every tool that draws faces (sample, export, evaluate, the explorer): seeded
z, the truncation trick and spherical interpolation."""

import torch

from facegan.errors import ConfigError


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
