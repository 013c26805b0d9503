"""The nearest training images of any face: Inception features of every training image (extracted once per dataset
and cached beside FID's real features), searched with the generated face's own features."""

from dataclasses import dataclass
from typing import Any

import torch

from facegan.metrics.evaluator import GeneratorEvaluator
from facegan.metrics.features import extract_features, real_images
from facegan.metrics.neighbours import nearest, nearest_k


@dataclass(frozen=True)
class Neighbour:
    index: int  # the image's index in the dataset
    distance: float
    image: torch.Tensor  # (3, S, S) in [-1, 1]


class TrainingNeighbours:
    """Looks faces up among a set-up datamodule's images."""

    def __init__(self, evaluator: GeneratorEvaluator, datamodule: Any, device: torch.device):
        self.evaluator = evaluator
        self.device = device
        self.images = real_images(datamodule)
        self.features = evaluator.training_features(datamodule, device).cpu()
        # a real face's typical distance to its nearest other training image: a scale to read distances against
        self.typical_distance = float(nearest(self.features, self.features, exclude_self=True)[0].median())

    def __call__(self, faces: torch.Tensor, count: int) -> list[list[Neighbour]]:
        """The `count` nearest training images of each face (B, 3, S, S) in [-1, 1], nearest first."""
        features = extract_features(self.evaluator.extractor, [faces], self.device).cpu()
        distances, indices = nearest_k(features, self.features, min(count, len(self.features)))
        return [
            [Neighbour(int(index), float(distance), torch.as_tensor(self.images[int(index)]))
             for distance, index in zip(row_distances, row_indices)]
            for row_distances, row_indices in zip(distances, indices)
        ]  # fmt: skip
