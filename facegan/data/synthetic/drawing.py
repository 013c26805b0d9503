"""Drawing a face's attributes with PIL at a supersampled size, box-filtered down to the requested one
(anti-aliased edges at about a millisecond per 64x64 image)."""

import math

import numpy as np
from PIL import Image, ImageDraw

from facegan.data.synthetic.attributes import Eyes, Face, Glasses, Hair, Head, Mouth, Scene
from facegan.data.synthetic.palette import MOUTH_INSIDE, RGB, SCLERA, TEETH, mix, shade

# Below this the primitives are only a few pixels wide and PIL's rasteriser makes them lumpy; supersampling
# to it keeps small outputs smooth.
MIN_CANVAS_PX = 128
# Extra border drawn around the frame so that rotating the canvas never exposes empty corners (attributes'
# MAX_TILT_DEG of 7 degrees needs about 6% per side).
MARGIN = 0.08


class Canvas:
    """A supersampled PIL canvas addressed in frame units.

    Face geometry lives in the unit square of the final image (y down); pose
    scale and horizontal shift are folded into the mapping so the drawing
    helpers never need to know about them.
    """

    def __init__(self, image: Image.Image, frame_px: int, margin_px: int, scene: Scene) -> None:
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


def background_image(side: int, scene: Scene) -> Image.Image:
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


def draw_body(canvas: Canvas, scene: Scene, head: Head) -> None:
    top = head.cy + head.ry + 0.07
    canvas.ellipse(head.cx, top + 0.26, scene.shoulder_width, 0.26, scene.clothes)
    # Fold shading at the shoulder tops makes the clothes read as a body.
    canvas.ellipse(head.cx, top + 0.28, scene.shoulder_width * 0.9, 0.24, shade(scene.clothes, 1.08))


def draw_neck(canvas: Canvas, scene: Scene, head: Head) -> None:
    half = head.rx * 0.5
    skin = shade(head.skin, 0.86)
    neck_top = head.cy + head.ry * 0.5
    base = head.cy + head.ry + 0.07
    left, right = head.cx - half, head.cx + half
    canvas.polygon([(left, neck_top), (right, neck_top), (right, base), (left, base)], skin)
    canvas.ellipse(head.cx, base, half, 0.025, skin)
    if scene.neckline == "v":
        canvas.polygon([(head.cx - half * 1.1, base), (head.cx + half * 1.1, base), (head.cx, base + 0.1)], skin)
    # Shadow under the chin separates head from neck.
    canvas.ellipse(head.cx, head.cy + head.ry * 0.82, head.rx * 0.5, head.ry * 0.2, shade(head.skin, 0.66))


def hair_volume(head: Head, hair: Hair) -> tuple[float, float, float, float]:
    """Centre and radii of the ellipse the hair mass occupies."""
    lift = head.ry * (0.06 if hair.style != "afro" else 0.12)
    return head.cx, head.cy - lift, head.rx * hair.spread, head.ry * hair.height


def draw_curls(canvas: Canvas, head: Head, hair: Hair, colour: RGB) -> None:
    cx, cy, rx, ry = hair_volume(head, hair)
    bump = head.rx * (0.2 if hair.style == "afro" else 0.13)
    last = 360.0 if hair.style == "afro" else 350.0
    first = 180.0 if hair.style == "afro" else 190.0
    for angle in np.linspace(first, last, 11):
        a = math.radians(angle)
        canvas.ellipse(cx + rx * math.cos(a) * 0.95, cy + ry * math.sin(a) * 0.95, bump, bump, colour)


def draw_hair_back(canvas: Canvas, head: Head, hair: Hair) -> None:
    """Hair mass behind the head: drawn before the face so the face sits on it."""
    if hair.style in ("bald", "buzz"):
        return
    cx, cy, rx, ry = hair_volume(head, hair)
    colour = shade(hair.colour, 0.82)  # back hair is in shadow
    if hair.style == "bun":
        canvas.ellipse(cx, cy - ry * 0.98, head.rx * 0.38, head.rx * 0.34, colour)
    if hair.style in ("long", "afro"):
        canvas.ellipse(cx, cy, rx, ry, colour)
    else:
        canvas.draw.chord(canvas.box(cx, cy, rx, ry), 180, 360, fill=colour)
    if hair.style == "long":
        bottom = hair.length
        canvas.polygon([(cx - rx, cy), (cx + rx, cy), (cx + rx * 0.92, bottom), (cx - rx * 0.92, bottom)], colour)
        canvas.ellipse(cx, bottom, rx * 0.92, 0.04, colour)
    if hair.curly:
        draw_curls(canvas, head, hair, colour)


def draw_ears(canvas: Canvas, head: Head, y: float) -> None:
    for side in (-1.0, 1.0):
        x = head.cx + side * head.rx * 0.97
        canvas.ellipse(x, y, head.rx * 0.16, head.ry * 0.17, shade(head.skin, 0.9))
        canvas.ellipse(x + side * head.rx * 0.03, y, head.rx * 0.08, head.ry * 0.1, shade(head.skin, 0.74))


def face_shape(canvas: Canvas, head: Head, cx: float, cy: float, k: float, fill: RGB) -> None:
    """Head ellipse plus a jaw ellipse; their union gives oval to square jaws."""
    canvas.ellipse(cx, cy, head.rx * k, head.ry * k, fill)
    canvas.ellipse(cx, cy + head.ry * 0.25 * k, head.rx * head.jaw * k, head.ry * 0.75 * k, fill)


def draw_face(canvas: Canvas, head: Head) -> None:
    # A darker full shape under a slightly smaller lit one, offset toward the
    # light, leaves a shadow rim on one side: cheap volume without gradients.
    face_shape(canvas, head, head.cx, head.cy, 1.0, shade(head.skin, 0.84))
    lit_x = head.cx + head.light * head.rx * 0.06
    face_shape(canvas, head, lit_x, head.cy - head.ry * 0.03, 0.94, head.skin)


def draw_beard(canvas: Canvas, head: Head, hair: Hair, mouth: Mouth) -> None:
    colour = shade(hair.colour, 0.9)
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
    canvas.polygon(chin + cheeks, colour)
    canvas.ellipse(head.cx, mouth.y - head.ry * 0.09, mouth.half_width * 1.15, head.ry * 0.06, colour)


def draw_eyes(canvas: Canvas, head: Head, eyes: Eyes) -> None:
    lash = shade(head.skin, 0.35)
    iris_r = eyes.ry * 0.95
    for side in (-1.0, 1.0):
        x = head.cx + head.feature_dx + side * eyes.spacing
        canvas.ellipse(x, eyes.y, eyes.rx, eyes.ry, SCLERA)
        ix = x + eyes.gaze * eyes.rx
        canvas.ellipse(ix, eyes.y, iris_r, iris_r, eyes.iris)
        canvas.ellipse(ix, eyes.y, iris_r * 0.48, iris_r * 0.48, (12, 10, 10))
        canvas.ellipse(ix + iris_r * 0.3, eyes.y - iris_r * 0.35, iris_r * 0.2, iris_r * 0.2, (250, 250, 250))
        # A heavy upper lid outline hides the iris overlapping the sclera top.
        canvas.arc(x, eyes.y, eyes.rx * 1.05, eyes.ry * 1.1, (185, 355), lash, eyes.ry * 0.45)


def draw_brows(canvas: Canvas, head: Head, eyes: Eyes, colour: RGB) -> None:
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
        canvas.polygon(upper + lower, colour)


def draw_nose(canvas: Canvas, head: Head, eyes: Eyes, mouth: Mouth) -> None:
    x = head.cx + head.feature_dx * 1.3
    tip = eyes.y + (mouth.y - eyes.y) * 0.64
    w = head.nose_width
    shadow = shade(head.skin, 0.78)
    # Bridge shadow on the side away from the light.
    side = -1.0 if head.light > 0 else 1.0
    bridge = (x + side * w * 0.45, eyes.y + eyes.ry), (x + side * w * 0.55, tip - w * 0.2)
    canvas.line(*bridge, shade(head.skin, 0.9), w * 0.22)
    canvas.ellipse(x, tip, w, w * 0.55, shadow)
    canvas.ellipse(x, tip - w * 0.18, w * 0.8, w * 0.45, shade(head.skin, 1.04))
    for s in (-1.0, 1.0):
        canvas.ellipse(x + s * w * 0.42, tip + w * 0.22, w * 0.2, w * 0.12, shade(head.skin, 0.55))


def draw_mouth(canvas: Canvas, head: Head, mouth: Mouth) -> None:
    x = head.cx + head.feature_dx * 1.2
    y, w = mouth.y, mouth.half_width
    dark_lip = shade(mouth.lip, 0.8)
    if mouth.kind == "smile":
        canvas.arc(x, y - w * 0.45, w, w * 0.6, (20, 160), dark_lip, w * 0.16)
        canvas.ellipse(x, y + w * 0.22, w * 0.45, w * 0.1, mouth.lip)
    elif mouth.kind == "grin":
        box = canvas.box(x, y - w * 0.15, w, w * 0.55)
        canvas.draw.chord(box, 0, 180, fill=MOUTH_INSIDE, outline=mouth.lip, width=canvas.width(w * 0.08))
        canvas.draw.chord(canvas.box(x, y - w * 0.15, w * 0.86, w * 0.25), 0, 180, fill=TEETH)
    elif mouth.kind == "open":
        canvas.ellipse(x, y, w * 0.62, w * 0.4, mouth.lip)
        canvas.ellipse(x, y, w * 0.5, w * 0.3, MOUTH_INSIDE)
        canvas.draw.chord(canvas.box(x, y + w * 0.12, w * 0.35, w * 0.16), 180, 360, fill=(196, 92, 98))
    else:
        canvas.ellipse(x, y - w * 0.08, w * 0.9, w * 0.14, dark_lip)
        canvas.ellipse(x, y + w * 0.1, w * 0.7, w * 0.17, mouth.lip)
        canvas.line((x - w * 0.92, y), (x + w * 0.92, y), shade(mouth.lip, 0.5), w * 0.06)


def hairline_y(head: Head, hair: Hair, u: float) -> float:
    """Height of the hairline at u in [-1, 1] across the forehead (left to right)."""
    return head.cy - head.ry * hair.hairline + hair.tilt * u + hair.bow * u * u


def hair_cap(head: Head, hair: Hair, volume: tuple[float, float, float, float]) -> list[tuple[float, float]]:
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
    hairline = [(head.cx + edge * u, hairline_y(head, hair, u)) for u in us]
    return outer + [(head.cx + edge, sideburn_y)] + hairline + [(head.cx - edge, sideburn_y)]


def draw_hair_front(canvas: Canvas, head: Head, hair: Hair) -> None:
    """Hair over the forehead and temples, drawn after the face."""
    if hair.style == "bald":
        # Shine on the scalp reads as a bald head rather than a skin blob.
        shine_x = head.cx + head.light * head.rx * 0.3
        canvas.ellipse(shine_x, head.cy - head.ry * 0.78, head.rx * 0.25, head.ry * 0.08, shade(head.skin, 1.12))
        return
    if hair.style == "buzz":
        # Stubble: the hair colour diluted by the scalp showing through.
        colour = mix(hair.colour, head.skin, 0.45)
        volume = (head.cx, head.cy, head.rx * 1.03, head.ry * 1.03)
    else:
        colour = hair.colour
        volume = hair_volume(head, hair)
    canvas.polygon(hair_cap(head, hair, volume), colour)
    if hair.style == "fringe":
        draw_fringe_tips(canvas, head, hair, colour)
    if hair.style == "long":
        for side in (-1.0, 1.0):
            x = head.cx + side * head.rx * 0.98
            canvas.ellipse(x, head.cy + head.ry * 0.05, head.rx * 0.2, head.ry * 0.7, colour)
    if hair.style != "buzz":
        # A highlight arc gives the hair mass a sheen and separates it from dark backgrounds.
        cx, cy, rx, ry = volume
        canvas.arc(cx, cy, rx * 0.8, ry * 0.85, (215, 255), shade(colour, 1.3), head.rx * 0.06)


def draw_fringe_tips(canvas: Canvas, head: Head, hair: Hair, colour: RGB) -> None:
    """Points hanging from the hairline so a low hairline reads as cut bangs."""
    us = np.linspace(-0.95, 0.95, 7)
    step = (us[1] - us[0]) * head.rx * 0.9
    for u0, u1 in zip(us[:-1], us[1:]):
        mid = (u0 + u1) / 2
        x0, x1, xm = (head.cx + head.rx * 0.9 * u for u in (u0, u1, mid))
        y0, y1, ym = (hairline_y(head, hair, u) for u in (u0, u1, mid))
        canvas.polygon([(x0, y0 - 0.005), (x1, y1 - 0.005), (xm, ym + step * 0.5)], colour)


def draw_glasses(canvas: Canvas, head: Head, eyes: Eyes, glasses: Glasses) -> None:
    half_w = eyes.rx * 1.45
    half_h = max(eyes.ry * 1.7, eyes.rx * 0.95)
    line = canvas.width(glasses.line)
    arm_y = (eyes.y - half_h * 0.5, eyes.y - half_h * 0.6)
    for side in (-1.0, 1.0):
        x = head.cx + head.feature_dx + side * eyes.spacing
        box = canvas.box(x, eyes.y, half_w, half_h)
        if glasses.round:
            canvas.draw.ellipse(box, fill=glasses.lens, outline=glasses.frame, width=line)
        else:
            radius = max(1, round((box[3] - box[1]) * 0.3))
            canvas.draw.rounded_rectangle(box, radius=radius, fill=glasses.lens, outline=glasses.frame, width=line)
        temple = head.cx + side * head.rx * 0.98
        canvas.line((x + side * half_w, arm_y[0]), (temple, arm_y[1]), glasses.frame, glasses.line)
    inner = eyes.spacing - half_w
    bridge_x, bridge_y = head.cx + head.feature_dx, eyes.y - half_h * 0.3
    canvas.line((bridge_x - inner, bridge_y), (bridge_x + inner, bridge_y), glasses.frame, glasses.line)


def draw(face: Face, size: int) -> np.ndarray:
    factor = max(2, math.ceil(MIN_CANVAS_PX / size))
    frame_px = size * factor
    margin_px = math.ceil(frame_px * MARGIN)
    side = frame_px + 2 * margin_px
    canvas = Canvas(background_image(side, face.scene), frame_px, margin_px, face.scene)
    head, hair = face.head, face.hair

    draw_body(canvas, face.scene, head)
    draw_hair_back(canvas, head, hair)
    draw_neck(canvas, face.scene, head)
    if head.ears and hair.style != "long":
        draw_ears(canvas, head, face.eyes.y + head.ry * 0.12)
    draw_face(canvas, head)
    draw_nose(canvas, head, face.eyes, face.mouth)
    if hair.beard:
        draw_beard(canvas, head, hair, face.mouth)
    draw_mouth(canvas, head, face.mouth)
    draw_eyes(canvas, head, face.eyes)
    draw_brows(canvas, head, face.eyes, hair.brow_colour)
    draw_hair_front(canvas, head, hair)
    if face.glasses is not None:
        draw_glasses(canvas, head, face.eyes, face.glasses)

    image = canvas.image.rotate(face.scene.tilt_deg, resample=Image.Resampling.BILINEAR)
    image = image.crop((margin_px, margin_px, margin_px + frame_px, margin_px + frame_px))
    return np.array(image.reduce(factor))
