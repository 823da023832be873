"""Camera model, framing and rotations."""

from __future__ import annotations

import numpy as np
import pytest

from eanet.errors import InvalidInputError
from eanet.render import Camera, look_at_camera, rotation_about_axis


def test_projection_matches_intrinsics_and_extrinsics():
    rotation = rotation_about_axis((0, 1, 0), 30)
    camera = Camera.from_matrix(
        np.array([[500.0, 0, 120.0], [0, 480.0, 90.0], [0, 0, 1]]), 256, 192, rotation, np.array([0.1, 0.0, 1.0])
    )
    points = np.array([[0.0, 0.0, 0.5], [0.2, -0.1, 0.3]])
    cam = points @ rotation.T + [0.1, 0.0, 1.0]
    expected = np.stack([500 * cam[:, 0] / cam[:, 2] + 120, 480 * cam[:, 1] / cam[:, 2] + 90], 1)
    np.testing.assert_allclose(camera.project(points), expected, rtol=1e-6)
    np.testing.assert_allclose(camera.K, [[500, 0, 120], [0, 480, 90], [0, 0, 1]])


def test_scaled_camera_keeps_pixel_centres_consistent():
    camera = Camera((100, 100), (31.5, 15.5), 64, 32)  # centred
    half = camera.scaled(0.5)
    assert half.size == (32, 16)
    np.testing.assert_allclose(half.princpt, (15.5, 7.5))  # still the centre of the smaller image
    np.testing.assert_allclose(half.focal, (50, 50))


@pytest.mark.parametrize("view_dir", [(0, 0, 1), (1, 0, 0), (0.3, -0.5, 0.8)])
def test_look_at_camera_frames_all_points(view_dir):
    rng = np.random.default_rng(0)
    points = rng.normal(size=(200, 3)) * [0.1, 0.05, 0.08] + [0.3, -0.2, 0.9]
    camera = look_at_camera(points, 160, 120, view_dir=view_dir, up=(0, -1, 0) if view_dir[1] > -0.9 else (0, 0, 1))
    uv = camera.project(points)
    assert np.all(camera.to_camera(points)[:, 2] > 0)
    assert np.all((uv[:, 0] >= 0) & (uv[:, 0] <= 159) & (uv[:, 1] >= 0) & (uv[:, 1] <= 119))
    # Tight: some point reaches the margin on one axis.
    spread = max(np.abs(uv[:, 0] - 79.5).max() / 80, np.abs(uv[:, 1] - 59.5).max() / 60)
    assert spread == pytest.approx(0.92, abs=0.01)
    # The viewing direction is the camera's +z axis.
    np.testing.assert_allclose(camera.rotation[2], np.asarray(view_dir) / np.linalg.norm(view_dir), atol=1e-9)


def test_look_at_camera_keeps_image_up():
    points = np.array([[0.0, -0.1, 1.0], [0.0, 0.1, 1.0], [0.05, 0.0, 1.0]])  # y down: first point is on top
    uv = look_at_camera(points, 100, 100, view_dir=(1, 0, 0)).project(points)
    assert uv[0, 1] < uv[1, 1]


def test_invalid_cameras_are_rejected():
    with pytest.raises(InvalidInputError, match="focal"):
        Camera((0, 100), (10, 10), 20, 20)
    with pytest.raises(InvalidInputError, match="rotation"):
        Camera((100, 100), (10, 10), 20, 20, rotation=np.ones((3, 3)))
    with pytest.raises(InvalidInputError, match="parallel"):
        look_at_camera(np.zeros((2, 3)), 10, 10, view_dir=(0, 1, 0), up=(0, -1, 0))
