"""render_face(index, seed, size) and the SyntheticFaces dataset built on it."""

import operator

import numpy as np
import torch
from torch.utils.data import Dataset

from facegan.data.decoding import to_model_range
from facegan.data.synthetic.attributes import sample_face
from facegan.data.synthetic.drawing import draw
from facegan.errors import ConfigError

# Below this a face has too few pixels for its features (the models start at 16).
MIN_RENDER_SIZE = 8


def check_image_size(size: int) -> None:
    if size < MIN_RENDER_SIZE:
        raise ConfigError(
            f"data.image_size={size} is too small for the synthetic faces: use at least {MIN_RENDER_SIZE} "
            "(e.g. model=dcgan32)"
        )


def render_face(index: int, seed: int, size: int) -> np.ndarray:
    """Face `index` of the dataset with `seed` as a (size, size, 3) uint8 RGB array. It depends only on the
    arguments, never on global RNG state or call order."""
    index, seed, size = operator.index(index), operator.index(seed), operator.index(size)
    check_image_size(size)
    if index < 0:
        raise IndexError(f"index {index} of the synthetic faces must be non-negative")
    rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
    return draw(sample_face(rng), size)


class SyntheticFaces(Dataset):
    """`num_images` procedurally drawn faces, rendered on demand: float32 (3, image_size, image_size) in
    [-1, 1], the range of the generator's Tanh. Nothing is stored: each item is redrawn from (seed, index),
    so workers need no shared state."""

    def __init__(self, num_images: int, image_size: int, seed: int) -> None:
        check_image_size(image_size)
        self.num_images = int(num_images)
        self.image_size = int(image_size)
        self.seed = int(seed)

    def __len__(self) -> int:
        return self.num_images

    def _resolve(self, index: int) -> int:
        index = operator.index(index)
        if not -self.num_images <= index < self.num_images:
            raise IndexError(f"index {index} out of range for SyntheticFaces of length {self.num_images}")
        return index % self.num_images

    def render_uint8(self, index: int) -> np.ndarray:
        """Item `index` as a (S, S, 3) uint8 RGB array, skipping tensor conversion."""
        return render_face(self._resolve(index), self.seed, self.image_size)

    def __getitem__(self, index: int) -> torch.Tensor:
        return to_model_range(self.render_uint8(index))
