"""Nearest neighbours between sets of features, in row chunks so that two 10k-row sets never need their whole
distance matrix at once. The one home of "how far is each of these from those": precision and recall, the
memorization report and the explorer's nearest training images all ask it."""

import torch

CHUNK_ROWS = 1024  # query rows per distance block: a (1024, N) block of float32 stays small for N in the 100k


def pairwise_distances(queries: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
    """Euclidean distances (Q, S) between rows, computed in float64: float32's cancellation in |a|^2 + |b|^2 - 2ab
    would misorder near-duplicates, the very pairs the memorization check looks for. Apple's GPU has no float64, so
    there the distances are computed on the CPU."""
    if queries.device.type == "mps":
        queries, support = queries.cpu(), support.cpu()
    return torch.cdist(queries.double(), support.double())


def nearest(
    queries: torch.Tensor, support: torch.Tensor, exclude_self: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """For each query row, the distance to its nearest support row and that row's index. exclude_self: the queries
    are the support itself (same rows, same order), and a row is not its own neighbour."""
    distances, indices = [], []
    for start in range(0, len(queries), CHUNK_ROWS):
        block = pairwise_distances(queries[start : start + CHUNK_ROWS], support)
        if exclude_self:
            rows = torch.arange(len(block))
            block[rows, rows + start] = float("inf")
        found = block.min(dim=1)
        distances.append(found.values)
        indices.append(found.indices)
    return torch.cat(distances), torch.cat(indices)


def nearest_k(queries: torch.Tensor, support: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k nearest support rows of each query, nearest first: distances (Q, k) and indices (Q, k)."""
    distances, indices = [], []
    for start in range(0, len(queries), CHUNK_ROWS):
        found = pairwise_distances(queries[start : start + CHUNK_ROWS], support).topk(k, dim=1, largest=False)
        distances.append(found.values)
        indices.append(found.indices)
    return torch.cat(distances), torch.cat(indices)


def kth_neighbour_radii(features: torch.Tensor, k: int) -> torch.Tensor:
    """Each row's distance to its k-th nearest other row of the same set: the radius of its ball in the
    k-nearest-neighbour estimate of the set's manifold (a row is its own 0th neighbour, at distance 0)."""
    return nearest_k(features, features, k + 1)[0][:, k]


def inside_any_ball(queries: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """(Q,) bool: whether each query lies within some centre's ball."""
    inside = []
    for start in range(0, len(queries), CHUNK_ROWS):
        block = pairwise_distances(queries[start : start + CHUNK_ROWS], centres)
        inside.append((block <= radii.double().unsqueeze(0)).any(dim=1))
    return torch.cat(inside)
