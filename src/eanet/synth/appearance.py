"""Appearance of the synthetic dataset: skin tones, studio lighting, procedural backgrounds and camera effects.

Nothing here is downloaded or learned: skin colours come from a documented palette, backgrounds are procedural
(gradients, fractal noise, random shapes, warped patterns, blurred "bokeh" lights, a dark studio dome like
InterHand2.6M's), and the camera adds blur, sensor noise, exposure/white-balance changes and JPEG compression.
All randomness comes from the ``numpy.random.Generator`` passed in, so the same seed gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from eanet.render import Light, Lighting

__all__ = [
    "MONK_SKIN_TONES",
    "SkinAppearance",
    "StudioLighting",
    "BACKGROUND_KINDS",
    "sample_skin",
    "skin_vertex_colors",
    "sample_studio_lighting",
    "sample_background",
    "composite",
    "finish_image",
    "encode_jpeg",
]

#: The 10 swatches of the Monk Skin Tone scale (Ellis Monk, 2019; published by Google under CC BY 4.0), lightest
#: (MST-1) to darkest (MST-10), as sRGB bytes. Hands are coloured from this palette with a small per-subject jitter.
MONK_SKIN_TONES: tuple[tuple[int, int, int], ...] = (
    (0xF6, 0xED, 0xE4),
    (0xF3, 0xE7, 0xDB),
    (0xF7, 0xEA, 0xD0),
    (0xEA, 0xDA, 0xBA),
    (0xD7, 0xBD, 0x96),
    (0xA0, 0x7E, 0x56),
    (0x82, 0x5C, 0x43),
    (0x60, 0x41, 0x34),
    (0x3A, 0x31, 0x2A),
    (0x29, 0x24, 0x20),
)

#: Palms carry little melanin: the palm side of darker hands is blended towards this pinkish tone.
_PALM_TONE = np.array([0.86, 0.66, 0.58])


@dataclass(frozen=True)
class SkinAppearance:
    """A subject's skin.

    Attributes:
        tone_index: index into :data:`MONK_SKIN_TONES` (0 lightest).
        base: ``(3,)`` sRGB albedo in ``[0, 1]`` of the back of the hand.
        palm: ``(3,)`` sRGB albedo of the palm.
        blotch: amplitude of the low-frequency per-vertex variation.
    """

    tone_index: int
    base: np.ndarray
    palm: np.ndarray
    blotch: float


def _swatch_to_albedo(swatch: np.ndarray) -> np.ndarray:
    """Surface colour for rendering from a printed swatch.

    The swatches are skin *as seen*; used directly as albedo under bright light the pale ones render almost white.
    Raising the saturation by a fifth of what is left (``s + 0.2 (1 - s)``) and the value by 5% less, with the hue
    kept in skin's 10-35 degree range, gives albedos that render like the swatch in mid-tones.
    """
    import colorsys

    h, s, v = colorsys.rgb_to_hsv(*swatch)
    h = float(np.clip(h, 10 / 360, 35 / 360))
    return np.array(colorsys.hsv_to_rgb(h, s + 0.2 * (1.0 - s), 0.95 * v))


def sample_skin(rng: np.random.Generator) -> SkinAppearance:
    """A random skin from the palette, uniform over the 10 tones, with small hue/brightness jitter."""
    idx = int(rng.integers(len(MONK_SKIN_TONES)))
    swatch = np.asarray(MONK_SKIN_TONES[idx], dtype=np.float64) / 255.0
    base = _swatch_to_albedo(swatch) * rng.uniform(0.93, 1.05) + rng.normal(0.0, 0.012, size=3)
    base = np.clip(base, 0.04, 0.97)
    darkness = 1.0 - float(swatch.mean())
    palm = np.clip(base + 0.55 * darkness * (_PALM_TONE - base), 0.04, 0.97)
    return SkinAppearance(tone_index=idx, base=base, palm=palm, blotch=float(rng.uniform(0.01, 0.04)))


def skin_vertex_colors(skin: SkinAppearance, palm_weight: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per-vertex sRGB colours of one hand.

    Args:
        skin: the subject's skin.
        palm_weight: ``(V,)`` in ``[0, 1]``: how much each vertex lies on the palm side (from the hand model's rest
            normals, see :meth:`eanet.synth.scene.HandRig.palm_weights`).
        rng: random generator for the blotchy variation.

    Returns:
        ``(V, 3)`` float32 in ``[0, 1]``.
    """
    w = np.clip(np.asarray(palm_weight, dtype=np.float64), 0.0, 1.0)[:, None]  # (V, 1)
    colors = (1.0 - w) * skin.base + w * skin.palm  # (V, 3)
    colors = colors * (1.0 + skin.blotch * rng.standard_normal((len(w), 1)))
    return np.clip(colors, 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class StudioLighting:
    """Lights of one capture, fixed in the world (so all views of a frame are lit consistently).

    Attributes:
        directions_world: ``(L, 3)`` unit directions the lights travel, world frame.
        intensities: ``(L,)``.
        colors: ``(L, 3)`` sRGB tints in ``[0, 1]``.
        ambient: ambient strength.
        headlight: strength of a weak light fixed to each camera (the ring lights of a capture dome).
    """

    directions_world: np.ndarray
    intensities: np.ndarray
    colors: np.ndarray
    ambient: float
    headlight: float

    def for_camera(self, camrot: np.ndarray):
        """The lighting in one camera's frame, as :class:`eanet.render.Lighting`."""
        lights = [
            Light(direction=tuple((camrot @ d).tolist()), intensity=float(i), color=tuple(c.tolist()))
            for d, i, c in zip(self.directions_world, self.intensities, self.colors, strict=True)
        ]
        lights.append(Light(direction=(0.0, 0.0, 1.0), intensity=self.headlight))
        return Lighting(lights=tuple(lights), ambient=(self.ambient,) * 3)


def sample_studio_lighting(rng: np.random.Generator) -> StudioLighting:
    """1-3 world-fixed lights (a key light from above plus fills) with warm/cool tints, ambient and a headlight.

    The renderer shades in linear light (``albedo * (ambient + sum I max(0, n.l))``), so a surface facing the
    camera gets ``ambient + headlight`` ~ 0.8-1.1 and the key light adds up to 0.9 where it falls; surfaces turned
    away keep the ambient ~0.4-0.55, which keeps the back-lit side of a hand readable, as a capture dome does.
    """
    num = int(rng.integers(1, 4))
    dirs = rng.normal(size=(num, 3))
    dirs[0, 2] = -abs(dirs[0, 2]) - 0.8  # the key light shines down onto the workspace (world up is +z)
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    intensities = np.concatenate([[rng.uniform(0.4, 0.9)], rng.uniform(0.1, 0.4, size=num - 1)])
    # Colour temperature: a warm light loses some blue, a cool one some red.
    temperature = rng.uniform(-1.0, 1.0, size=(num, 1))
    warm_loss, cool_loss = np.array([0.0, 0.05, 0.15]), np.array([0.15, 0.05, 0.0])
    colors = 1.0 - np.where(temperature > 0, temperature * warm_loss, -temperature * cool_loss)  # (L, 3)
    return StudioLighting(
        directions_world=dirs,
        intensities=intensities,
        colors=colors,
        ambient=float(rng.uniform(0.38, 0.55)),
        headlight=float(rng.uniform(0.35, 0.6)),
    )


BACKGROUND_KINDS: tuple[str, ...] = ("studio", "gradient", "noise", "shapes", "pattern", "bokeh")


def _random_color(rng: np.random.Generator, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    return rng.uniform(lo, hi, size=3)


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Broadcastable pixel coordinates: ys ``(h, 1)``, xs ``(1, w)`` (float32)."""
    return np.arange(h, dtype=np.float32)[:, None], np.arange(w, dtype=np.float32)[None, :]


def _ramp(t: np.ndarray, c0: np.ndarray, c1: np.ndarray) -> np.ndarray:
    """Map ``t`` in ``[0, 1]`` ``(h, w)`` to colours between ``c0`` and ``c1``: ``(h, w, 3)`` float32."""
    t = t[..., None].astype(np.float32)
    return (c0.astype(np.float32) + t * (c1 - c0).astype(np.float32)).astype(np.float32)


def _gradient(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    ys, xs = _grid(h, w)
    if rng.random() < 0.5:  # linear
        angle = rng.uniform(0, 2 * np.pi)
        t = (xs * np.float32(np.cos(angle)) + ys * np.float32(np.sin(angle))) / max(h, w)
    else:  # radial
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        t = np.sqrt((xs - np.float32(cx)) ** 2 + (ys - np.float32(cy)) ** 2) / max(h, w)
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    return _ramp(t, _random_color(rng), _random_color(rng))


def _fractal_noise(rng: np.random.Generator, h: int, w: int, octaves: int = 5) -> np.ndarray:
    """Value noise summed over octaves (bicubic upsampling of random grids), in ``[0, 1]``, ``(h, w)`` float32."""
    out = np.zeros((h, w), dtype=np.float32)
    amp, total = 1.0, 0.0
    cells = int(rng.integers(2, 5))
    for _ in range(octaves):
        grid = rng.random((cells + 1, cells + 1), dtype=np.float32)
        out += np.float32(amp) * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= 0.5
        cells *= 2
    return (out - out.min()) / max(float(np.ptp(out)), 1e-6)


def _noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    return _ramp(_fractal_noise(rng, h, w), _random_color(rng), _random_color(rng))


def _shapes(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    img = _gradient(rng, h, w)
    for _ in range(int(rng.integers(5, 25))):
        color = tuple(float(c) for c in _random_color(rng))
        kind = rng.integers(4)
        if kind == 0:
            p0 = (int(rng.integers(-w // 4, w)), int(rng.integers(-h // 4, h)))
            p1 = (p0[0] + int(rng.integers(5, w // 2 + 6)), p0[1] + int(rng.integers(5, h // 2 + 6)))
            cv2.rectangle(img, p0, p1, color, -1)
        elif kind == 1:
            center = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.circle(img, center, int(rng.integers(2, max(h, w) // 4 + 3)), color, -1, cv2.LINE_AA)
        elif kind == 2:
            pts = np.stack([rng.integers(0, w, 5), rng.integers(0, h, 5)], 1).astype(np.int32)
            cv2.fillPoly(img, [pts], color, cv2.LINE_AA)
        else:
            p0 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.line(img, p0, p1, color, int(rng.integers(1, 5)), cv2.LINE_AA)
    if rng.random() < 0.5:
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.5, 3.0)))
    return img


def _pattern(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    ys, xs = _grid(h, w)
    period = np.float32(rng.uniform(4, 24))
    kind = rng.integers(3)
    if kind == 0:  # stripes
        t = np.broadcast_to(np.sin(2 * np.pi * xs / period) > 0, (h, w))
    elif kind == 1:  # checker
        t = (np.floor(xs / period) + np.floor(ys / period)) % 2 > 0
    else:  # grid lines
        t = (xs % period < 1.5) | (ys % period < 1.5)
    img = _ramp(t.astype(np.float32), _random_color(rng), _random_color(rng))
    # A random homography, so the pattern looks like a surface seen in perspective.
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = src + rng.uniform(-0.3, 0.3, size=(4, 2)).astype(np.float32) * np.float32([w, h])
    mat = cv2.getPerspectiveTransform(src, dst)
    img = cv2.warpPerspective(img, mat, (w, h), borderMode=cv2.BORDER_REFLECT)
    return cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.3, 1.2)))


def _bokeh(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    img = _gradient(rng, h, w) * np.float32(rng.uniform(0.05, 0.4))
    layer = np.zeros_like(img)
    for _ in range(int(rng.integers(10, 40))):
        center = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        color = tuple(float(c) for c in _random_color(rng, 0.3, 1.0) * rng.uniform(0.3, 1.0))
        cv2.circle(layer, center, int(rng.integers(2, max(h, w) // 8 + 3)), color, -1, cv2.LINE_AA)
    layer = cv2.GaussianBlur(layer, (0, 0), float(rng.uniform(1.0, 4.0)))
    return np.clip(img + layer, 0.0, 1.0)


def _studio(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A dark, almost uniform backdrop with vignetting, like the black capture dome of InterHand2.6M."""
    ys, xs = _grid(h, w)
    r2 = ((xs - w / 2) / w) ** 2 + ((ys - h / 2) / h) ** 2  # (h, w)
    level = np.float32(rng.uniform(0.02, 0.2))
    tint = (1.0 + rng.normal(0.0, 0.1, size=3)).astype(np.float32)
    shade = level * (1.0 - np.float32(rng.uniform(0.3, 0.9)) * r2) + np.float32(0.03) * _fractal_noise(rng, h, w, 3)
    return np.clip(shade[..., None] * tint, 0.0, 1.0)


_GENERATORS = {
    "studio": _studio,
    "gradient": _gradient,
    "noise": _noise,
    "shapes": _shapes,
    "pattern": _pattern,
    "bokeh": _bokeh,
}


def sample_background(rng: np.random.Generator, width: int, height: int, kind: str | None = None) -> np.ndarray:
    """A procedural background.

    Backgrounds are drawn at half resolution and upsampled (4x cheaper; they are smooth, or blurred by the camera
    model anyway).

    Args:
        rng: random generator.
        width, height: image size.
        kind: one of :data:`BACKGROUND_KINDS`, or None for a random one.

    Returns:
        ``(H, W, 3)`` float32 sRGB in ``[0, 1]``.
    """
    if kind is None:
        kind = BACKGROUND_KINDS[int(rng.integers(len(BACKGROUND_KINDS)))]
    if kind not in _GENERATORS:
        raise ValueError(f"unknown background kind {kind!r}; choose one of {BACKGROUND_KINDS}")
    h, w = (height + 1) // 2, (width + 1) // 2
    img = np.asarray(_GENERATORS[kind](rng, h, w), dtype=np.float32)
    img = cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(img, 0.0, 1.0)


def composite(rgba: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Alpha-blend a rendered ``(H, W, 4)`` uint8 RGBA (not premultiplied) over a ``(H, W, 3)`` float background.

    Returns:
        ``(H, W, 3)`` float32 in ``[0, 1]``.
    """
    alpha = rgba[..., 3:4].astype(np.float32) * np.float32(1.0 / 255.0)
    fg = rgba[..., :3].astype(np.float32) * np.float32(1.0 / 255.0)
    out = background.astype(np.float32, copy=True)
    out += alpha * (fg - out)
    return out


_NOISE_BANK: dict[tuple[int, int], np.ndarray] = {}


def _noise_tile(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """``(h, w)`` float32 standard-normal noise: a random window of a fixed, cached bank (drawing 0.5 M normals per
    image would cost more than the rest of the camera model). The bank is seeded with a constant, so the window is
    a deterministic function of ``rng``."""
    key = (h, w)
    if key not in _NOISE_BANK:
        _NOISE_BANK.clear()
        _NOISE_BANK[key] = np.random.default_rng(20231029).standard_normal((2 * h, 2 * w), dtype=np.float32)
    bank = _NOISE_BANK[key]
    y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
    tile = bank[y : y + h, x : x + w]
    return tile[::-1] if rng.random() < 0.5 else tile


def finish_image(rng: np.random.Generator, image: np.ndarray, grayscale: bool = False) -> np.ndarray:
    """Camera effects: lens blur, sensor noise, exposure and white-balance jitter, gamma, optional grayscale.

    Args:
        rng: random generator.
        image: ``(H, W, 3)`` float sRGB in ``[0, 1]``.
        grayscale: convert to gray (stored as three equal channels, which is how ``cv2.imread`` reads any JPEG).

    Returns:
        ``(H, W, 3)`` uint8 RGB.
    """
    h, w = image.shape[:2]
    img = cv2.GaussianBlur(image.astype(np.float32, copy=False), (0, 0), float(rng.uniform(0.35, 0.9)))
    img += _noise_tile(rng, h, w)[..., None] * np.float32(rng.uniform(0.002, 0.02))
    np.clip(img, 0.0, 1.0, out=img)
    out = cv2.convertScaleAbs(img, alpha=255.0)  # rounds and saturates to uint8 (values are non-negative)
    # Exposure, white balance and gamma as one per-channel lookup table.
    gain = rng.uniform(0.8, 1.2) * (1.0 + rng.normal(0.0, 0.04, size=3))
    gamma = rng.uniform(0.85, 1.15)
    levels = np.arange(256, dtype=np.float64)[:, None] / 255.0
    lut = np.clip(np.clip(levels * gain, 0.0, 1.0) ** gamma * 255.0 + 0.5, 0, 255).astype(np.uint8)  # (256, 3)
    out = cv2.LUT(out, lut[None])
    if grayscale:
        gray = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)
        out = cv2.merge([gray, gray, gray])
    return out


def encode_jpeg(image_rgb: np.ndarray, quality: int) -> bytes:
    """JPEG bytes of an RGB uint8 image (OpenCV's libjpeg; deterministic for the same input and quality)."""
    ok, buf = cv2.imencode(".jpg", image_rgb[..., ::-1], [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:  # pragma: no cover - OpenCV only fails here on a broken build
        raise RuntimeError("OpenCV could not encode a JPEG")
    return buf.tobytes()
