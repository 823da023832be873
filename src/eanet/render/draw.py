"""2D drawing on RGB images (OpenCV): hand skeletons, the right/left colour legend, the warnings badge and contact
sheets."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from eanet.errors import InvalidInputError
from eanet.hand_model.skeleton import BONES_21
from eanet.render.scene import HAND_COLORS, as_rgb

__all__ = [
    "FINGER_COLORS",
    "LEGEND_CORNERS",
    "LegendLayout",
    "draw_joints_2d",
    "contact_sheet",
    "put_label",
    "legend_layout",
    "choose_legend_corner",
    "draw_hand_legend",
    "WarningBadgeLayout",
    "warning_badge_layout",
    "choose_warning_badge_corner",
    "draw_warning_badge",
]

#: One colour per finger (thumb, index, middle, ring, pinky), sRGB floats, for skeleton drawings.
FINGER_COLORS: tuple[tuple[float, float, float], ...] = (
    (0.90, 0.20, 0.20),
    (0.95, 0.65, 0.10),
    (0.20, 0.75, 0.25),
    (0.15, 0.55, 0.95),
    (0.70, 0.30, 0.90),
)


def _to_255(color) -> tuple[int, int, int]:
    # OpenCV draws in the array's own channel order; images here are RGB, so RGB values go in unchanged.
    c = as_rgb(color)
    return tuple(int(round(float(x) * 255)) for x in c)


def draw_joints_2d(
    image: np.ndarray,
    joints: np.ndarray,
    bones: Sequence[tuple[int, int]] = BONES_21,
    color: tuple[float, float, float] | None = None,
    radius: int | None = None,
    thickness: int | None = None,
    valid: np.ndarray | None = None,
) -> np.ndarray:
    """Draw a skeleton over an RGB image.

    Args:
        image: ``(H, W, 3)`` uint8 RGB; not modified.
        joints: ``(J, 2)`` pixel coordinates (wrist-first 21-joint order for the default ``bones``).
        bones: ``(child, parent)`` index pairs.
        color: one sRGB colour for everything; None colours each finger (:data:`FINGER_COLORS`) for 21 joints.
        radius, thickness: joint dot radius and bone width in pixels (default: scaled to the image size).
        valid: optional ``(J,)`` bool/0-1 array; joints that are not valid and their bones are skipped.

    Returns:
        ``(H, W, 3)`` uint8 RGB copy with the skeleton drawn (anti-aliased).
    """
    import cv2

    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InvalidInputError(f"image must be (H, W, 3) uint8 RGB, got shape {image.shape} dtype {image.dtype}")
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 2 or joints.shape[1] != 2:
        raise InvalidInputError(f"joints must have shape (J, 2), got {joints.shape}")
    num = len(joints)
    if bones and max(max(b) for b in bones) >= num:
        raise InvalidInputError(f"bones index joint {max(max(b) for b in bones)} but only {num} joints were given")
    ok = np.ones(num, bool) if valid is None else np.asarray(valid).reshape(num).astype(bool)
    ok &= np.all(np.isfinite(joints), axis=1)
    scale = max(image.shape[:2]) / 256.0
    radius = radius if radius is not None else max(1, round(2.5 * scale))
    thickness = thickness if thickness is not None else max(1, round(1.5 * scale))

    def joint_color(j: int) -> tuple[int, int, int]:
        if color is not None:
            return _to_255(color)
        if num == 21 and j > 0:
            return _to_255(FINGER_COLORS[(j - 1) // 4])
        return _to_255((0.95, 0.95, 0.95))

    out = np.ascontiguousarray(image.copy())
    # Fixed-point coordinates (4 fractional bits) keep sub-pixel positions, so thin bones do not jitter.
    shift = 4
    pts = np.where(np.isfinite(joints), joints, 0.0) * (1 << shift)
    pts = np.rint(pts).astype(np.int64)
    for child, parent in bones:
        if ok[child] and ok[parent]:
            p0, p1 = tuple(map(int, pts[parent])), tuple(map(int, pts[child]))
            cv2.line(out, p0, p1, joint_color(child), thickness, cv2.LINE_AA, shift)
    for j in range(num):
        if ok[j]:
            center = tuple(map(int, pts[j]))
            cv2.circle(out, center, radius << shift, (0, 0, 0), -1, cv2.LINE_AA, shift)
            cv2.circle(out, center, max(1, radius - 1) << shift, joint_color(j), -1, cv2.LINE_AA, shift)
    return out


def put_label(image: np.ndarray, text: str, color: tuple[float, float, float] = (0.1, 0.1, 0.1)) -> np.ndarray:
    """A copy of an RGB image with ``text`` written in its top-left corner on a light band."""
    import cv2

    out = np.ascontiguousarray(np.asarray(image)[..., :3].copy())
    scale = max(0.35, out.shape[1] / 700.0)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    band = out[: th + base + 6, : tw + 8]
    band[:] = (0.35 * band + 0.65 * 255).astype(np.uint8)
    cv2.putText(out, text, (4, th + 3), cv2.FONT_HERSHEY_SIMPLEX, scale, _to_255(color), 1, cv2.LINE_AA)
    return out


def contact_sheet(
    images: Sequence[np.ndarray],
    columns: int,
    labels: Sequence[str] | None = None,
    pad: int = 4,
    pad_color: tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> np.ndarray:
    """Tile equally sized RGB(A) images into one RGB grid.

    Args:
        images: ``(H, W, 3 or 4)`` uint8 images of one size (alpha is composited over ``pad_color``).
        columns: images per row.
        labels: optional text per image (top-left corner).
        pad: pixels between tiles.
        pad_color: sRGB colour of the padding.

    Returns:
        ``(rows * (H + pad) + pad, columns * (W + pad) + pad, 3)`` uint8.
    """
    if not images:
        raise InvalidInputError("contact_sheet needs at least one image")
    if labels is not None and len(labels) != len(images):
        raise InvalidInputError(f"got {len(labels)} labels for {len(images)} images")
    h, w = images[0].shape[:2]
    bg = np.array(_to_255(pad_color), np.float32)
    tiles = []
    for i, img in enumerate(images):
        img = np.asarray(img)
        if img.shape[:2] != (h, w):
            raise InvalidInputError(f"image {i} is {img.shape[1]}x{img.shape[0]}, expected {w}x{h}")
        if img.shape[2] == 4:
            a = img[..., 3:].astype(np.float32) / 255.0
            img = np.rint(img[..., :3] * a + bg * (1 - a)).astype(np.uint8)
        if labels is not None and labels[i]:
            img = put_label(img, labels[i])
        tiles.append(img)
    rows = -(-len(tiles) // columns)
    sheet = np.empty((rows * (h + pad) + pad, columns * (w + pad) + pad, 3), np.uint8)
    sheet[:] = bg.astype(np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        sheet[y : y + h, x : x + w] = tile
    return sheet


# ----------------------------------------------------------------------------------------------------------------
# the right/left colour legend

#: Corners a legend can take, in the order preferred when several hide nothing.
LEGEND_CORNERS: tuple[str, ...] = ("top-left", "top-right", "bottom-left", "bottom-right")
#: Legend text height never goes below this (pixels): OpenCV's Hershey font stays readable down to about 9 px.
_MIN_TEXT_PX = 9
_FONT = 0  # cv2.FONT_HERSHEY_SIMPLEX (not imported at module level: OpenCV loads when first used)
_TEXT_COLOR = (0.08, 0.08, 0.08)


@dataclass(frozen=True)
class _TextStyle:
    """Text and spacing shared by the legend and the warnings badge, from the picture's size: text about 1/30 of
    the smaller side (at least :data:`_MIN_TEXT_PX`)."""

    text_px: int
    scale: float
    thickness: int
    pad: int
    margin: int

    @classmethod
    def for_picture(cls, width: int, height: int) -> _TextStyle:
        import cv2

        (_, unit_h), _ = cv2.getTextSize("Rl", _FONT, 1.0, 1)
        text_px = max(_MIN_TEXT_PX, round(min(width, height) / 30))
        return cls(text_px, text_px / unit_h, max(1, round(text_px / 14)), max(2, text_px // 3), max(2, text_px // 3))

    def text_width(self, text: str) -> int:
        import cv2

        return cv2.getTextSize(text, _FONT, self.scale, self.thickness)[0][0]

    def box_origin(self, corner: str, width: int, height: int, box_w: int, box_h: int) -> tuple[int, int]:
        """Top-left of a ``box_w`` x ``box_h`` box in ``corner``, ``margin`` from the picture's edges."""
        x = self.margin if corner.endswith("left") else width - self.margin - box_w
        y = self.margin if corner.startswith("top") else height - self.margin - box_h
        return x, y


def _checked_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InvalidInputError(f"image must be (H, W, 3) uint8 RGB, got shape {image.shape} dtype {image.dtype}")
    return image


def _lighten(out: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """Make ``box`` of ``out`` light and mostly opaque, in place: dark text stays readable on any photo, and the
    photo still shows through a bit."""
    x, y, w, h = box
    height, width = out.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)
    out[y0:y1, x0:x1] = (0.15 * out[y0:y1, x0:x1] + 0.85 * 255).astype(np.uint8)


@dataclass(frozen=True)
class LegendLayout:
    """Where a legend is drawn in an image (pixels, ``x, y, width, height``).

    Attributes:
        corner: one of :data:`LEGEND_CORNERS`.
        box: the whole legend box.
        swatches: per entry (``right``, ``left``), its colour square.
        labels: per entry, the text written next to its square.
        text_origins: per entry, the text's baseline start (OpenCV ``putText`` origin).
        font_scale, thickness: OpenCV text settings used.
    """

    corner: str
    box: tuple[int, int, int, int]
    swatches: dict[str, tuple[int, int, int, int]]
    labels: dict[str, str]
    text_origins: dict[str, tuple[int, int]]
    font_scale: float
    thickness: int


def legend_layout(
    width: int,
    height: int,
    names: Sequence[str] = ("right", "left"),
    corner: str = "top-left",
    suffix: str = "hand",
) -> LegendLayout:
    """The legend's size and place in a ``width`` x ``height`` image: text about 1/30 of the smaller side (at least
    9 px), ``<name> <suffix>`` labels (``right hand``), or just ``<name>`` when those would take more than 40% of
    the width."""
    if corner not in LEGEND_CORNERS:
        raise InvalidInputError(f"legend corner must be one of {list(LEGEND_CORNERS)}, got {corner!r}")
    style = _TextStyle.for_picture(width, height)
    text_px, pad = style.text_px, style.pad
    labels = {name: f"{name} {suffix}".strip() for name in names}
    widest = max(style.text_width(t) for t in labels.values())
    if widest > 0.4 * width:
        labels = {name: name for name in names}
        widest = max(style.text_width(t) for t in labels.values())
    square = text_px + 2
    row = square + pad
    box_w = pad + square + pad + widest + pad
    box_h = pad + row * len(names)
    x, y = style.box_origin(corner, width, height, box_w, box_h)
    swatches = {name: (x + pad, y + pad + i * row, square, square) for i, name in enumerate(names)}
    # Capitals of height ~text_px centred on the square: baseline at its middle plus half the text height.
    origins = {name: (sx + square + pad, sy + (square + text_px) // 2) for name, (sx, sy, _, _) in swatches.items()}
    return LegendLayout(corner, (x, y, box_w, box_h), swatches, labels, origins, style.scale, style.thickness)


def choose_legend_corner(
    width: int,
    height: int,
    avoid_points: np.ndarray | None = None,
    avoid_mask: np.ndarray | None = None,
    names: Sequence[str] = ("right", "left"),
    suffix: str = "hand",
) -> str:
    """The corner where the legend hides the least of what matters (the hands).

    Args:
        avoid_points: ``(N, 2)`` pixel positions to keep visible (e.g. the hands' projected vertices).
        avoid_mask: ``(H, W)`` bool, pixels to keep visible (e.g. the hands in a rendered view).

    Returns:
        The corner covering the fewest of them; ties go to the corner farthest from their centre, then to the
        order of :data:`LEGEND_CORNERS`.
    """
    return _least_hiding_corner(
        lambda corner: legend_layout(width, height, names, corner, suffix).box, LEGEND_CORNERS, avoid_points, avoid_mask
    )


def _least_hiding_corner(
    box_at: Callable[[str], tuple[int, int, int, int]],
    corners: Sequence[str],
    avoid_points: np.ndarray | None,
    avoid_mask: np.ndarray | None,
) -> str:
    """Of ``corners``, the one whose box (``box_at(corner)``: ``x, y, w, h``) covers the fewest points and mask
    pixels; ties go to the box farthest from their centre, then to the order of ``corners``."""
    points = np.zeros((0, 2))
    if avoid_points is not None:
        points = np.asarray(avoid_points, dtype=np.float64).reshape(-1, 2)
        points = points[np.all(np.isfinite(points), axis=1)]
    mask = None if avoid_mask is None else np.asarray(avoid_mask, dtype=bool)
    if mask is not None and mask.any():
        ys, xs = np.nonzero(mask)
        centre = np.array([xs.mean(), ys.mean()])
    elif len(points):
        centre = points.mean(axis=0)
    else:
        centre = None

    def cost(corner: str) -> tuple[float, float]:
        x, y, w, h = box_at(corner)
        hidden = 0.0
        if len(points):
            inside = (points[:, 0] >= x) & (points[:, 0] < x + w) & (points[:, 1] >= y) & (points[:, 1] < y + h)
            hidden += float(inside.sum())
        if mask is not None:
            hidden += float(mask[max(y, 0) : y + h, max(x, 0) : x + w].sum())
        distance = 0.0 if centre is None else float(np.hypot(x + w / 2 - centre[0], y + h / 2 - centre[1]))
        return hidden, -distance

    return min(corners, key=cost)


def draw_hand_legend(
    image: np.ndarray,
    colors: Mapping[str, tuple[float, float, float]] | None = None,
    corner: str = "auto",
    avoid_points: np.ndarray | None = None,
    avoid_mask: np.ndarray | None = None,
    suffix: str = "hand",
) -> tuple[np.ndarray, LegendLayout]:
    """A copy of an RGB image with a small legend naming each hand next to a square of its colour.

    Args:
        image: ``(H, W, 3)`` uint8 RGB; not modified.
        colors: name -> sRGB colour, in legend order (default :data:`~eanet.render.scene.HAND_COLORS`: right, left).
        corner: one of :data:`LEGEND_CORNERS`, or ``auto`` (:func:`choose_legend_corner` with ``avoid_*``).
        avoid_points, avoid_mask: what ``auto`` keeps visible.
        suffix: the word after each name (``right hand``; ``wrist`` where only the wrists carry the colours).

    Returns:
        ``(image with the legend, its layout)``.
    """
    import cv2

    image = _checked_rgb(image)
    colors = dict(colors or HAND_COLORS)
    height, width = image.shape[:2]
    names = tuple(colors)
    if corner == "auto":
        corner = choose_legend_corner(width, height, avoid_points, avoid_mask, names, suffix)
    layout = legend_layout(width, height, names, corner, suffix)
    out = np.ascontiguousarray(image.copy())
    x, y, w, h = layout.box
    _lighten(out, layout.box)
    dark = _to_255(_TEXT_COLOR)
    cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), (150, 150, 150), 1)
    for name in names:
        sx, sy, sw, sh = layout.swatches[name]
        cv2.rectangle(out, (sx, sy), (sx + sw - 1, sy + sh - 1), _to_255(colors[name]), -1)
        cv2.rectangle(out, (sx, sy), (sx + sw - 1, sy + sh - 1), dark, 1)
        cv2.putText(out, layout.labels[name], layout.text_origins[name], _FONT, layout.font_scale, dark,
                    layout.thickness, cv2.LINE_AA)  # fmt: skip
    return out, layout


# ----------------------------------------------------------------------------------------------------------------
# the warnings badge: what a picture's viewer must know about the prediction (the picture travels without the JSON)

#: Warning text: a dark red, readable on the badge's light box.
_WARNING_COLOR = (0.62, 0.05, 0.02)
#: A badge line is shortened (ending in "...") when it would be wider than this share of the image.
_BADGE_MAX_WIDTH = 0.9


@dataclass(frozen=True)
class WarningBadgeLayout:
    """Where a warnings badge is drawn (pixels, ``x, y, width, height``).

    Attributes:
        corner: one of :data:`LEGEND_CORNERS`.
        box: the whole badge.
        lines: the text of each line as drawn (``! `` first; shortened when too wide).
        text_origins: per line, the text's baseline start (OpenCV ``putText`` origin).
        font_scale, thickness: OpenCV text settings used.
    """

    corner: str
    box: tuple[int, int, int, int]
    lines: tuple[str, ...]
    text_origins: tuple[tuple[int, int], ...]
    font_scale: float
    thickness: int


def warning_badge_layout(width: int, height: int, lines: Sequence[str], corner: str = "bottom-left") -> WarningBadgeLayout:
    """The badge's size and place: one ``! <line>`` per warning, text the legend's size (about 1/30 of the smaller
    side, at least 9 px); a line wider than 90% of the image is cut and ends in ``...``."""
    if corner not in LEGEND_CORNERS:
        raise InvalidInputError(f"badge corner must be one of {list(LEGEND_CORNERS)}, got {corner!r}")
    if not lines:
        raise InvalidInputError("a warnings badge needs at least one line")
    style = _TextStyle.for_picture(width, height)
    text_px, pad, text_width = style.text_px, style.pad, style.text_width
    limit = max(1, int(_BADGE_MAX_WIDTH * width) - 2 * pad)
    drawn = []
    for line in lines:
        text = f"! {line}"
        while text_width(text) > limit and len(text) > 4:
            text = text[: -4 if text.endswith("...") else -1].rstrip() + "..."
        drawn.append(text)
    row = text_px + pad
    box_w = pad + max(text_width(t) for t in drawn) + pad
    box_h = pad + row * len(drawn)
    x, y = style.box_origin(corner, width, height, box_w, box_h)
    origins = tuple((x + pad, y + pad + i * row + text_px) for i in range(len(drawn)))
    return WarningBadgeLayout(corner, (x, y, box_w, box_h), tuple(drawn), origins, style.scale, style.thickness)


def choose_warning_badge_corner(
    width: int,
    height: int,
    lines: Sequence[str],
    avoid_points: np.ndarray | None = None,
    avoid_mask: np.ndarray | None = None,
    legend_corner: str | None = None,
) -> str:
    """The corner where the badge hides the least of the hands (the rules of :func:`choose_legend_corner`); with a
    legend at ``legend_corner``, one of the other row's two corners (a badge can be nearly as wide as the image)."""
    if legend_corner is not None and legend_corner not in LEGEND_CORNERS:
        raise InvalidInputError(f"legend corner must be one of {list(LEGEND_CORNERS)}, got {legend_corner!r}")
    row = None if legend_corner is None else legend_corner.split("-")[0]
    corners = [c for c in LEGEND_CORNERS if row is None or not c.startswith(row)]
    return _least_hiding_corner(
        lambda corner: warning_badge_layout(width, height, lines, corner).box, corners, avoid_points, avoid_mask
    )


def draw_warning_badge(
    image: np.ndarray,
    lines: Sequence[str],
    corner: str = "auto",
    avoid_points: np.ndarray | None = None,
    avoid_mask: np.ndarray | None = None,
    legend_corner: str | None = None,
) -> tuple[np.ndarray, WarningBadgeLayout | None]:
    """A copy of an RGB image with the prediction's warnings written in a corner (none: the image unchanged).

    Args:
        image: ``(H, W, 3)`` uint8 RGB; not modified.
        lines: short warnings, one per line (:func:`eanet.inference.visualize.picture_warning_lines`).
        corner: one of :data:`LEGEND_CORNERS`, or ``auto`` (:func:`choose_warning_badge_corner`).
        avoid_points, avoid_mask: what ``auto`` keeps visible.
        legend_corner: where the picture's legend is (``auto`` then keeps to the other row), or None.

    Returns:
        ``(image with the badge, its layout)``; the layout is None when ``lines`` is empty.
    """
    import cv2

    image = _checked_rgb(image)
    if not lines:
        return image.copy(), None
    height, width = image.shape[:2]
    if corner == "auto":
        corner = choose_warning_badge_corner(width, height, lines, avoid_points, avoid_mask, legend_corner)
    layout = warning_badge_layout(width, height, lines, corner)
    out = np.ascontiguousarray(image.copy())
    x, y, w, h = layout.box
    _lighten(out, layout.box)
    red = _to_255(_WARNING_COLOR)
    cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), red, 1)
    for text, origin in zip(layout.lines, layout.text_origins, strict=True):
        cv2.putText(out, text, origin, _FONT, layout.font_scale, red, layout.thickness, cv2.LINE_AA)
    return out, layout
