"""Is the generator copying its training images? Each generated face's distance to its nearest training image,
against the same distance for real faces the generator never saw.

A generator that learned the distribution makes new faces: they sit about as far from the training set as new real
faces do, and the ratio of the two medians is near 1 (or above: a weak generator's faces are far from everything).
A generator that memorised puts faces much nearer: the ratio falls towards 0, and the closest pairs, drawn side by
side, show the copies."""

from dataclasses import asdict, dataclass

import torch

from facegan.metrics.neighbours import nearest


@dataclass(frozen=True)
class ClosestPair:
    generated: int  # row of the generated sample
    training: int  # index of the training image
    distance: float


@dataclass(frozen=True)
class MemorizationReport:
    # median generated-to-training distance / median reference-to-training distance; None when the reference
    # median is 0 (the training set holds exact duplicates of most of its images: nothing to compare with)
    ratio: float | None
    generated_median: float
    reference_median: float
    reference: str  # what the reference faces were: held-out images, or the training images leave-one-out
    num_generated: int
    num_training: int
    closest: tuple[ClosestPair, ...]

    def as_dict(self) -> dict:
        return asdict(self)


def memorization_report(
    generated: torch.Tensor, training: torch.Tensor, held_out: torch.Tensor | None = None, pairs: int = 8
) -> MemorizationReport:
    """Features (N, d) of generated faces and of the training images, and of real faces never trained on when the
    caller has them; without them each training image's nearest other training image is the reference."""
    if len(training) < 2:
        raise ValueError(f"the memorization check needs at least 2 training images, got {len(training)}")
    distances, indices = nearest(generated, training)
    if held_out is not None:
        reference, name = nearest(held_out, training)[0], "held-out images"
    else:
        reference, name = nearest(training, training, exclude_self=True)[0], "training images, leave-one-out"
    order = distances.argsort()[:pairs].tolist()
    closest = tuple(ClosestPair(row, int(indices[row]), float(distances[row])) for row in order)
    generated_median, reference_median = float(distances.median()), float(reference.median())
    return MemorizationReport(
        ratio=generated_median / reference_median if reference_median > 0 else None,
        generated_median=generated_median,
        reference_median=reference_median,
        reference=name,
        num_generated=len(generated),
        num_training=len(training),
        closest=closest,
    )
