"""Calibrated multi-camera rigs for the synthetic InterHand2.6M-style dataset.

InterHand2.6M films each capture with a fixed dome of calibrated cameras (80+ in the release); every frame is seen
by all of them, and ``InterHand2.6M_<split>_camera.json`` stores per capture and camera the centre ``campos`` (mm,
world frame), the rotation ``camrot`` (world -> camera), ``focal`` and ``princpt`` (pixels). The camera frame is
OpenCV's (x right, y down, z forward) and ``X_cam = camrot @ (X_world - campos)``.

The synthetic rig puts ``K`` cameras on a sphere around the capture's workspace, spread in azimuth, at elevations
from slightly below to well above the hands, each looking at a point near the workspace centre with a small random
roll. Focal lengths scale with the image size so that a 334x512 image gets ``f ~ 1200-1300`` px as in the release.
Cameras whose id starts with ``41`` are grayscale, as in the release (InterHand2.6M issue #62).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eanet.errors import InvalidInputError

__all__ = ["SynthCamera", "look_at", "sample_camera_rig", "camera_json", "round_camera"]

#: World "up" of the synthetic captures (the rig's dome is built around +z).
WORLD_UP = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class SynthCamera:
    """One calibrated pinhole camera of a capture rig.

    Attributes:
        name: camera id as the release spells it (a 6-digit string; ``41xxxx`` ids are grayscale).
        campos: ``(3,)`` camera centre in world coordinates, mm.
        camrot: ``(3, 3)`` rotation world -> camera (rows are the camera's x, y, z axes in world coordinates).
        focal: ``(2,)`` focal lengths in pixels.
        princpt: ``(2,)`` principal point in pixels.
        width: image width in pixels.
        height: image height in pixels.
        grayscale: whether the camera records gray images.
    """

    name: str
    campos: np.ndarray
    camrot: np.ndarray
    focal: np.ndarray
    princpt: np.ndarray
    width: int
    height: int
    grayscale: bool = False

    def world_to_camera(self, points_world_mm: np.ndarray) -> np.ndarray:
        """``(..., 3)`` world points (mm) to the camera frame (mm): ``R @ (X - campos)``."""
        return (np.asarray(points_world_mm, dtype=np.float64) - self.campos) @ self.camrot.T

    def project(self, points_world_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project world points to pixels.

        Args:
            points_world_mm: ``(N, 3)``.

        Returns:
            ``(N, 2)`` pixel coordinates (``u = X / Z * fx + cx``) and ``(N,)`` depths ``Z`` in mm.
        """
        cam = self.world_to_camera(points_world_mm)  # (N, 3)
        z = cam[:, 2]
        safe_z = np.where(np.abs(z) < 1e-8, 1e-8, z)
        uv = cam[:, :2] / safe_z[:, None] * self.focal + self.princpt  # (N, 2)
        return uv, z

    def in_image(self, uv: np.ndarray, z: np.ndarray) -> np.ndarray:
        """``(N,)`` bool: in front of the camera and inside ``[0, W) x [0, H)``."""
        return (z > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < self.width) & (uv[:, 1] >= 0) & (uv[:, 1] < self.height)


def look_at(campos: np.ndarray, target: np.ndarray, up: np.ndarray = WORLD_UP, roll_rad: float = 0.0) -> np.ndarray:
    """World -> camera rotation of an OpenCV camera at ``campos`` looking at ``target``.

    The camera's y axis (image down) is the world ``-up`` projected onto the image plane, then the image is rolled by
    ``roll_rad`` about the optical axis.

    Returns:
        ``(3, 3)`` rotation whose rows are the camera x, y, z axes in world coordinates.
    """
    z = np.asarray(target, dtype=np.float64) - np.asarray(campos, dtype=np.float64)
    norm = np.linalg.norm(z)
    if norm < 1e-9:
        raise InvalidInputError("look_at: the camera centre and the target coincide; move the camera")
    z /= norm
    down = -np.asarray(up, dtype=np.float64)
    y = down - np.dot(down, z) * z
    if np.linalg.norm(y) < 1e-6:  # looking straight along `up`: any image "down" will do
        y = np.cross(z, [1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.cross(z, [0.0, 1.0, 0.0])
    y /= np.linalg.norm(y)
    x = np.cross(y, z)
    c, s = np.cos(roll_rad), np.sin(roll_rad)
    x, y = c * x + s * y, -s * x + c * y
    return np.stack([x, y, z])  # (3, 3)


def sample_camera_rig(
    rng: np.random.Generator,
    num_cameras: int,
    width: int,
    height: int,
    target_mm: np.ndarray,
    grayscale_fraction: float = 0.15,
    distance_mm: tuple[float, float] = (1000.0, 1450.0),
    elevation_deg: tuple[float, float] = (-25.0, 70.0),
    roll_deg: float = 20.0,
    aim_jitter_mm: float = 40.0,
    focal_scale: tuple[float, float] = (2.34, 2.54),
    view_spread: float = 1.0,
) -> list[SynthCamera]:
    """Sample the fixed camera rig of one capture.

    Args:
        rng: random generator (the only source of randomness, for determinism).
        num_cameras: ``K >= 1`` cameras.
        width, height: image size in pixels.
        target_mm: ``(3,)`` workspace centre the cameras aim at (world, mm).
        grayscale_fraction: probability that a camera is grayscale (id ``41xxxx``); with ``K >= 2`` and a positive
            fraction, at most ``K - 1`` cameras are gray so every capture keeps a colour view.
        distance_mm: range of camera distances from the workspace centre.
        elevation_deg: range of elevations above the workspace's horizontal plane.
        roll_deg: maximum absolute roll about the optical axis.
        aim_jitter_mm: each camera aims at the centre plus a uniform offset of this size per axis.
        focal_scale: focal length range in units of ``max(width, height)``; ``(2.34, 2.54)`` gives 1200-1300 px
            for the release's 334x512 images.
        view_spread: in ``(0, 1]``; 1 (default) is the dome above. Below 1 the rig narrows around a *front*
            direction (cameras on the world ``-y`` side, looking towards ``+y``, where
            :class:`eanet.synth.scene.SceneSampler` with the same ``view_spread`` turns the palms): azimuths
            within ``±180° x view_spread`` of the front, elevations within ``view_spread`` times the half-range
            around the middle of ``elevation_deg``, roll up to ``roll_deg x view_spread``. The same random numbers
            are drawn either way, so other properties of the rig (ids, focal lengths, ...) do not change.

    Returns:
        ``K`` cameras with distinct 6-digit ids, values rounded exactly as :func:`camera_json` writes them.
    """
    if num_cameras < 1:
        raise InvalidInputError(f"a capture needs at least one camera, got {num_cameras}")
    if width < 8 or height < 8:
        raise InvalidInputError(f"image size {width}x{height} is too small; use at least 8x8 pixels")
    if not 0.0 < view_spread <= 1.0:
        raise InvalidInputError(f"view_spread must be in (0, 1], got {view_spread}")
    narrow = view_spread < 1.0
    elev_mid = (elevation_deg[0] + elevation_deg[1]) / 2
    target_mm = np.asarray(target_mm, dtype=np.float64)
    # Azimuths spread evenly around the dome with jitter, so every capture sees the hands from all sides.
    offset = rng.uniform(0.0, 2 * np.pi)
    step = 2 * np.pi / num_cameras
    gray = rng.random(num_cameras) < grayscale_fraction
    if num_cameras >= 2 and gray.all():
        gray[rng.integers(num_cameras)] = False
    color_ids = rng.choice(np.arange(0, 1000), size=num_cameras, replace=False)
    cameras = []
    for k in range(num_cameras):
        azim = offset + k * step + rng.uniform(-0.3, 0.3) * step
        elev_deg = rng.uniform(*elevation_deg)
        if narrow:  # the same draws, squeezed around the front direction (azimuth -90°: the -y side)
            azim = -np.pi / 2 + view_spread * (np.mod(azim, 2 * np.pi) - np.pi)
            elev_deg = elev_mid + view_spread * (elev_deg - elev_mid)
        elev = np.deg2rad(elev_deg)
        dist = rng.uniform(*distance_mm)
        direction = np.array([np.cos(elev) * np.cos(azim), np.cos(elev) * np.sin(azim), np.sin(elev)])
        campos = target_mm + dist * direction
        aim = target_mm + rng.uniform(-aim_jitter_mm, aim_jitter_mm, size=3)
        roll = rng.uniform(-roll_deg, roll_deg) * (view_spread if narrow else 1.0)
        camrot = look_at(campos, aim, roll_rad=np.deg2rad(roll))
        f = rng.uniform(*focal_scale) * max(width, height)
        focal = np.array([f, f * rng.uniform(0.997, 1.003)])
        princpt = np.array([width / 2.0, height / 2.0]) + rng.uniform(-0.015, 0.015, size=2) * np.array([width, height])
        name = f"{410 if gray[k] else 400}{int(color_ids[k]):03d}"
        cameras.append(
            round_camera(
                SynthCamera(
                    name=name,
                    campos=campos,
                    camrot=camrot,
                    focal=focal,
                    princpt=princpt,
                    width=width,
                    height=height,
                    grayscale=bool(gray[k]),
                )
            )
        )
    return cameras


def _r(x: np.ndarray, ndigits: int) -> list:
    return np.round(np.asarray(x, dtype=np.float64), ndigits).tolist()


def camera_json(cameras: list[SynthCamera]) -> dict[str, dict[str, list]]:
    """One capture's entry of ``InterHand2.6M_<split>_camera.json``.

    Returns:
        ``{'campos': {name: [3]}, 'camrot': {name: 3x3}, 'focal': {name: [2]}, 'princpt': {name: [2]}}``; values are
        rounded (campos to 1e-4 mm, rotations to 1e-9, intrinsics to 1e-4 px), and the rounded values are the ones
        the generator projects with, so the JSON is exact.
    """
    return {
        "campos": {c.name: _r(c.campos, 4) for c in cameras},
        "camrot": {c.name: _r(c.camrot, 9) for c in cameras},
        "focal": {c.name: _r(c.focal, 4) for c in cameras},
        "princpt": {c.name: _r(c.princpt, 4) for c in cameras},
    }


def round_camera(camera: SynthCamera) -> SynthCamera:
    """The camera with the values exactly as written to the JSON (see :func:`camera_json`)."""
    return SynthCamera(
        name=camera.name,
        campos=np.round(camera.campos, 4),
        camrot=np.round(camera.camrot, 9),
        focal=np.round(camera.focal, 4),
        princpt=np.round(camera.princpt, 4),
        width=camera.width,
        height=camera.height,
        grayscale=camera.grayscale,
    )
