"""Nearest neighbours on features: precision and recall (k=3) and the memorization report, against brute force
and against sets whose answer is known (a copy, a collapsed generator, faces far from everything)."""

import pytest
import torch

from facegan.metrics import neighbours
from facegan.metrics.memorization import memorization_report
from facegan.metrics.neighbours import inside_any_ball, kth_neighbour_radii, nearest
from facegan.metrics.precision_recall import precision_recall


def features(count: int, seed: int, dim: int = 16, shift: float = 0.0) -> torch.Tensor:
    return torch.randn(count, dim, generator=torch.Generator().manual_seed(seed)) + shift


def brute_precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int) -> tuple[float, float]:
    def coverage(queries, centres):
        radii = [sorted(float((centre - other).norm()) for other in centres)[k] for centre in centres]
        inside = [
            any(float((query - centre).norm()) <= radius for centre, radius in zip(centres, radii)) for query in queries
        ]
        return sum(inside) / len(inside)

    return coverage(fake, real), coverage(real, fake)


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(neighbours, "CHUNK_ROWS", 7)  # several chunks, the last one short


def test_precision_and_recall_equal_the_papers_definition_computed_by_brute_force(small_chunks):
    real, fake = features(40, 0), features(30, 1, shift=0.7)
    assert precision_recall(real, fake, k=3) == pytest.approx(brute_precision_recall(real, fake, k=3))


def test_a_set_against_itself_has_full_precision_and_recall():
    real = features(50, 0)
    assert precision_recall(real, real.clone()) == (1.0, 1.0)


def test_a_collapsed_generator_keeps_precision_and_loses_recall():
    """Recall sees the mode collapse: every generated face lies among the real ones, but they cover one corner."""
    real = features(200, 0)
    collapsed = real[:3].repeat(70, 1) + 0.01 * features(210, 1)
    precision, recall = precision_recall(real, collapsed)
    assert precision == 1.0 and recall < 0.1


def test_faces_far_from_the_real_ones_have_no_precision():
    precision, recall = precision_recall(features(100, 0), features(100, 1, shift=50.0))
    assert precision == 0.0 and recall == 0.0


def test_precision_and_recall_need_more_images_than_neighbours():
    with pytest.raises(ValueError, match="more than 3 generated images"):
        precision_recall(features(10, 0), features(3, 1))


def test_nearest_leaves_a_row_out_of_its_own_neighbours(small_chunks):
    points = features(20, 0)
    distances, indices = nearest(points, points, exclude_self=True)
    full = torch.cdist(points.double(), points.double()) + torch.diag(torch.full((20,), float("inf")))
    assert torch.equal(indices, full.argmin(dim=1)) and torch.allclose(distances, full.min(dim=1).values)
    assert (indices != torch.arange(20)).all()


def test_radii_are_the_kth_other_row_and_balls_hold_their_centres():
    points = features(12, 3)
    radii = kth_neighbour_radii(points, 3)
    full = torch.cdist(points.double(), points.double()).sort(dim=1).values
    assert torch.allclose(radii, full[:, 3])
    assert inside_any_ball(points, points, radii).all()


def test_copies_of_training_images_are_reported_with_the_images_they_copy(small_chunks):
    training, held_out = features(100, 0), features(50, 1)
    copies = training[[5, 17, 42]] + 1e-3 * features(3, 2)
    generated = torch.cat([features(37, 3), copies])  # rows 37, 38, 39 are the copies
    report = memorization_report(generated, training, held_out=held_out, pairs=3)
    assert {(pair.generated, pair.training) for pair in report.closest} == {(37, 5), (38, 17), (39, 42)}
    assert [pair.distance for pair in report.closest] == sorted(pair.distance for pair in report.closest)
    assert all(pair.distance < 0.01 for pair in report.closest)
    assert report.reference == "held-out images" and report.num_generated == 40 and report.num_training == 100


def test_new_faces_score_near_one_and_a_memorizing_generator_near_zero():
    training, held_out = features(300, 0), features(100, 1)
    new_faces = memorization_report(features(200, 2), training, held_out=held_out)
    copied = memorization_report(training[:200] + 0.01 * features(200, 3), training, held_out=held_out)
    assert 0.9 < new_faces.ratio < 1.1
    assert copied.ratio < 0.05


def test_without_held_out_images_the_training_images_leave_one_out_are_the_reference():
    training = features(100, 0)
    report = memorization_report(features(80, 1), training)
    expected = nearest(training, training, exclude_self=True)[0].median()
    assert report.reference == "training images, leave-one-out"
    assert report.reference_median == pytest.approx(float(expected))
    assert 0.8 < report.ratio < 1.2


def test_a_training_set_of_duplicates_gives_no_ratio_rather_than_infinity():
    training = features(1, 0).repeat(10, 1)
    assert memorization_report(features(5, 1), training).ratio is None
