"""Improved precision and recall (Kynkaanniemi et al., 2019) on the features FID uses.

Each set's manifold is the union of balls around its points, each ball as wide as the distance to the point's
k-th nearest neighbour in its own set. Precision: the share of generated images inside the real manifold (are the
faces realistic?). Recall: the share of real images inside the generated manifold (does the generator cover the
data, or has it collapsed onto a few faces that FID may still score well?)."""

import torch

from facegan.metrics.neighbours import inside_any_ball, kth_neighbour_radii

# The paper's choice, which StyleGAN2-ADA's pr50k3 uses too.
NEIGHBOURHOOD_SIZE = 3


def precision_recall(
    real: torch.Tensor, fake: torch.Tensor, k: int = NEIGHBOURHOOD_SIZE, real_radii: torch.Tensor | None = None
) -> tuple[float, float]:
    """(precision, recall) of (N_fake, d) generated features against (N_real, d) real ones; both sets need more than
    k rows. real_radii: kth_neighbour_radii(real, k), when the caller keeps it across evaluations."""
    for name, features in (("real", real), ("generated", fake)):
        if len(features) <= k:
            raise ValueError(f"precision and recall with k={k} need more than {k} {name} images, got {len(features)}")
    if real_radii is None:
        real_radii = kth_neighbour_radii(real, k)
    precision = inside_any_ball(fake, real, real_radii).double().mean()
    recall = inside_any_ball(real, fake, kth_neighbour_radii(fake, k)).double().mean()
    return float(precision), float(recall)
