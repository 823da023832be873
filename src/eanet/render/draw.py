"""2D drawing on RGB images (OpenCV): hand skeletons and contact sheets."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from eanet.errors import InvalidInputError
from eanet.hand_model.skeleton import BONES_21
from eanet.render.scene import as_rgb

__all__ = ["FINGER_COLORS", "draw_joints_2d", "contact_sheet", "put_label"]

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
