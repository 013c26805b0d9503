"""Procedurally drawn synthetic faces: the no-download default dataset.

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

from __future__ import annotations

import colorsys
import math
import operator
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch.utils.data import Dataset

RGB = tuple[int, int, int]
T = TypeVar("T")

MIN_IMAGE_SIZE = 8
# Below this the primitives are only a few pixels wide and PIL's rasteriser
# makes them lumpy; supersampling to it keeps small outputs smooth.
_MIN_CANVAS_PX = 128
# Extra border drawn around the frame so that rotating the canvas never
# exposes empty corners (7 degrees needs about 6% per side).
_MARGIN = 0.08
_MAX_TILT_DEG = 7.0

# Skin tones from very light to very dark (roughly the Monk skin tone scale);
# a face's tone is interpolated between neighbours so the range is continuous.
_SKIN_ANCHORS = np.array(
    [
        (247, 226, 210),
        (236, 203, 176),
        (218, 177, 142),
        (194, 144, 104),
        (164, 114, 78),
        (130, 86, 57),
        (96, 63, 42),
        (64, 42, 31),
    ],
    dtype=np.float64,
)

# (colour, probability): natural colours dominate, dyed hair is handled apart.
_HAIR_COLOURS: tuple[tuple[RGB, float], ...] = (
    ((24, 20, 19), 0.26),  # black
    ((58, 38, 26), 0.20),  # dark brown
    ((107, 72, 44), 0.14),  # brown
    ((222, 190, 124), 0.12),  # blonde
    ((158, 72, 36), 0.08),  # red / auburn
    ((160, 157, 152), 0.08),  # grey
    ((226, 222, 214), 0.04),  # white
)
_DYED_HAIR_PROBABILITY = 0.05
_NATURAL_BROW = (52, 36, 27)

_IRIS_COLOURS: tuple[RGB, ...] = (
    (58, 36, 24),  # dark brown
    (96, 62, 34),  # brown
    (122, 102, 52),  # hazel
    (76, 118, 70),  # green
    (66, 112, 168),  # blue
    (116, 128, 138),  # grey
)

_HAIR_STYLES: tuple[tuple[str, float], ...] = (
    ("short", 0.24),
    ("long", 0.24),
    ("fringe", 0.14),
    ("bun", 0.09),
    ("afro", 0.09),
    ("buzz", 0.10),
    ("bald", 0.10),
)

_SCLERA = (241, 238, 232)
_MOUTH_INSIDE = (88, 28, 32)
_TEETH = (246, 244, 236)


# ---------------------------------------------------------------------------
# Colour helpers
# ---------------------------------------------------------------------------


def _clip(c: np.ndarray | tuple[float, ...]) -> RGB:
    r, g, b = (int(round(min(255.0, max(0.0, float(v))))) for v in c)
    return r, g, b


def _shade(c: RGB, factor: float) -> RGB:
    return _clip(tuple(v * factor for v in c))


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return _clip(tuple(x + (y - x) * t for x, y in zip(a, b)))


def _hsv(h: float, s: float, v: float) -> RGB:
    return _clip(tuple(255.0 * x for x in colorsys.hsv_to_rgb(h % 1.0, s, v)))


# ---------------------------------------------------------------------------
# Sampled attributes (everything random is decided here, nothing while drawing)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Head:
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
class _Hair:
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
class _Eyes:
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
class _Mouth:
    y: float
    half_width: float
    kind: str  # "smile", "grin", "neutral" or "open"
    lip: RGB


@dataclass(frozen=True)
class _Glasses:
    frame: RGB
    lens: RGB | None  # None for clear lenses, a colour for sunglasses
    round: bool
    line: float


@dataclass(frozen=True)
class _Scene:
    background: tuple[RGB, RGB]
    gradient: str  # "solid", "vertical" or "diagonal"
    clothes: RGB
    neckline: str  # "crew" or "v"
    shoulder_width: float
    tilt_deg: float
    scale: float
    shift_x: float


@dataclass(frozen=True)
class _Face:
    scene: _Scene
    head: _Head
    hair: _Hair
    eyes: _Eyes
    mouth: _Mouth
    glasses: _Glasses | None


def _choice(rng: np.random.Generator, options: tuple[tuple[T, float], ...]) -> T:
    weights = np.array([w for _, w in options])
    return options[rng.choice(len(options), p=weights / weights.sum())][0]


def _sample_skin(rng: np.random.Generator) -> RGB:
    pos = rng.uniform(0.0, len(_SKIN_ANCHORS) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(_SKIN_ANCHORS) - 1)
    tone = _SKIN_ANCHORS[lo] + (_SKIN_ANCHORS[hi] - _SKIN_ANCHORS[lo]) * (pos - lo)
    # Undertone: warmer (more red) or cooler (more yellow/olive) skins.
    warmth = rng.uniform(-8.0, 8.0)
    return _clip(tone + np.array([warmth, 0.0, -warmth]))


def _sample_hair_colour(rng: np.random.Generator) -> tuple[RGB, RGB]:
    """Return (hair colour, eyebrow colour)."""
    if rng.random() < _DYED_HAIR_PROBABILITY:
        return _hsv(rng.random(), rng.uniform(0.5, 0.8), rng.uniform(0.5, 0.85)), _NATURAL_BROW
    base = _choice(rng, _HAIR_COLOURS)
    colour = _shade(base, rng.uniform(0.85, 1.15))
    # Light hair with equally light brows makes the brows vanish on pale skin.
    brow = _shade(colour, 0.7) if sum(colour) > 450 else _shade(colour, 0.9)
    return colour, brow


def _sample_scene(rng: np.random.Generator) -> _Scene:
    hue = rng.random()
    first = _hsv(hue, rng.uniform(0.05, 0.55), rng.uniform(0.35, 0.95))
    second = _hsv(hue + rng.uniform(-0.12, 0.12), rng.uniform(0.05, 0.6), rng.uniform(0.25, 0.95))
    return _Scene(
        background=(first, second),
        gradient=_choice(rng, (("solid", 0.4), ("vertical", 0.35), ("diagonal", 0.25))),
        clothes=_hsv(rng.random(), rng.uniform(0.1, 0.85), rng.uniform(0.15, 0.9)),
        neckline="v" if rng.random() < 0.35 else "crew",
        shoulder_width=rng.uniform(0.46, 0.6),
        tilt_deg=rng.uniform(-_MAX_TILT_DEG, _MAX_TILT_DEG),
        scale=rng.uniform(0.92, 1.07),
        shift_x=rng.uniform(-0.04, 0.04),
    )


def _sample_head(rng: np.random.Generator) -> _Head:
    # Width/height ratio spans round (~0.88) to long (~0.68) faces.
    ry = rng.uniform(0.3, 0.35)
    return _Head(
        cx=0.5,
        cy=0.47 + rng.uniform(-0.015, 0.015),
        rx=ry * rng.uniform(0.68, 0.88),
        ry=ry,
        jaw=rng.uniform(0.78, 1.0),
        skin=_sample_skin(rng),
        light=rng.uniform(-1.0, 1.0),
        feature_dx=rng.uniform(-0.06, 0.06),
        nose_width=ry * rng.uniform(0.11, 0.17),
        ears=rng.random() < 0.75,
    )


def _sample_hair(rng: np.random.Generator) -> _Hair:
    style = _choice(rng, _HAIR_STYLES)
    colour, brow = _sample_hair_colour(rng)
    if style == "afro":
        spread, height = rng.uniform(1.3, 1.5), rng.uniform(1.2, 1.35)
    else:
        spread, height = rng.uniform(1.05, 1.16), rng.uniform(1.04, 1.12)
    hairline = rng.uniform(0.22, 0.34) if style == "fringe" else rng.uniform(0.48, 0.66)
    return _Hair(
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


def _sample_eyes(rng: np.random.Generator, head: _Head) -> _Eyes:
    rx = head.rx * rng.uniform(0.15, 0.21)
    return _Eyes(
        y=head.cy + head.ry * rng.uniform(-0.08, 0.04),
        spacing=head.rx * rng.uniform(0.36, 0.46),
        rx=rx,
        ry=rx * rng.uniform(0.5, 0.72),
        iris=_IRIS_COLOURS[rng.integers(len(_IRIS_COLOURS))],
        gaze=rng.uniform(-0.25, 0.25),
        brow_gap=rng.uniform(0.022, 0.045),
        brow_thickness=rng.uniform(0.009, 0.024),
        brow_angle=rng.uniform(-0.015, 0.025),
        brow_arch=rng.uniform(0.0, 0.014),
    )


def _sample_mouth(rng: np.random.Generator, head: _Head) -> _Mouth:
    base_lip = _mix(head.skin, (178, 62, 72), 0.35)
    lipstick = rng.random() < 0.12
    return _Mouth(
        y=head.cy + head.ry * rng.uniform(0.47, 0.58),
        half_width=head.rx * rng.uniform(0.28, 0.44),
        kind=_choice(rng, (("smile", 0.35), ("grin", 0.2), ("neutral", 0.3), ("open", 0.15))),
        lip=(178, 32, 52) if lipstick else _shade(base_lip, 0.88),
    )


def _sample_glasses(rng: np.random.Generator) -> _Glasses | None:
    if rng.random() >= 0.15:
        return None
    coloured_frame = _hsv(rng.random(), rng.uniform(0.2, 0.7), rng.uniform(0.2, 0.7))
    return _Glasses(
        frame=(20, 20, 22) if rng.random() < 0.5 else coloured_frame,
        lens=(28, 30, 36) if rng.random() < 0.25 else None,
        round=rng.random() < 0.4,
        line=rng.uniform(0.006, 0.012),
    )


def _sample_face(rng: np.random.Generator) -> _Face:
    head = _sample_head(rng)
    return _Face(
        scene=_sample_scene(rng),
        head=head,
        hair=_sample_hair(rng),
        eyes=_sample_eyes(rng, head),
        mouth=_sample_mouth(rng, head),
        glasses=_sample_glasses(rng),
    )


# ---------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------


class _Canvas:
    """A supersampled PIL canvas addressed in frame units.

    Face geometry lives in the unit square of the final image (y down); pose
    scale and horizontal shift are folded into the mapping so the drawing
    helpers never need to know about them.
    """

    def __init__(self, image: Image.Image, frame_px: int, margin_px: int, scene: _Scene) -> None:
        self.image = image
        self.draw = ImageDraw.Draw(image)
        self._unit = frame_px * scene.scale
        self._ox = margin_px + frame_px * (0.5 + scene.shift_x)
        self._oy = margin_px + frame_px * 0.5

    def pt(self, x: float, y: float) -> tuple[float, float]:
        return self._ox + (x - 0.5) * self._unit, self._oy + (y - 0.5) * self._unit

    def box(self, cx: float, cy: float, rx: float, ry: float) -> list[float]:
        x0, y0 = self.pt(cx - rx, cy - ry)
        x1, y1 = self.pt(cx + rx, cy + ry)
        return [x0, y0, x1, y1]

    def width(self, w: float) -> int:
        return max(1, round(w * self._unit))

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, fill: RGB) -> None:
        self.draw.ellipse(self.box(cx, cy, rx, ry), fill=fill)

    def polygon(self, points: list[tuple[float, float]], fill: RGB) -> None:
        self.draw.polygon([self.pt(x, y) for x, y in points], fill=fill)

    def line(self, start: tuple[float, float], end: tuple[float, float], fill: RGB, width: float) -> None:
        self.draw.line([self.pt(*start), self.pt(*end)], fill=fill, width=self.width(width))

    def arc(
        self, cx: float, cy: float, rx: float, ry: float, angles: tuple[float, float], fill: RGB, width: float
    ) -> None:
        self.draw.arc(self.box(cx, cy, rx, ry), *angles, fill=fill, width=self.width(width))


def _background_image(side: int, scene: _Scene) -> Image.Image:
    first, second = scene.background
    if scene.gradient == "solid":
        return Image.new("RGB", (side, side), first)
    # An 8x8 ramp upsampled bilinearly is a smooth gradient at a fraction of
    # the cost of evaluating it per pixel in numpy.
    ramp = np.linspace(0.0, 1.0, 8)
    t = ramp[:, None] + (ramp[None, :] if scene.gradient == "diagonal" else 0.0)
    t = t / t.max()
    colours = np.array(first) + t[..., None] * (np.array(second) - np.array(first))
    small = Image.fromarray(colours.round().astype(np.uint8), "RGB")
    return small.resize((side, side), Image.Resampling.BILINEAR)


def _draw_body(cv: _Canvas, scene: _Scene, head: _Head) -> None:
    top = head.cy + head.ry + 0.07
    cv.ellipse(head.cx, top + 0.26, scene.shoulder_width, 0.26, scene.clothes)
    # Fold shading at the shoulder tops makes the clothes read as a body.
    cv.ellipse(head.cx, top + 0.28, scene.shoulder_width * 0.9, 0.24, _shade(scene.clothes, 1.08))


def _draw_neck(cv: _Canvas, scene: _Scene, head: _Head) -> None:
    half = head.rx * 0.5
    skin = _shade(head.skin, 0.86)
    neck_top = head.cy + head.ry * 0.5
    base = head.cy + head.ry + 0.07
    left, right = head.cx - half, head.cx + half
    cv.polygon([(left, neck_top), (right, neck_top), (right, base), (left, base)], skin)
    cv.ellipse(head.cx, base, half, 0.025, skin)
    if scene.neckline == "v":
        cv.polygon([(head.cx - half * 1.1, base), (head.cx + half * 1.1, base), (head.cx, base + 0.1)], skin)
    # Shadow under the chin separates head from neck.
    cv.ellipse(head.cx, head.cy + head.ry * 0.82, head.rx * 0.5, head.ry * 0.2, _shade(head.skin, 0.66))


def _hair_volume(head: _Head, hair: _Hair) -> tuple[float, float, float, float]:
    """Centre and radii of the ellipse the hair mass occupies."""
    lift = head.ry * (0.06 if hair.style != "afro" else 0.12)
    return head.cx, head.cy - lift, head.rx * hair.spread, head.ry * hair.height


def _draw_curls(cv: _Canvas, head: _Head, hair: _Hair, colour: RGB) -> None:
    cx, cy, rx, ry = _hair_volume(head, hair)
    bump = head.rx * (0.2 if hair.style == "afro" else 0.13)
    last = 360.0 if hair.style == "afro" else 350.0
    first = 180.0 if hair.style == "afro" else 190.0
    for angle in np.linspace(first, last, 11):
        a = math.radians(angle)
        cv.ellipse(cx + rx * math.cos(a) * 0.95, cy + ry * math.sin(a) * 0.95, bump, bump, colour)


def _draw_hair_back(cv: _Canvas, head: _Head, hair: _Hair) -> None:
    """Hair mass behind the head: drawn before the face so the face sits on it."""
    if hair.style in ("bald", "buzz"):
        return
    cx, cy, rx, ry = _hair_volume(head, hair)
    colour = _shade(hair.colour, 0.82)  # back hair is in shadow
    if hair.style == "bun":
        cv.ellipse(cx, cy - ry * 0.98, head.rx * 0.38, head.rx * 0.34, colour)
    if hair.style in ("long", "afro"):
        cv.ellipse(cx, cy, rx, ry, colour)
    else:
        cv.draw.chord(cv.box(cx, cy, rx, ry), 180, 360, fill=colour)
    if hair.style == "long":
        bottom = hair.length
        cv.polygon([(cx - rx, cy), (cx + rx, cy), (cx + rx * 0.92, bottom), (cx - rx * 0.92, bottom)], colour)
        cv.ellipse(cx, bottom, rx * 0.92, 0.04, colour)
    if hair.curly:
        _draw_curls(cv, head, hair, colour)


def _draw_ears(cv: _Canvas, head: _Head, y: float) -> None:
    for side in (-1.0, 1.0):
        x = head.cx + side * head.rx * 0.97
        cv.ellipse(x, y, head.rx * 0.16, head.ry * 0.17, _shade(head.skin, 0.9))
        cv.ellipse(x + side * head.rx * 0.03, y, head.rx * 0.08, head.ry * 0.1, _shade(head.skin, 0.74))


def _face_shape(cv: _Canvas, head: _Head, cx: float, cy: float, k: float, fill: RGB) -> None:
    """Head ellipse plus a jaw ellipse; their union gives oval to square jaws."""
    cv.ellipse(cx, cy, head.rx * k, head.ry * k, fill)
    cv.ellipse(cx, cy + head.ry * 0.25 * k, head.rx * head.jaw * k, head.ry * 0.75 * k, fill)


def _draw_face(cv: _Canvas, head: _Head) -> None:
    # A darker full shape under a slightly smaller lit one, offset toward the
    # light, leaves a shadow rim on one side: cheap volume without gradients.
    _face_shape(cv, head, head.cx, head.cy, 1.0, _shade(head.skin, 0.84))
    lit_x = head.cx + head.light * head.rx * 0.06
    _face_shape(cv, head, lit_x, head.cy - head.ry * 0.03, 0.94, head.skin)


def _draw_beard(cv: _Canvas, head: _Head, hair: _Hair, mouth: _Mouth) -> None:
    colour = _shade(hair.colour, 0.9)
    jaw_cy, jaw_rx, jaw_ry = head.cy + head.ry * 0.25, head.rx * head.jaw, head.ry * 0.75
    angles = np.radians(np.linspace(0.0, 180.0, 13))
    chin = [(head.cx + jaw_rx * math.cos(a), jaw_cy + jaw_ry * math.sin(a)) for a in angles]
    # The upper edge dips from the sideburns to below the cheekbones so the
    # beard frames the mouth instead of masking the lower face.
    cheek_y = mouth.y - head.ry * 0.14
    cheeks = [
        (head.cx - jaw_rx, jaw_cy),
        (head.cx - mouth.half_width * 1.3, cheek_y),
        (head.cx + mouth.half_width * 1.3, cheek_y),
        (head.cx + jaw_rx, jaw_cy),
    ]
    cv.polygon(chin + cheeks, colour)
    cv.ellipse(head.cx, mouth.y - head.ry * 0.09, mouth.half_width * 1.15, head.ry * 0.06, colour)


def _draw_eyes(cv: _Canvas, head: _Head, eyes: _Eyes) -> None:
    lash = _shade(head.skin, 0.35)
    iris_r = eyes.ry * 0.95
    for side in (-1.0, 1.0):
        x = head.cx + head.feature_dx + side * eyes.spacing
        cv.ellipse(x, eyes.y, eyes.rx, eyes.ry, _SCLERA)
        ix = x + eyes.gaze * eyes.rx
        cv.ellipse(ix, eyes.y, iris_r, iris_r, eyes.iris)
        cv.ellipse(ix, eyes.y, iris_r * 0.48, iris_r * 0.48, (12, 10, 10))
        cv.ellipse(ix + iris_r * 0.3, eyes.y - iris_r * 0.35, iris_r * 0.2, iris_r * 0.2, (250, 250, 250))
        # A heavy upper lid outline hides the iris overlapping the sclera top.
        cv.arc(x, eyes.y, eyes.rx * 1.05, eyes.ry * 1.1, (185, 355), lash, eyes.ry * 0.45)


def _draw_brows(cv: _Canvas, head: _Head, eyes: _Eyes, colour: RGB) -> None:
    y = eyes.y - eyes.ry - eyes.brow_gap
    t = eyes.brow_thickness
    for side in (-1.0, 1.0):
        centre = head.cx + head.feature_dx + side * eyes.spacing
        inner = centre - side * eyes.rx * 1.0
        outer = centre + side * eyes.rx * 1.2
        peak = centre + side * eyes.rx * 0.35
        outer_y = y - eyes.brow_angle
        peak_y = y - eyes.brow_angle * 0.5 - eyes.brow_arch
        # Tapered toward the outer end, like real brows.
        upper = [(inner, y - t), (peak, peak_y - t * 0.8), (outer, outer_y - t * 0.2)]
        lower = [(outer, outer_y + t * 0.2), (peak, peak_y + t * 0.5), (inner, y + t * 0.6)]
        cv.polygon(upper + lower, colour)


def _draw_nose(cv: _Canvas, head: _Head, eyes: _Eyes, mouth: _Mouth) -> None:
    x = head.cx + head.feature_dx * 1.3
    tip = eyes.y + (mouth.y - eyes.y) * 0.64
    w = head.nose_width
    shadow = _shade(head.skin, 0.78)
    # Bridge shadow on the side away from the light.
    side = -1.0 if head.light > 0 else 1.0
    bridge = (x + side * w * 0.45, eyes.y + eyes.ry), (x + side * w * 0.55, tip - w * 0.2)
    cv.line(*bridge, _shade(head.skin, 0.9), w * 0.22)
    cv.ellipse(x, tip, w, w * 0.55, shadow)
    cv.ellipse(x, tip - w * 0.18, w * 0.8, w * 0.45, _shade(head.skin, 1.04))
    for s in (-1.0, 1.0):
        cv.ellipse(x + s * w * 0.42, tip + w * 0.22, w * 0.2, w * 0.12, _shade(head.skin, 0.55))


def _draw_mouth(cv: _Canvas, head: _Head, mouth: _Mouth) -> None:
    x = head.cx + head.feature_dx * 1.2
    y, w = mouth.y, mouth.half_width
    dark_lip = _shade(mouth.lip, 0.8)
    if mouth.kind == "smile":
        cv.arc(x, y - w * 0.45, w, w * 0.6, (20, 160), dark_lip, w * 0.16)
        cv.ellipse(x, y + w * 0.22, w * 0.45, w * 0.1, mouth.lip)
    elif mouth.kind == "grin":
        box = cv.box(x, y - w * 0.15, w, w * 0.55)
        cv.draw.chord(box, 0, 180, fill=_MOUTH_INSIDE, outline=mouth.lip, width=cv.width(w * 0.08))
        cv.draw.chord(cv.box(x, y - w * 0.15, w * 0.86, w * 0.25), 0, 180, fill=_TEETH)
    elif mouth.kind == "open":
        cv.ellipse(x, y, w * 0.62, w * 0.4, mouth.lip)
        cv.ellipse(x, y, w * 0.5, w * 0.3, _MOUTH_INSIDE)
        cv.draw.chord(cv.box(x, y + w * 0.12, w * 0.35, w * 0.16), 180, 360, fill=(196, 92, 98))
    else:
        cv.ellipse(x, y - w * 0.08, w * 0.9, w * 0.14, dark_lip)
        cv.ellipse(x, y + w * 0.1, w * 0.7, w * 0.17, mouth.lip)
        cv.line((x - w * 0.92, y), (x + w * 0.92, y), _shade(mouth.lip, 0.5), w * 0.06)


def _hairline_y(head: _Head, hair: _Hair, u: float) -> float:
    """Height of the hairline at u in [-1, 1] across the forehead (left to right)."""
    return head.cy - head.ry * hair.hairline + hair.tilt * u + hair.bow * u * u


def _hair_cap(head: _Head, hair: _Hair, volume: tuple[float, float, float, float]) -> list[tuple[float, float]]:
    """Outline of the hair over the scalp: the volume's top arc, sideburns, hairline.

    A polygon instead of an ellipse chord lets the hairline curve and slope,
    which is what tells a side parting from a bowl cut.
    """
    cx, cy, rx, ry = volume
    sideburn_y = head.cy + head.ry * 0.05
    drop = math.degrees(math.asin(max(-0.95, min(0.95, (sideburn_y - cy) / ry))))
    angles = np.radians(np.linspace(180.0 - drop, 360.0 + drop, 17))
    outer = [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in angles]
    edge = head.rx * 0.9
    us = np.linspace(1.0, -1.0, 9)
    hairline = [(head.cx + edge * u, _hairline_y(head, hair, u)) for u in us]
    return outer + [(head.cx + edge, sideburn_y)] + hairline + [(head.cx - edge, sideburn_y)]


def _draw_hair_front(cv: _Canvas, head: _Head, hair: _Hair) -> None:
    """Hair over the forehead and temples, drawn after the face."""
    if hair.style == "bald":
        # Shine on the scalp reads as a bald head rather than a skin blob.
        shine_x = head.cx + head.light * head.rx * 0.3
        cv.ellipse(shine_x, head.cy - head.ry * 0.78, head.rx * 0.25, head.ry * 0.08, _shade(head.skin, 1.12))
        return
    if hair.style == "buzz":
        # Stubble: the hair colour diluted by the scalp showing through.
        colour = _mix(hair.colour, head.skin, 0.45)
        volume = (head.cx, head.cy, head.rx * 1.03, head.ry * 1.03)
    else:
        colour = hair.colour
        volume = _hair_volume(head, hair)
    cv.polygon(_hair_cap(head, hair, volume), colour)
    if hair.style == "fringe":
        _draw_fringe_tips(cv, head, hair, colour)
    if hair.style == "long":
        for side in (-1.0, 1.0):
            x = head.cx + side * head.rx * 0.98
            cv.ellipse(x, head.cy + head.ry * 0.05, head.rx * 0.2, head.ry * 0.7, colour)
    if hair.style != "buzz":
        # A highlight arc gives the hair mass a sheen and separates it from dark backgrounds.
        cx, cy, rx, ry = volume
        cv.arc(cx, cy, rx * 0.8, ry * 0.85, (215, 255), _shade(colour, 1.3), head.rx * 0.06)


def _draw_fringe_tips(cv: _Canvas, head: _Head, hair: _Hair, colour: RGB) -> None:
    """Points hanging from the hairline so a low hairline reads as cut bangs."""
    us = np.linspace(-0.95, 0.95, 7)
    step = (us[1] - us[0]) * head.rx * 0.9
    for u0, u1 in zip(us[:-1], us[1:]):
        mid = (u0 + u1) / 2
        x0, x1, xm = (head.cx + head.rx * 0.9 * u for u in (u0, u1, mid))
        y0, y1, ym = (_hairline_y(head, hair, u) for u in (u0, u1, mid))
        cv.polygon([(x0, y0 - 0.005), (x1, y1 - 0.005), (xm, ym + step * 0.5)], colour)


def _draw_glasses(cv: _Canvas, head: _Head, eyes: _Eyes, glasses: _Glasses) -> None:
    half_w = eyes.rx * 1.45
    half_h = max(eyes.ry * 1.7, eyes.rx * 0.95)
    line = cv.width(glasses.line)
    arm_y = (eyes.y - half_h * 0.5, eyes.y - half_h * 0.6)
    for side in (-1.0, 1.0):
        x = head.cx + head.feature_dx + side * eyes.spacing
        box = cv.box(x, eyes.y, half_w, half_h)
        if glasses.round:
            cv.draw.ellipse(box, fill=glasses.lens, outline=glasses.frame, width=line)
        else:
            radius = max(1, round((box[3] - box[1]) * 0.3))
            cv.draw.rounded_rectangle(box, radius=radius, fill=glasses.lens, outline=glasses.frame, width=line)
        temple = head.cx + side * head.rx * 0.98
        cv.line((x + side * half_w, arm_y[0]), (temple, arm_y[1]), glasses.frame, glasses.line)
    inner = eyes.spacing - half_w
    bridge_x, bridge_y = head.cx + head.feature_dx, eyes.y - half_h * 0.3
    cv.line((bridge_x - inner, bridge_y), (bridge_x + inner, bridge_y), glasses.frame, glasses.line)


def _draw(face: _Face, size: int) -> np.ndarray:
    factor = max(2, math.ceil(_MIN_CANVAS_PX / size))
    frame_px = size * factor
    margin_px = math.ceil(frame_px * _MARGIN)
    side = frame_px + 2 * margin_px
    cv = _Canvas(_background_image(side, face.scene), frame_px, margin_px, face.scene)
    head, hair = face.head, face.hair

    _draw_body(cv, face.scene, head)
    _draw_hair_back(cv, head, hair)
    _draw_neck(cv, face.scene, head)
    if head.ears and hair.style != "long":
        _draw_ears(cv, head, face.eyes.y + head.ry * 0.12)
    _draw_face(cv, head)
    _draw_nose(cv, head, face.eyes, face.mouth)
    if hair.beard:
        _draw_beard(cv, head, hair, face.mouth)
    _draw_mouth(cv, head, face.mouth)
    _draw_eyes(cv, head, face.eyes)
    _draw_brows(cv, head, face.eyes, hair.brow_colour)
    _draw_hair_front(cv, head, hair)
    if face.glasses is not None:
        _draw_glasses(cv, head, face.eyes, face.glasses)

    image = cv.image.rotate(face.scene.tilt_deg, resample=Image.Resampling.BILINEAR)
    image = image.crop((margin_px, margin_px, margin_px + frame_px, margin_px + frame_px))
    return np.array(image.reduce(factor))


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def _check_image_size(size: int) -> None:
    if size < MIN_IMAGE_SIZE:
        raise ValueError(
            f"image_size must be at least {MIN_IMAGE_SIZE}, got {size}; pass image_size >= {MIN_IMAGE_SIZE}."
        )


def render_face(index: int, seed: int, size: int) -> np.ndarray:
    """Draw face ``index`` of the dataset with ``seed`` as a (size, size, 3) uint8 RGB array.

    The result depends only on the arguments, never on global RNG state or
    call order.
    """
    index, seed, size = operator.index(index), operator.index(seed), operator.index(size)
    _check_image_size(size)
    if index < 0 or seed < 0:
        raise ValueError(f"index and seed must be non-negative, got index={index}, seed={seed}.")
    rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
    return _draw(_sample_face(rng), size)


class SyntheticFaces(Dataset):
    """``num_images`` procedurally drawn faces, rendered on demand.

    Items are float32 tensors of shape (3, image_size, image_size) in [-1, 1],
    the range a tanh generator produces. Nothing is stored: each item is
    redrawn from ``(seed, index)``, so workers need no shared state.
    """

    def __init__(self, num_images: int = 20000, image_size: int = 64, seed: int = 0) -> None:
        if num_images <= 0:
            raise ValueError(f"num_images must be positive, got {num_images}; pass num_images >= 1.")
        _check_image_size(image_size)
        if seed < 0:
            raise ValueError(f"seed must be non-negative, got {seed}; pass seed >= 0.")
        self.num_images = int(num_images)
        self.image_size = int(image_size)
        self.seed = int(seed)

    def __len__(self) -> int:
        return self.num_images

    def _resolve(self, i: int) -> int:
        i = operator.index(i)
        if not -self.num_images <= i < self.num_images:
            raise IndexError(f"index {i} out of range for SyntheticFaces of length {self.num_images}")
        return i % self.num_images

    def render_uint8(self, i: int) -> np.ndarray:
        """Item ``i`` as a (S, S, 3) uint8 RGB array, skipping tensor conversion."""
        return render_face(self._resolve(i), self.seed, self.image_size)

    def __getitem__(self, i: int) -> torch.Tensor:
        pixels = torch.from_numpy(self.render_uint8(i))
        return pixels.permute(2, 0, 1).float().div_(127.5).sub_(1.0)
