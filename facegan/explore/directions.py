"""Latent directions found without labels, the GANSpace way (Harkonen et al., 2020).

Many z go through the generator's first layer; the principal components of those activations are the ways the
first features vary most. Each is mapped back to z by a least-squares regression of z on the component coordinates,
so a direction is a vector in z: moving a face's z along it changes what that component controls (often pose,
lighting, hair or background in face GANs), and the rest of the face much less."""

from dataclasses import dataclass

import torch
from torch import nn

from facegan.latent import random_latents


@dataclass(frozen=True)
class LatentDirections:
    """Unit vectors (K, latent_dim) in z, strongest component first, and the share of the first layer's variance each
    component explains."""

    vectors: torch.Tensor
    explained: torch.Tensor

    def __len__(self) -> int:
        return len(self.vectors)

    def move(self, z: torch.Tensor, amounts: list[float]) -> torch.Tensor:
        """z (latent_dim,) moved by amounts[k] along direction k (in units of the prior's standard deviation)."""
        return z + torch.as_tensor(amounts, dtype=z.dtype) @ self.vectors


class FirstLayerReached(Exception):
    """Stops a forward pass once the first layer has run: the rest of the generator is not needed."""

    def __init__(self, output: torch.Tensor):
        self.output = output


@torch.no_grad()
def first_layer_features(generator: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """(N, D) activations of the generator's first layer (the module its FIRST_FEATURES names) for z, flattened."""

    def stop(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        raise FirstLayerReached(output.detach().clone())

    handle = generator.get_submodule(generator.FIRST_FEATURES).register_forward_hook(stop)
    try:
        generator(z)
    except FirstLayerReached as reached:
        return reached.output.flatten(1).double()
    finally:
        handle.remove()
    raise AssertionError(f"{generator.FIRST_FEATURES} did not run in {type(generator).__name__}'s forward pass")


@torch.no_grad()
def find_directions(
    generator: nn.Module, count: int, samples: int, seed: int, device: torch.device, batch_size: int = 256
) -> LatentDirections:
    """The first `count` principal directions of the generator's first layer over `samples` z drawn from `seed`."""
    z = random_latents(samples, generator.latent_dim, seed)
    features = torch.cat([
        first_layer_features(generator, chunk.to(device)).cpu() for chunk in z.split(batch_size)
    ])  # fmt: skip
    centred = features - features.mean(dim=0)
    count = min(count, samples - 1, centred.shape[1])
    # Only the strongest components are wanted: a randomized SVD finds them at a small share of a full SVD's cost
    # (the first layer of a 128px generator has tens of thousands of activations). Its columns of `axes` are the
    # principal axes, strongest first; a few extra ones and power iterations keep the first `count` accurate.
    _, singular, axes = torch.svd_lowrank(centred, q=min(count + 10, *centred.shape), niter=6)
    coordinates = centred @ axes[:, :count]  # (samples, count)
    vectors = torch.linalg.lstsq(coordinates, z.double()).solution  # (count, latent_dim): z ~ coordinates @ vectors
    vectors = vectors / vectors.norm(dim=1, keepdim=True)
    explained = singular[:count] ** 2 / centred.square().sum()
    return LatentDirections(vectors.float(), explained.float())
