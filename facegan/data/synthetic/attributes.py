"""A face's sampled attributes: everything random is decided here, nothing while drawing, so the same
(seed, index) gives the same face at every size."""

from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from facegan.data.synthetic.palette import (
    DYED_HAIR_PROBABILITY,
    HAIR_COLOURS,
    HAIR_STYLES,
    IRIS_COLOURS,
    NATURAL_BROW,
    RGB,
    SKIN_ANCHORS,
    clip,
    hsv,
    mix,
    shade,
)

T = TypeVar("T")
MAX_TILT_DEG = 7.0  # the head's roll either way; drawing.MARGIN keeps the rotated frame filled


@dataclass(frozen=True)
class Head:
    cx: float
    cy: float
    rx: float
    ry: float
    jaw: float  # lower-face width relative to rx: <1 tapers, ~1 is square
    skin: RGB
    light: float  # horizontal light direction in [-1, 1]; shapes the shading
    feature_dx: float  # features shifted off-centre fake a slight head turn
    nose_width: float
    ears: bool


@dataclass(frozen=True)
class Hair:
    style: str
    colour: RGB
    brow_colour: RGB
    spread: float  # hair volume width relative to the head
    height: float  # hair volume height relative to the head
    hairline: float  # hairline height above head centre, in units of ry
    tilt: float  # hairline slope; gives side partings
    bow: float  # hairline curvature: >0 hair lower at the temples, <0 a swoop
    length: float  # bottom of long hair, frame units
    curly: bool
    beard: bool


@dataclass(frozen=True)
class Eyes:
    y: float
    spacing: float
    rx: float
    ry: float
    iris: RGB
    gaze: float
    brow_gap: float
    brow_thickness: float
    brow_angle: float
    brow_arch: float


@dataclass(frozen=True)
class Mouth:
    y: float
    half_width: float
    kind: str  # "smile", "grin", "neutral" or "open"
    lip: RGB


@dataclass(frozen=True)
class Glasses:
    frame: RGB
    lens: RGB | None  # None for clear lenses, a colour for sunglasses
    round: bool
    line: float


@dataclass(frozen=True)
class Scene:
    background: tuple[RGB, RGB]
    gradient: str  # "solid", "vertical" or "diagonal"
    clothes: RGB
    neckline: str  # "crew" or "v"
    shoulder_width: float
    tilt_deg: float
    scale: float
    shift_x: float


@dataclass(frozen=True)
class Face:
    scene: Scene
    head: Head
    hair: Hair
    eyes: Eyes
    mouth: Mouth
    glasses: Glasses | None


def choice(rng: np.random.Generator, options: tuple[tuple[T, float], ...]) -> T:
    weights = np.array([w for _, w in options])
    return options[rng.choice(len(options), p=weights / weights.sum())][0]


def sample_skin(rng: np.random.Generator) -> RGB:
    pos = rng.uniform(0.0, len(SKIN_ANCHORS) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(SKIN_ANCHORS) - 1)
    tone = SKIN_ANCHORS[lo] + (SKIN_ANCHORS[hi] - SKIN_ANCHORS[lo]) * (pos - lo)
    # Undertone: warmer (more red) or cooler (more yellow/olive) skins.
    warmth = rng.uniform(-8.0, 8.0)
    return clip(tone + np.array([warmth, 0.0, -warmth]))


def sample_hair_colour(rng: np.random.Generator) -> tuple[RGB, RGB]:
    """Return (hair colour, eyebrow colour)."""
    if rng.random() < DYED_HAIR_PROBABILITY:
        return hsv(rng.random(), rng.uniform(0.5, 0.8), rng.uniform(0.5, 0.85)), NATURAL_BROW
    base = choice(rng, HAIR_COLOURS)
    colour = shade(base, rng.uniform(0.85, 1.15))
    # Light hair with equally light brows makes the brows vanish on pale skin.
    brow = shade(colour, 0.7) if sum(colour) > 450 else shade(colour, 0.9)
    return colour, brow


def sample_scene(rng: np.random.Generator) -> Scene:
    hue = rng.random()
    first = hsv(hue, rng.uniform(0.05, 0.55), rng.uniform(0.35, 0.95))
    second = hsv(hue + rng.uniform(-0.12, 0.12), rng.uniform(0.05, 0.6), rng.uniform(0.25, 0.95))
    return Scene(
        background=(first, second),
        gradient=choice(rng, (("solid", 0.4), ("vertical", 0.35), ("diagonal", 0.25))),
        clothes=hsv(rng.random(), rng.uniform(0.1, 0.85), rng.uniform(0.15, 0.9)),
        neckline="v" if rng.random() < 0.35 else "crew",
        shoulder_width=rng.uniform(0.46, 0.6),
        tilt_deg=rng.uniform(-MAX_TILT_DEG, MAX_TILT_DEG),
        scale=rng.uniform(0.92, 1.07),
        shift_x=rng.uniform(-0.04, 0.04),
    )


def sample_head(rng: np.random.Generator) -> Head:
    # Width/height ratio spans round (~0.88) to long (~0.68) faces.
    ry = rng.uniform(0.3, 0.35)
    return Head(
        cx=0.5,
        cy=0.47 + rng.uniform(-0.015, 0.015),
        rx=ry * rng.uniform(0.68, 0.88),
        ry=ry,
        jaw=rng.uniform(0.78, 1.0),
        skin=sample_skin(rng),
        light=rng.uniform(-1.0, 1.0),
        feature_dx=rng.uniform(-0.06, 0.06),
        nose_width=ry * rng.uniform(0.11, 0.17),
        ears=rng.random() < 0.75,
    )


def sample_hair(rng: np.random.Generator) -> Hair:
    style = choice(rng, HAIR_STYLES)
    colour, brow = sample_hair_colour(rng)
    if style == "afro":
        spread, height = rng.uniform(1.3, 1.5), rng.uniform(1.2, 1.35)
    else:
        spread, height = rng.uniform(1.05, 1.16), rng.uniform(1.04, 1.12)
    hairline = rng.uniform(0.22, 0.34) if style == "fringe" else rng.uniform(0.48, 0.66)
    return Hair(
        style=style,
        colour=colour,
        brow_colour=brow,
        spread=spread,
        height=height,
        hairline=hairline,
        tilt=rng.uniform(-0.04, 0.04),
        bow=rng.uniform(-0.02, 0.02) if style == "fringe" else rng.uniform(-0.03, 0.06),
        length=rng.uniform(0.82, 1.05),
        curly=style == "afro" or rng.random() < 0.15,
        beard=rng.random() < 0.1,
    )


def sample_eyes(rng: np.random.Generator, head: Head) -> Eyes:
    rx = head.rx * rng.uniform(0.15, 0.21)
    return Eyes(
        y=head.cy + head.ry * rng.uniform(-0.08, 0.04),
        spacing=head.rx * rng.uniform(0.36, 0.46),
        rx=rx,
        ry=rx * rng.uniform(0.5, 0.72),
        iris=IRIS_COLOURS[rng.integers(len(IRIS_COLOURS))],
        gaze=rng.uniform(-0.25, 0.25),
        brow_gap=rng.uniform(0.022, 0.045),
        brow_thickness=rng.uniform(0.009, 0.024),
        brow_angle=rng.uniform(-0.015, 0.025),
        brow_arch=rng.uniform(0.0, 0.014),
    )


def sample_mouth(rng: np.random.Generator, head: Head) -> Mouth:
    base_lip = mix(head.skin, (178, 62, 72), 0.35)
    lipstick = rng.random() < 0.12
    return Mouth(
        y=head.cy + head.ry * rng.uniform(0.47, 0.58),
        half_width=head.rx * rng.uniform(0.28, 0.44),
        kind=choice(rng, (("smile", 0.35), ("grin", 0.2), ("neutral", 0.3), ("open", 0.15))),
        lip=(178, 32, 52) if lipstick else shade(base_lip, 0.88),
    )


def sample_glasses(rng: np.random.Generator) -> Glasses | None:
    if rng.random() >= 0.15:
        return None
    coloured_frame = hsv(rng.random(), rng.uniform(0.2, 0.7), rng.uniform(0.2, 0.7))
    return Glasses(
        frame=(20, 20, 22) if rng.random() < 0.5 else coloured_frame,
        lens=(28, 30, 36) if rng.random() < 0.25 else None,
        round=rng.random() < 0.4,
        line=rng.uniform(0.006, 0.012),
    )


def sample_face(rng: np.random.Generator) -> Face:
    head = sample_head(rng)
    return Face(
        scene=sample_scene(rng),
        head=head,
        hair=sample_hair(rng),
        eyes=sample_eyes(rng, head),
        mouth=sample_mouth(rng, head),
        glasses=sample_glasses(rng),
    )
