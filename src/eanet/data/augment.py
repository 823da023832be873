"""Crop boxes, augmentation draws and the crop warp of the official training code (``common/utils/preprocessing.py``).

Boxes are ``(x, y, w, h)`` in original-image pixels. The functions on boxes are vectorised over a leading axis so
the dataset can compute every sample's ground-truth box once, when it builds its sample list.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "AugmentParams",
    "AugmentConfig",
    "joints_bbox",
    "union_bbox",
    "process_bbox",
    "draw_augmentation",
    "crop_transform",
    "crop_image",
    "flip_matrix",
    "scale_colors",
]


def joints_bbox(xy: np.ndarray, valid: np.ndarray, extend: float = 1.25) -> tuple[np.ndarray, np.ndarray]:
    """The official ``get_bbox``: the valid points' extent, scaled about its centre by ``extend``.

    Args:
        xy: ``(N, J, 2)`` points.
        valid: ``(N, J)`` 0/1.

    Returns:
        ``bbox`` ``(N, 4)`` float32 xywh and ``ok`` ``(N,)`` bool (False where no point is valid; bbox is 0 there).
    """
    v = np.asarray(valid) > 0
    ok = v.any(axis=1)
    x = np.where(v, xy[..., 0], np.nan)
    y = np.where(v, xy[..., 1], np.nan)
    with warnings.catch_warnings():  # all-NaN rows (no valid point) are handled through ``ok``
        warnings.simplefilter("ignore", RuntimeWarning)
        xmin, xmax = np.nanmin(x, axis=1), np.nanmax(x, axis=1)
        ymin, ymax = np.nanmin(y, axis=1), np.nanmax(y, axis=1)
    cx, w = (xmin + xmax) / 2.0, (xmax - xmin) * extend
    cy, h = (ymin + ymax) / 2.0, (ymax - ymin) * extend
    box = np.stack([cx - 0.5 * w, cy - 0.5 * h, w, h], axis=1)  # (N, 4)
    box = np.where(ok[:, None], box, 0.0).astype(np.float32)
    return box, ok


def union_bbox(right: np.ndarray, left: np.ndarray, official_bug: bool = False) -> np.ndarray:
    """Union of two xywh boxes ``(N, 4)``.

    Args:
        official_bug: reproduce line 141 of the official ``data/InterHand26M/InterHand26M.py``: width and height
            are measured from the *right* box's corner instead of the union's, so the box is too small whenever the
            left hand's box starts left of or above the right one's. Off by default; on to reproduce what the
            released model saw.
    """
    r_xyxy = np.concatenate([right[:, :2], right[:, :2] + right[:, 2:]], axis=1)
    l_xyxy = np.concatenate([left[:, :2], left[:, :2] + left[:, 2:]], axis=1)
    lo = np.minimum(r_xyxy[:, :2], l_xyxy[:, :2])
    hi = np.maximum(r_xyxy[:, 2:], l_xyxy[:, 2:])
    size = hi - (r_xyxy[:, :2] if official_bug else lo)
    return np.concatenate([lo, size], axis=1).astype(np.float32)


def process_bbox(
    bbox: np.ndarray, img_width: np.ndarray, img_height: np.ndarray, aspect_ratio: float = 1.0, extend: float = 1.25,
    sanitize: bool = True,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The official ``process_bbox``: clip to the image, grow to the input aspect ratio (w/h), scale by ``extend``.

    Args:
        bbox: ``(N, 4)`` xywh; ``img_width``, ``img_height``: ``(N,)`` or scalars.

    Returns:
        ``(N, 4)`` float32 boxes and ``ok`` ``(N,)`` (False where the clipped box is empty: the official ``None``).
    """
    bbox = np.asarray(bbox, dtype=np.float64)
    x, y, w, h = bbox.T
    ok = np.ones(len(bbox), dtype=bool)
    if sanitize:
        x1 = np.maximum(0.0, x)
        y1 = np.maximum(0.0, y)
        x2 = np.minimum(np.asarray(img_width) - 1.0, x1 + np.maximum(0.0, w - 1.0))
        y2 = np.minimum(np.asarray(img_height) - 1.0, y1 + np.maximum(0.0, h - 1.0))
        ok = (w * h > 0) & (x2 > x1) & (y2 > y1)
        x, y, w, h = x1, y1, x2 - x1, y2 - y1
    cx, cy = x + w / 2.0, y + h / 2.0
    w, h = np.where(w > aspect_ratio * h, w, h * aspect_ratio), np.where(w > aspect_ratio * h, w / aspect_ratio, h)
    w, h = w * extend, h * extend
    out = np.stack([cx - w / 2.0, cy - h / 2.0, w, h], axis=1)
    return np.where(ok[:, None], out, 0.0).astype(np.float32), ok


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentation ranges (defaults: the official ``get_aug_config``)."""

    scale_factor: float = 0.25  # scale = 1 + scale_factor * clip(N(0,1), -1, 1)
    rot_factor_deg: float = 30.0  # rot = rot_factor * clip(N(0,1), -2, 2) ...
    rot_prob: float = 0.6  # ... with this probability, else 0
    color_factor: float = 0.2  # per-channel colour scale U[1 - f, 1 + f]
    flip_prob: float = 0.5


@dataclass(frozen=True)
class AugmentParams:
    scale: float = 1.0
    rot_deg: float = 0.0
    color_scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    do_flip: bool = False


def draw_augmentation(rng: np.random.Generator, cfg: AugmentConfig) -> AugmentParams:
    """One draw of the official ``get_aug_config`` from an explicit generator (seeded per sample and epoch)."""
    scale = float(np.clip(rng.standard_normal(), -1.0, 1.0) * cfg.scale_factor + 1.0)
    rot = float(np.clip(rng.standard_normal(), -2.0, 2.0) * cfg.rot_factor_deg) if rng.random() <= cfg.rot_prob else 0.0
    color = tuple(float(c) for c in rng.uniform(1.0 - cfg.color_factor, 1.0 + cfg.color_factor, size=3))
    do_flip = bool(rng.random() <= cfg.flip_prob) if cfg.flip_prob > 0 else False
    return AugmentParams(scale=scale, rot_deg=rot, color_scale=color, do_flip=do_flip)  # type: ignore[arg-type]


def crop_transform(
    bbox: np.ndarray, out_size: tuple[int, int], scale: float = 1.0, rot_deg: float = 0.0, inverse: bool = False
) -> np.ndarray:
    """The official ``gen_trans_from_patch_cv``: the affine map from the box (scaled, rotated) to the crop.

    Args:
        bbox: ``(4,)`` xywh in the (already flipped, when flipping) image.
        out_size: ``(height, width)`` of the crop.

    Returns:
        ``(2, 3)`` float32 (crop -> image when ``inverse``).
    """
    cx, cy = bbox[0] + 0.5 * bbox[2], bbox[1] + 0.5 * bbox[3]
    src_w, src_h = bbox[2] * scale, bbox[3] * scale
    a = np.deg2rad(rot_deg)
    c, s = np.cos(a), np.sin(a)
    down = np.array([-s * src_h * 0.5, c * src_h * 0.5])
    right = np.array([c * src_w * 0.5, s * src_w * 0.5])
    dst_h, dst_w = out_size
    src = np.float32([[cx, cy], [cx + down[0], cy + down[1]], [cx + right[0], cy + right[1]]])
    dst = np.float32([[dst_w * 0.5, dst_h * 0.5], [dst_w * 0.5, dst_h], [dst_w, dst_h * 0.5]])
    trans = cv2.getAffineTransform(dst, src) if inverse else cv2.getAffineTransform(src, dst)
    return trans.astype(np.float32)


def flip_matrix(img_width: int) -> np.ndarray:
    """``(3, 3)`` homogeneous horizontal flip of an image of this width: ``u -> W - 1 - u``."""
    return np.array([[-1.0, 0.0, img_width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def crop_image(
    img: np.ndarray, bbox: np.ndarray, out_size: tuple[int, int], aug: AugmentParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crop (and flip, scale, rotate) an image with one ``cv2.warpAffine``.

    The official code mirrors the whole image and crops around the mirrored box centre; composing the mirror into
    the affine map samples exactly the same pixels without copying the full image.

    Args:
        img: ``(H, W, 3)`` uint8 image.
        bbox: ``(4,)`` xywh in the *unflipped* image.
        out_size: ``(height, width)``.

    Returns:
        ``crop`` ``(h, w, 3)`` uint8, ``img2bb`` and ``bb2img`` ``(2, 3)`` float32 between the (flipped when
        ``aug.do_flip``) image and the crop (the official meta, used to map predictions back).
    """
    width = img.shape[1]
    box = np.asarray(bbox, dtype=np.float64).copy()
    if aug.do_flip:
        box[0] = width - (box[0] + 0.5 * box[2]) - 1 - 0.5 * box[2]  # mirrored centre, same size
    img2bb = crop_transform(box, out_size, aug.scale, aug.rot_deg)
    bb2img = crop_transform(box, out_size, aug.scale, aug.rot_deg, inverse=True)
    warp = img2bb.astype(np.float64)
    if aug.do_flip:
        warp = warp @ flip_matrix(width)  # original image -> flipped image -> crop
    crop = cv2.warpAffine(img, warp, (int(out_size[1]), int(out_size[0])), flags=cv2.INTER_LINEAR)
    return crop, img2bb, bb2img


def scale_colors(crop: np.ndarray, color_scale: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> np.ndarray:
    """``clip(crop * color_scale, 0, 255) / 255`` as a ``(3, H, W)`` float32 view (official colour augmentation).

    OpenCV does the multiply in one pass (several times faster than NumPy's temporaries); the channel-first view is
    made contiguous by the batch collation, which copies anyway.
    """
    scale = tuple(float(c) / 255.0 for c in color_scale) + (0.0,)
    out = cv2.multiply(crop, scale, dtype=cv2.CV_32F)  # (H, W, 3)
    np.minimum(out, 1.0, out=out)
    return out.transpose(2, 0, 1)  # (3, H, W)
