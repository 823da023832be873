"""Overlays, side views and 2D drawing."""

from __future__ import annotations

import numpy as np
import pytest

from eanet.errors import InvalidInputError
from eanet.hand_model.skeleton import BONES_21
from eanet.render import contact_sheet, draw_joints_2d, overlay, rotate_meshes, side_view


def _box(extents, center):
    import trimesh

    from eanet.render import Mesh

    b = trimesh.creation.box(extents=extents)
    return Mesh(np.asarray(b.vertices) + center, np.asarray(b.faces))


def test_overlay_keeps_the_image_outside_the_meshes(torch_renderer, shapes):
    camera = shapes.centred_camera(64, 48)
    image = np.random.default_rng(0).integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
    out = overlay(image, [shapes.square(2.0, 0.3)], camera, renderer=torch_renderer, alpha=0.6)
    drawn = torch_renderer.render(shapes.square(2.0, 0.3), camera).mask
    assert out.shape == image.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[~drawn], image[~drawn])
    assert np.any(out[drawn] != image[drawn])


def test_side_view_turns_depth_into_width(torch_renderer):
    # A slab thin in x and deep in z: narrow from the front, wide from the side.
    slab = _box((0.02, 0.1, 0.3), (0.0, 0.0, 1.0))
    front = side_view(slab, 96, 96, angle_deg=0.0, renderer=torch_renderer, background=None)
    side = side_view(slab, 96, 96, renderer=torch_renderer, background=None)
    front_cols = np.nonzero(front.mask.any(0))[0]
    side_cols = np.nonzero(side.mask.any(0))[0]
    assert np.ptp(side_cols) > 2 * np.ptp(front_cols)
    # Framed: the slab fills most of the side view's width and stays inside it.
    assert side_cols.min() > 0 and side_cols.max() < 95 and np.ptp(side_cols) > 70


def test_side_view_shows_nearer_points_on_the_right(torch_renderer):
    near = _box((0.05, 0.05, 0.05), (0.0, 0.0, 0.8))
    far = _box((0.05, 0.05, 0.05), (0.0, 0.0, 1.2))
    result = side_view([near, far], 128, 64, renderer=torch_renderer)
    near_cols = np.nonzero(result.mesh_ids == 0)[1]
    far_cols = np.nonzero(result.mesh_ids == 1)[1]
    assert near_cols.mean() > far_cols.mean()


def test_rotate_meshes_keeps_the_centre():
    box = _box((0.1, 0.2, 0.3), (0.5, -0.2, 1.0))
    (turned,) = rotate_meshes(box, 90.0)
    np.testing.assert_allclose(0.5 * (turned.verts.min(0) + turned.verts.max(0)), [0.5, -0.2, 1.0], atol=1e-6)
    np.testing.assert_allclose(np.ptp(turned.verts, 0), [0.3, 0.2, 0.1], atol=1e-6)


def test_draw_joints_2d_draws_near_the_joints_only():
    image = np.full((64, 64, 3), 255, np.uint8)
    joints = np.stack([np.full(21, 32.0), np.linspace(10, 50, 21)], 1)
    joints[0] = (32, 55)
    out = draw_joints_2d(image, joints)
    assert np.all(image == 255)  # input untouched
    changed = np.any(out != 255, axis=2)
    assert changed[32, 32] and changed[55, 32]
    assert not changed[:, :20].any() and not changed[:, 45:].any()
    finger_colored = draw_joints_2d(image, joints, color=(0.0, 1.0, 0.0), radius=2, thickness=1)
    assert np.any(np.all(finger_colored == [0, 255, 0], axis=2))
    with pytest.raises(InvalidInputError, match="joints"):
        draw_joints_2d(image, joints[:10], bones=BONES_21)


def test_contact_sheet_tiles_and_labels():
    tiles = [np.full((20, 30, 3), v, np.uint8) for v in (0, 100, 200)]
    sheet = contact_sheet(tiles, columns=2, labels=["a", "b", "c"], pad=2)
    assert sheet.shape == (2 * 22 + 2, 2 * 32 + 2, 3)
    assert np.all(sheet[2 + 19, 34 + 29] == 100)  # bottom-right pixel of the second tile, under no label
    assert np.all(sheet[0, 0] == 255)
