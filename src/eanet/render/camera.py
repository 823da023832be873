"""Pinhole cameras in the OpenCV convention (x right, y down, z forward) and automatic framing.

A pixel's centre has integer coordinates: pixel ``(col, row)`` covers ``[col - 0.5, col + 0.5]``, as OpenCV's
``projectPoints`` and InterHand2.6M's 2D annotations assume. A point ``X`` in the camera frame projects to
``u = fx * X / Z + cx``, ``v = fy * Y / Z + cy``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from eanet.errors import InvalidInputError

__all__ = ["Camera", "look_at_camera", "rotation_about_axis"]


def _as_pair(value, name: str) -> tuple[float, float]:
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, 2)
    if arr.size != 2 or not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"{name} must be a number or a pair of numbers, got {value!r}")
    return float(arr[0]), float(arr[1])


@dataclass(frozen=True, eq=False)
class Camera:
    """A calibrated pinhole camera.

    Attributes:
        focal: ``(fx, fy)`` in pixels.
        princpt: ``(cx, cy)`` in pixels (pixel centres at integer coordinates).
        width, height: image size in pixels.
        rotation: ``(3, 3)`` world-to-camera rotation ``R`` (``X_cam = R X_world + t``); None for the identity, i.e.
            meshes already in the camera frame.
        translation: ``(3,)`` world-to-camera translation ``t`` in metres; None for zero.
        znear, zfar: clipping depths in metres. Triangles with a vertex nearer than ``znear`` are not drawn.
    """

    focal: tuple[float, float]
    princpt: tuple[float, float]
    width: int
    height: int
    rotation: np.ndarray | None = None
    translation: np.ndarray | None = None
    znear: float = 0.01
    zfar: float = 100.0

    def __post_init__(self) -> None:
        focal = _as_pair(self.focal, "Camera.focal")
        princpt = _as_pair(self.princpt, "Camera.princpt")
        if min(focal) <= 0:
            raise InvalidInputError(f"Camera.focal must be positive, got {focal}")
        if int(self.width) < 1 or int(self.height) < 1:
            raise InvalidInputError(f"Camera size must be at least 1x1 pixels, got {self.width}x{self.height}")
        if not 0 < self.znear < self.zfar:
            raise InvalidInputError(f"Camera needs 0 < znear < zfar, got znear={self.znear}, zfar={self.zfar}")
        rotation = None
        if self.rotation is not None:
            rotation = np.asarray(self.rotation, dtype=np.float64)
            if rotation.shape != (3, 3) or not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-4):
                raise InvalidInputError("Camera.rotation must be a (3, 3) rotation matrix (world to camera)")
        translation = None
        if self.translation is not None:
            translation = np.asarray(self.translation, dtype=np.float64).reshape(-1)
            if translation.shape != (3,):
                raise InvalidInputError(f"Camera.translation must have 3 numbers, got shape {translation.shape}")
        object.__setattr__(self, "focal", focal)
        object.__setattr__(self, "princpt", princpt)
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))
        object.__setattr__(self, "rotation", rotation)
        object.__setattr__(self, "translation", translation)

    @classmethod
    def from_matrix(
        cls,
        K: np.ndarray,
        width: int,
        height: int,
        rotation: np.ndarray | None = None,
        translation: np.ndarray | None = None,
    ) -> Camera:
        """Build from a ``(3, 3)`` intrinsic matrix (zero skew) and optional world-to-camera extrinsics."""
        K = np.asarray(K, dtype=np.float64)
        if K.shape != (3, 3):
            raise InvalidInputError(f"K must be a (3, 3) intrinsic matrix, got shape {K.shape}")
        if abs(K[0, 1]) > 1e-9:
            raise InvalidInputError("cameras with skew are not supported; K[0, 1] must be 0")
        return cls((K[0, 0], K[1, 1]), (K[0, 2], K[1, 2]), width, height, rotation, translation)

    @classmethod
    def from_fov(cls, width: int, height: int, fov_deg: float = 40.0, **kwargs) -> Camera:
        """A centred camera whose horizontal field of view is ``fov_deg``."""
        f = 0.5 * width / np.tan(np.deg2rad(fov_deg) / 2)
        return cls((f, f), ((width - 1) / 2, (height - 1) / 2), width, height, **kwargs)

    @property
    def K(self) -> np.ndarray:
        """``(3, 3)`` intrinsic matrix."""
        (fx, fy), (cx, cy) = self.focal, self.princpt
        return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``."""
        return self.width, self.height

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points ``(N, 3)`` to the camera frame ``(N, 3)`` (float32)."""
        points = np.asarray(points, dtype=np.float64)
        if self.rotation is not None:
            points = points @ self.rotation.T
        if self.translation is not None:
            points = points + self.translation
        return points.astype(np.float32)

    def project(self, points: np.ndarray) -> np.ndarray:
        """World points ``(N, 3)`` to pixel coordinates ``(N, 2)`` (float64)."""
        p = self.to_camera(points).astype(np.float64)
        (fx, fy), (cx, cy) = self.focal, self.princpt
        z = p[:, 2]
        return np.stack([fx * p[:, 0] / z + cx, fy * p[:, 1] / z + cy], axis=1)

    def scaled(self, factor: float) -> Camera:
        """The same camera for an image resized by ``factor`` (pixel centres stay consistent)."""
        (fx, fy), (cx, cy) = self.focal, self.princpt
        return replace(
            self,
            focal=(fx * factor, fy * factor),
            princpt=((cx + 0.5) * factor - 0.5, (cy + 0.5) * factor - 0.5),
            width=round(self.width * factor),
            height=round(self.height * factor),
        )


def rotation_about_axis(axis: Sequence[float], angle_deg: float) -> np.ndarray:
    """``(3, 3)`` rotation by ``angle_deg`` about ``axis`` (right-handed)."""
    a = np.asarray(axis, dtype=np.float64)
    a = a / np.linalg.norm(a)
    t = np.deg2rad(angle_deg)
    skew = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(t) * skew + (1 - np.cos(t)) * skew @ skew


def look_at_camera(
    points: np.ndarray,
    width: int,
    height: int,
    view_dir: Sequence[float] = (0.0, 0.0, 1.0),
    up: Sequence[float] = (0.0, -1.0, 0.0),
    fov_deg: float = 35.0,
    margin: float = 0.08,
) -> Camera:
    """A camera looking along ``view_dir`` at the points' centre, as close as it can be with every point in view.

    Args:
        points: ``(N, 3)`` world points to frame (e.g. ``np.concatenate([m.verts for m in meshes])``).
        width, height: image size in pixels.
        view_dir: the camera's viewing direction in the world frame. The default keeps the OpenCV camera's axes,
            so meshes in a camera frame are seen as that camera saw them.
        up: the world direction that should point up in the image (OpenCV frames: ``-y``).
        fov_deg: horizontal field of view.
        margin: fraction of the half-width/height left free at the borders.

    Returns:
        A :class:`Camera` with extrinsics, principal point at the image centre.
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if len(points) == 0:
        raise InvalidInputError("look_at_camera needs at least one point to frame")
    forward = np.asarray(view_dir, dtype=np.float64)
    forward = forward / np.linalg.norm(forward)
    up_vec = np.asarray(up, dtype=np.float64)
    right = np.cross(forward, up_vec)  # OpenCV axes: right = down x forward = forward x up
    right_norm = np.linalg.norm(right)
    if right_norm < 1e-6:
        raise InvalidInputError(f"view_dir {tuple(view_dir)} and up {tuple(up)} must not be parallel")
    right = right / right_norm
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])  # rows: camera axes in world coordinates

    center = 0.5 * (points.min(0) + points.max(0))
    local = (points - center) @ rotation.T  # (N, 3) points relative to the centre, in camera axes
    f = 0.5 * width / np.tan(np.deg2rad(fov_deg) / 2)
    half_w = 0.5 * width * (1.0 - margin)
    half_h = 0.5 * height * (1.0 - margin)
    # A point (x, y, z) relative to the centre stays inside when f |x| / (d + z) <= half_w, i.e. d >= f |x| / half_w - z.
    need = np.maximum(f * np.abs(local[:, 0]) / half_w, f * np.abs(local[:, 1]) / half_h) - local[:, 2]
    min_depth = local[:, 2].min()
    distance = max(float(need.max()), 0.05 - float(min_depth))  # keep every point in front of the camera
    translation = -rotation @ center + np.array([0.0, 0.0, distance])
    zfar = max(100.0, 4 * (distance + float(np.abs(local[:, 2]).max())))
    return Camera((f, f), ((width - 1) / 2, (height - 1) / 2), width, height, rotation, translation, zfar=zfar)
