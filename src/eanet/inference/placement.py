"""From the network's crop-frame outputs to one camera frame of the original image (docs/inference.md "Camera").

The network sees a square crop and predicts, per hand, a wrist-relative mesh and a weak-perspective camera
``(s, tx, ty)`` in heatmap pixels (official ``get_coord`` in ``main/model.py``: ``x_hm = s * X + tx`` on the hand
model's un-centred joints), plus ``rel_trans`` (left wrist minus right wrist, metres). Here:

1. The crop box is the two-hand box made square and grown (official ``process_bbox``), and the crop is
   one affine warp of the original image (:func:`eanet.data.augment.crop_image`); its inverse maps crop pixels
   (= heatmap pixels x stride) back to original-image pixels.
2. The original image gets a pinhole camera (OpenCV axes: x right, y down, z forward): the user's intrinsics, or a
   focal guessed from a field of view across the larger image side, principal point at the centre.
3. The right hand's translation ``T`` is solved so that the perspective projection of its un-centred joints
   ``X + T`` best matches their weak-perspective projection mapped to the image (a linear least-squares problem,
   as SPIN/HMR's ``estimate_translation``), with a weak pull of the depth towards ``f / S`` (``S``: the
   weak-perspective scale in image pixels per metre), which keeps it defined for degenerate poses.
4. The left hand is placed by the predicted relative translation: left wrist = right wrist + ``rel_trans``.

2D joints reported to the user are the perspective projections of the placed 3D joints, so the overlay (rendered
with the same camera) shows the meshes exactly where the 2D joints are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eanet.data.augment import crop_transform, process_bbox
from eanet.errors import InvalidInputError
from eanet.render.camera import Camera

__all__ = [
    "Crop",
    "clip_box",
    "make_crop",
    "apply_affine",
    "default_focal",
    "image_camera",
    "solve_translation",
    "project",
]


@dataclass(frozen=True)
class Crop:
    """A square crop of an original image.

    Attributes:
        box: ``(4,)`` xywh of the crop region in original-image pixels (already square and grown).
        hands_box: ``(4,)`` xywh of the two-hand box it was made from (None when the crop box was given as is).
        img2crop: ``(2, 3)`` affine map original-image pixels -> crop pixels.
        crop2img: ``(2, 3)`` the inverse.
        input_size: ``(height, width)`` of the crop.
        source: where the box came from: ``cropped`` (whole image), ``bbox`` (given), ``detector``, ``tracked``
            (video: last box kept while detection missed), ``crop`` (a crop box given as is).
    """

    box: np.ndarray
    hands_box: np.ndarray | None
    img2crop: np.ndarray
    crop2img: np.ndarray
    input_size: tuple[int, int]
    source: str

    def to_dict(self) -> dict:
        return {
            "box_xywh": [float(v) for v in self.box],
            "hands_box_xywh": None if self.hands_box is None else [float(v) for v in self.hands_box],
            "source": self.source,
            "input_size_hw": list(self.input_size),
            "img2crop": np.asarray(self.img2crop, dtype=np.float64).round(6).tolist(),
            "crop2img": np.asarray(self.crop2img, dtype=np.float64).round(6).tolist(),
        }


def clip_box(box: np.ndarray, image_size: tuple[int, int]) -> tuple[np.ndarray, bool]:
    """The part of an xywh box inside the image, and whether anything was cut off.

    Args:
        box: ``(4,)`` xywh in pixels.
        image_size: ``(width, height)``.

    Raises:
        InvalidInputError: the box does not overlap the image at all (a box in another image's pixels, or x/y swapped
            with width/height): moving it into a corner would crop something the user did not point at.
    """
    box = np.asarray(box, dtype=np.float64)
    width, height = image_size
    x0, y0 = max(box[0], 0.0), max(box[1], 0.0)
    x1, y1 = min(box[0] + box[2], float(width)), min(box[1] + box[3], float(height))
    if x1 <= x0 or y1 <= y0:
        raise InvalidInputError(
            f"the box {np.round(box, 1).tolist()} (x, y, width, height) lies entirely outside the {width}x{height} "
            f"image (x from 0 to {width}, y from 0 to {height}); give the box in pixels of this image"
        )
    clipped = np.array([x0, y0, x1 - x0, y1 - y0])
    return clipped, not np.allclose(clipped, box)


def make_crop(
    image_size: tuple[int, int],
    box: np.ndarray,
    input_size: tuple[int, int],
    *,
    extend: float = 1.25,
    source: str = "bbox",
    box_is_crop: bool = False,
) -> Crop:
    """The crop for a two-hand box: clip to the image, make square, grow by ``extend`` (official ``process_bbox``).

    Args:
        image_size: ``(width, height)`` of the original image.
        box: ``(4,)`` xywh around both hands (or the final crop region when ``box_is_crop``).
        input_size: ``(height, width)`` of the network input.
        extend: growth factor (official 1.25).
        source: recorded in :attr:`Crop.source`.
        box_is_crop: take ``box`` as the crop region itself (e.g. a dataset's processed box).

    A two-hand box that reaches past the image border is first cut to the part inside the image (the official
    sanitising kept its size and moved it inside instead); one entirely outside is an error (:func:`clip_box`).

    Raises:
        InvalidInputError: a box that is not 4 finite numbers, has no area, or lies outside the image.
    """
    box = np.asarray(box, dtype=np.float64).reshape(-1)
    if box.shape != (4,) or not np.all(np.isfinite(box)):
        raise InvalidInputError(f"a box must be 4 finite numbers x, y, width, height; got {box.tolist()}")
    if box[2] <= 0 or box[3] <= 0:
        raise InvalidInputError(f"the box {box.tolist()} has no area (width and height must be positive)")
    width, height = image_size
    inside, _ = clip_box(box, image_size)
    hands_box = None
    if box_is_crop:
        crop_box = box.astype(np.float32)  # a crop region may extend past the border (padded with black)
    else:
        box = inside
        out, ok = process_bbox(box[None], np.float64(width), np.float64(height), aspect_ratio=input_size[1] / input_size[0],
                               extend=extend)  # fmt: skip
        if not ok[0]:
            raise InvalidInputError(
                f"the box {np.round(box, 1).tolist()} covers less than 2x2 pixels of the {width}x{height} image; "
                "draw it around both hands"
            )
        crop_box = out[0]
        hands_box = box
    img2crop = crop_transform(crop_box, input_size).astype(np.float64)
    crop2img = crop_transform(crop_box, input_size, inverse=True).astype(np.float64)
    return Crop(crop_box.astype(np.float64), hands_box, img2crop, crop2img, (int(input_size[0]), int(input_size[1])),
                source)  # fmt: skip


def warp_crop(image: np.ndarray, crop: Crop) -> np.ndarray:
    """``(h, w, 3)`` uint8 crop of an ``(H, W, 3)`` uint8 image (one bilinear warp, as the test pipeline)."""
    import cv2

    h, w = crop.input_size
    return cv2.warpAffine(image, crop.img2crop, (w, h), flags=cv2.INTER_LINEAR)


def apply_affine(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """``(..., 2)`` points through a ``(2, 3)`` affine map."""
    points = np.asarray(points, dtype=np.float64)
    return points @ affine[:, :2].T + affine[:, 2]


def default_focal(width: int, height: int, fov_deg: float) -> float:
    """Focal length (pixels) whose field of view across the image's larger side is ``fov_deg``."""
    return 0.5 * max(width, height) / float(np.tan(np.deg2rad(fov_deg) / 2.0))


def image_camera(width: int, height: int, intrinsics=None, *, focal: float | None = None, fov_deg: float = 50.0):
    """The original image's pinhole camera (:class:`eanet.render.Camera`, OpenCV axes).

    Args:
        width, height: image size.
        intrinsics: None, a focal length (pixels), ``(fx, fy)``, ``(fx, fy, cx, cy)`` or a ``(3, 3)`` matrix.
        focal: default focal when ``intrinsics`` is None; None: :func:`default_focal` with ``fov_deg``.

    Returns:
        ``(camera, description)``: the camera and how its intrinsics were chosen.
    """
    center = ((width - 1) / 2.0, (height - 1) / 2.0)
    if intrinsics is None:
        if focal is not None:
            return Camera((focal, focal), center, width, height), "inference.focal"
        f = default_focal(width, height, fov_deg)
        return Camera((f, f), center, width, height), f"guessed: {fov_deg:g} degree field of view across the larger side"
    arr = np.asarray(intrinsics, dtype=np.float64)
    if arr.shape == (3, 3):
        return Camera.from_matrix(arr, width, height), "given (3x3 matrix)"
    arr = arr.reshape(-1)
    if arr.size == 1:
        return Camera((arr[0], arr[0]), center, width, height), "given (focal)"
    if arr.size == 2:
        return Camera((arr[0], arr[1]), center, width, height), "given (fx, fy)"
    if arr.size == 4:
        return Camera((arr[0], arr[1]), (arr[2], arr[3]), width, height), "given (fx, fy, cx, cy)"
    raise InvalidInputError(
        f"intrinsics must be a focal length, (fx, fy), (fx, fy, cx, cy) or a 3x3 matrix; got {arr.size} numbers"
    )


def solve_translation(
    points: np.ndarray,
    uv: np.ndarray,
    focal: tuple[float, float],
    princpt: tuple[float, float],
    depth_prior: float | None = None,
    prior_weight: float = 0.01,
) -> np.ndarray:
    """Translation ``T`` that makes the perspective projection of ``points + T`` match ``uv`` (least squares).

    Each point gives two equations linear in ``T`` (divided by the focal, so residuals are in metres at unit
    depth): ``(X + Tx) - (u - cx) / fx * (Z + Tz) = 0`` and the same for y.

    Args:
        points: ``(J, 3)`` points in metres (the hand model's frame, rotation already camera-aligned).
        uv: ``(J, 2)`` target pixels.
        focal, princpt: camera intrinsics.
        depth_prior: optional depth the solution's ``Tz`` is pulled towards with ``prior_weight``.

    Returns:
        ``(3,)`` float64.
    """
    points = np.asarray(points, dtype=np.float64)
    uv = np.asarray(uv, dtype=np.float64)
    (fx, fy), (cx, cy) = focal, princpt
    a = (uv[:, 0] - cx) / fx  # (J,)
    b = (uv[:, 1] - cy) / fy
    n = len(points)
    rows = np.zeros((2 * n + 1, 3))
    rhs = np.zeros(2 * n + 1)
    rows[:n, 0] = 1.0
    rows[:n, 2] = -a
    rhs[:n] = a * points[:, 2] - points[:, 0]
    rows[n : 2 * n, 1] = 1.0
    rows[n : 2 * n, 2] = -b
    rhs[n : 2 * n] = b * points[:, 2] - points[:, 1]
    if depth_prior is not None:
        rows[-1, 2] = prior_weight
        rhs[-1] = prior_weight * depth_prior
    solution, *_ = np.linalg.lstsq(rows, rhs, rcond=None)
    return solution


def project(points: np.ndarray, focal: tuple[float, float], princpt: tuple[float, float]) -> np.ndarray:
    """``(..., 3)`` camera-frame points to ``(..., 2)`` pixels (OpenCV pinhole)."""
    points = np.asarray(points, dtype=np.float64)
    z = points[..., 2]
    return np.stack([focal[0] * points[..., 0] / z + princpt[0], focal[1] * points[..., 1] / z + princpt[1]], axis=-1)
