"""What the explorer page does, on tensors and pictures, with no web in it: app.py wires each method to the page,
and the tests call them directly."""

from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torch import nn

from facegan.explore.directions import LatentDirections
from facegan.explore.images import to_picture, to_pictures
from facegan.explore.training_neighbours import TrainingNeighbours
from facegan.figures import captioned_frame, image_grid, write_gif
from facegan.latent import random_latents, slerp, truncate


@dataclass(frozen=True)
class ExplorerSettings:
    page_size: int  # faces per page
    columns: int  # faces per row of a page
    display_size: int  # pixels a face is drawn wide
    frame_ms: int  # an interpolation animation's frame time


class Explorer:
    """generators: name -> generator in eval mode, the first one the main one (the directions are its own); the others
    are shown beside it on the same z. neighbours: None when no training data was given."""

    def __init__(
        self,
        generators: dict[str, nn.Module],
        directions: LatentDirections,
        neighbours: TrainingNeighbours | None,
        device: torch.device,
        settings: ExplorerSettings,
    ):
        self.generators = generators
        self.main = next(iter(generators))
        self.directions = directions
        self.neighbours = neighbours
        self.device = device
        self.settings = settings
        self.latent_dim = generators[self.main].latent_dim

    @torch.no_grad()
    def generate(self, z: torch.Tensor, name: str | None = None) -> torch.Tensor:
        """Faces (B, 3, S, S) in [-1, 1] on the CPU from z (B, latent_dim)."""
        generator = self.generators[name or self.main]
        return generator(z.to(self.device, torch.float32)).float().cpu()

    def page(self, seed: int, psi: float) -> tuple[list[Image.Image], torch.Tensor]:
        """The page of faces of `seed` at truncation psi, and their z (page_size, latent_dim)."""
        z = truncate(random_latents(self.settings.page_size, self.latent_dim, seed), psi)
        return to_pictures(self.generate(z), self.settings.display_size), z

    def picture(self, z: torch.Tensor, name: str | None = None) -> Image.Image:
        """One face (z of shape (latent_dim,)) as a picture."""
        return to_picture(self.generate(z.unsqueeze(0), name), 1, self.settings.display_size)

    def strip(self, z: torch.Tensor) -> Image.Image:
        """The faces of z (B, latent_dim) in one row, left to right."""
        return to_picture(self.generate(z), len(z), self.settings.display_size)

    def interpolation(self, start: torch.Tensor, end: torch.Tensor, steps: int, gif: Path) -> Image.Image:
        """The strip of `steps` faces along the spherical path from start to end, and the same as an animation written
        to `gif` (there and back, so that it loops without a jump)."""
        path = slerp(start[None], end[None], torch.linspace(0, 1, steps))[0]
        faces = self.generate(path)
        strip = to_picture(faces, steps, self.settings.display_size)
        frames = [captioned_frame(image_grid(face.unsqueeze(0), nrow=1), f"{step + 1}/{steps}")
                  for step, face in enumerate(faces)]  # fmt: skip
        frames += frames[-2:0:-1]
        write_gif(frames, gif, self.settings.frame_ms, self.settings.frame_ms)
        return strip

    def moved(self, z: torch.Tensor, amounts: list[float]) -> Image.Image:
        """The face of z moved along every direction by its amount."""
        return self.picture(self.directions.move(z, amounts))

    def direction_sweep(self, z: torch.Tensor, amounts: list[float]) -> Image.Image:
        """One row per direction: the face of z moved along it by each of `amounts`. What each direction controls, at
        a glance."""
        rows = []
        for direction in range(len(self.directions)):
            for amount in amounts:
                steps = [0.0] * len(self.directions)
                steps[direction] = amount
                rows.append(self.directions.move(z, steps))
        return to_picture(self.generate(torch.stack(rows)), len(amounts), self.settings.display_size)

    def nearest_training(self, z: torch.Tensor, count: int) -> list[tuple[Image.Image, str]]:
        """The face of z, then its `count` nearest training images, captioned with their distances."""
        assert self.neighbours is not None, "the explorer was started without training data"
        face = self.generate(z.unsqueeze(0))
        found = self.neighbours(face, count)[0]
        typical = self.neighbours.typical_distance
        shown = [(to_picture(face, 1, self.settings.display_size), "generated")]
        for neighbour in found:
            picture = to_picture(neighbour.image.unsqueeze(0), 1, self.settings.display_size)
            shown.append(
                (picture, f"image {neighbour.index}: {neighbour.distance:.1f} ({neighbour.distance / typical:.2f})")
            )
        return shown

    def compare(self, z: torch.Tensor, left: str, right: str) -> tuple[Image.Image, Image.Image]:
        """The same z (B, latent_dim) through two of the generators, as two grids."""
        columns, size = self.settings.columns, self.settings.display_size
        return to_picture(self.generate(z, left), columns, size), to_picture(self.generate(z, right), columns, size)
