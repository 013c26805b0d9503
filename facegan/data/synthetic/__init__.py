"""Procedurally drawn synthetic faces: the no-download dataset (`data=synthetic`).

CelebA is large and gated behind a manual download, which makes it useless for
a first demo run and for tests. This module draws cartoon-like but clearly
face-shaped portraits instead, framed like aligned CelebA crops: a roughly
centred head filling most of the frame, neck and shoulders at the bottom.

Every image is a pure function of ``(seed, index, size)``: its random choices
come from a generator seeded with ``SeedSequence([seed, index])``, so an image
is identical regardless of call order, worker process or machine, and the
dataset needs no storage at all. All attributes are sampled before anything
is drawn, so the same ``(seed, index)`` gives the same face at every size.

Faces vary in skin tone, head shape, hair style and colour, eyes, brows,
nose, mouth, ears, facial hair, glasses, clothing, background and pose, so a
GAN trained on them has real modes to learn rather than one template.

Drawing is done with PIL at a supersampled resolution (at least 128 px) and
box-filtered down to the requested size, which anti-aliases every edge while
keeping the cost near a millisecond per 64x64 image on one CPU core.
"""

from facegan.data.synthetic.dataset import MIN_RENDER_SIZE, SyntheticFaces, render_face

__all__ = ["MIN_RENDER_SIZE", "SyntheticFaces", "render_face"]
