"""The colours of the synthetic faces: skin tones, hair and iris colours, and the helpers that mix them."""

import colorsys

import numpy as np

RGB = tuple[int, int, int]

# Skin tones from very light to very dark (roughly the Monk skin tone scale);
# a face's tone is interpolated between neighbours so the range is continuous.
SKIN_ANCHORS = np.array(
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
HAIR_COLOURS: tuple[tuple[RGB, float], ...] = (
    ((24, 20, 19), 0.26),  # black
    ((58, 38, 26), 0.20),  # dark brown
    ((107, 72, 44), 0.14),  # brown
    ((222, 190, 124), 0.12),  # blonde
    ((158, 72, 36), 0.08),  # red / auburn
    ((160, 157, 152), 0.08),  # grey
    ((226, 222, 214), 0.04),  # white
)
DYED_HAIR_PROBABILITY = 0.05
NATURAL_BROW = (52, 36, 27)

IRIS_COLOURS: tuple[RGB, ...] = (
    (58, 36, 24),  # dark brown
    (96, 62, 34),  # brown
    (122, 102, 52),  # hazel
    (76, 118, 70),  # green
    (66, 112, 168),  # blue
    (116, 128, 138),  # grey
)

HAIR_STYLES: tuple[tuple[str, float], ...] = (
    ("short", 0.24),
    ("long", 0.24),
    ("fringe", 0.14),
    ("bun", 0.09),
    ("afro", 0.09),
    ("buzz", 0.10),
    ("bald", 0.10),
)

SCLERA = (241, 238, 232)
MOUTH_INSIDE = (88, 28, 32)
TEETH = (246, 244, 236)


def clip(colour: np.ndarray | tuple[float, ...]) -> RGB:
    """Rounded to whole 0-255 channel values."""
    red, green, blue = (int(round(min(255.0, max(0.0, float(value))))) for value in colour)
    return red, green, blue


def shade(colour: RGB, factor: float) -> RGB:
    return clip(tuple(value * factor for value in colour))


def mix(start: RGB, end: RGB, fraction: float) -> RGB:
    """`fraction` of the way from `start` to `end`."""
    return clip(tuple(x + (y - x) * fraction for x, y in zip(start, end)))


def hsv(hue: float, saturation: float, value: float) -> RGB:
    return clip(tuple(255.0 * channel for channel in colorsys.hsv_to_rgb(hue % 1.0, saturation, value)))
