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


@torch.no_grad()
def first_layer_features(generator: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """(N, D) activations of the generator's first layer (the module its FIRST_FEATURES names) for z, flattened."""
    layer = generator.get_submodule(generator.FIRST_FEATURES)
    captured = []
    handle = layer.register_forward_hook(lambda module, inputs, output: captured.append(output.detach().clone()))
    try:
        generator(z)
    finally:
        handle.remove()
    return captured[0].flatten(1).double()


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
    # the SVD of the centred features: rows of components are the principal axes, strongest first
    _, singular, components = torch.linalg.svd(centred, full_matrices=False)
    coordinates = centred @ components[:count].T  # (samples, count)
    vectors = torch.linalg.lstsq(coordinates, z.double()).solution  # (count, latent_dim): z ~ coordinates @ vectors
    vectors = vectors / vectors.norm(dim=1, keepdim=True)
    variance = singular**2
    return LatentDirections(vectors.float(), (variance[:count] / variance.sum()).float())
