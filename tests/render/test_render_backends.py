"""Both backends: known geometry, camera convention, ids, alpha, background; and pyrender vs the torch oracle."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from eanet.errors import InvalidInputError
from eanet.render import Camera, Light, Lighting, Mesh, Renderer

FLAT = Lighting(lights=(), ambient=(1.0, 1.0, 1.0))  # shade == 1: pixels show the mesh colour itself
# OpenGL's 24-bit depth buffer quantises z to about z^2 / (znear * 2^24): 2.4e-5 m at 2 m with znear = 1 cm.
DEPTH_RTOL = 5e-5


def interior(mask: np.ndarray, pixels: int = 1) -> np.ndarray:
    """Pixels of ``mask`` at least ``pixels`` away from its border (away from anti-aliased edges)."""
    out = mask.copy()
    for _ in range(pixels):
        shrunk = out.copy()
        shrunk[1:] &= out[:-1]
        shrunk[:-1] &= out[1:]
        shrunk[:, 1:] &= out[:, :-1]
        shrunk[:, :-1] &= out[:, 1:]
        out = shrunk
    return out


def test_square_projects_to_expected_box_at_plane_depth(renderer, shapes):
    camera = shapes.centred_camera(96, 80, focal=100.0)  # cx = 47.5, cy = 39.5
    # Half-size 0.4 at z = 2 projects to u in [27.5, 67.5], v in [19.5, 59.5]: edges between pixel centres.
    result = renderer.render(shapes.square(2.0, 0.4), camera)
    expected = np.zeros((80, 96), bool)
    expected[20:60, 28:68] = True
    np.testing.assert_array_equal(result.mask, expected)
    np.testing.assert_allclose(result.depth[expected], 2.0, rtol=DEPTH_RTOL)
    assert np.all(result.depth[~expected] == 0)
    assert set(np.unique(result.mesh_ids)) == {-1, 0}


def test_tilted_plane_depth_is_perspective_correct(renderer, shapes):
    camera = shapes.centred_camera(64, 64, focal=80.0)
    verts = np.array([[-0.5, -0.5, 1.5], [0.5, -0.5, 1.5], [0.5, 0.5, 2.5], [-0.5, 0.5, 2.5]], np.float32)
    result = renderer.render(Mesh(verts, np.array([[0, 2, 1], [0, 3, 2]])), camera)
    rows, _ = np.nonzero(result.mask)
    # Plane z = 2 + y: along the ray through row v, y = z (v - cy) / fy, so z = 2 / (1 - (v - cy) / fy).
    expected = 2.0 / (1.0 - (rows - camera.princpt[1]) / camera.focal[1])
    assert result.mask.sum() > 500
    np.testing.assert_allclose(result.depth[result.mask], expected, rtol=DEPTH_RTOL)


def test_camera_convention_x_right_y_down(renderer, shapes):
    camera = shapes.centred_camera(64, 64)
    cx, cy = camera.princpt
    right = renderer.render(shapes.square(2.0, 0.05, x=0.4), camera)
    cols = np.nonzero(right.mask)[1]
    assert cols.size and cols.min() > cx
    below = renderer.render(shapes.square(2.0, 0.05, y=0.4), camera)
    rows = np.nonzero(below.mask)[0]
    assert rows.size and rows.min() > cy


def test_extrinsics_equal_pretransformed_vertices(renderer, shapes):
    from eanet.render import rotation_about_axis

    sphere = shapes.sphere((0.02, -0.01, 0.0), 0.1, subdivisions=2)
    rotation = rotation_about_axis((0.3, 1.0, 0.2), 25.0)
    translation = np.array([0.05, 0.02, 0.7])
    world_cam = Camera((120, 120), (40, 35), 80, 70, rotation=rotation, translation=translation)
    plain_cam = Camera((120, 120), (40, 35), 80, 70)
    a = renderer.render(sphere, world_cam)
    b = renderer.render(sphere.with_verts(world_cam.to_camera(sphere.verts)), plain_cam)
    np.testing.assert_array_equal(a.mask, b.mask)
    np.testing.assert_allclose(a.depth, b.depth, atol=1e-5)  # same backend, same quantisation


def test_nearer_mesh_wins_the_id_map_in_either_order(renderer, shapes):
    camera = shapes.centred_camera(64, 64)
    far = shapes.square(2.0, 0.6, color=(0.9, 0.1, 0.1))
    near = shapes.square(1.5, 0.15, color=(0.1, 0.1, 0.9))
    for meshes, near_id in (([far, near], 1), ([near, far], 0)):
        result = renderer.render(meshes, camera, lighting=FLAT)
        center = result.mesh_ids[30:34, 30:34]
        assert np.all(center == near_id)
        assert result.mesh_ids[5, 5] == 1 - near_id  # only the far square reaches the corner
        np.testing.assert_allclose(result.depth[32, 32], 1.5, rtol=DEPTH_RTOL)
        np.testing.assert_allclose(result.depth[5, 5], 2.0, rtol=DEPTH_RTOL)
        assert np.abs(result.rgb[32, 32].astype(int) - [26, 26, 230]).max() <= 1  # 0.1, 0.9 -> 25.5, 229.5
        counts = result.visible_pixels(2)
        assert counts[near_id] > 0 and counts[1 - near_id] > counts[near_id]


def test_flat_lighting_reproduces_mesh_and_vertex_colours(renderer, shapes):
    camera = shapes.centred_camera(64, 64)
    color = (0.8, 0.55, 0.3)
    result = renderer.render(shapes.square(2.0, 0.5, color=color), camera, lighting=FLAT)
    inner = interior(result.mask)
    assert inner.sum() > 100
    err = np.abs(result.rgb[inner].astype(int) - np.rint(np.array(color) * 255)).max()
    assert err <= 1
    # Per-vertex colours: the pixel nearest each corner takes (about) that corner's colour.
    corner_colors = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], np.float32)
    sq = shapes.square(2.0, 0.5)
    result = renderer.render(Mesh(sq.verts, sq.faces, color=corner_colors), camera, lighting=FLAT)
    rows, cols = np.nonzero(result.mask)
    for (r, c), expected in zip(
        [(rows.min(), cols.min()), (rows.min(), cols.max()), (rows.max(), cols.max()), (rows.max(), cols.min())],
        corner_colors,
        strict=True,
    ):
        got = result.rgb[r, c].astype(float) / 255
        assert np.abs(got - expected).max() < 0.15, (r, c, got, expected)


def test_lambert_headlight_matches_formula(renderer, shapes):
    from eanet.render.scene import GAMMA

    camera = shapes.centred_camera(48, 48)
    lighting = Lighting(lights=(Light(direction=(0, 0, 1), intensity=0.8),), ambient=(0.1, 0.1, 0.1))
    color = np.array([0.7, 0.6, 0.5])
    result = renderer.render(shapes.square(2.0, 0.5, color=tuple(color)), camera, lighting=lighting)
    inner = interior(result.mask, 2)
    expected = (color**GAMMA * (0.1 + 0.8)) ** (1 / GAMMA) * 255
    assert np.abs(result.rgb[inner] - expected).max() <= 1.0


def test_rgba_alpha_and_background(renderer, shapes):
    camera = shapes.centred_camera(64, 48)
    mesh = shapes.square(2.0, 0.3, color=(1.0, 0.0, 0.0))
    transparent = renderer.render(mesh, camera, lighting=FLAT)
    assert np.all(transparent.rgba[~transparent.mask & ~_dilate(transparent.mask), 3] == 0)
    assert np.all(transparent.rgba[interior(transparent.mask), 3] == 255)

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
    over = renderer.render(mesh, camera, background=image, lighting=FLAT)
    assert np.all(over.rgba[..., 3] == 255)
    untouched = ~_dilate(over.mask)
    np.testing.assert_array_equal(over.rgb[untouched], image[untouched])
    np.testing.assert_array_equal(over.rgb[interior(over.mask)], [[255, 0, 0]] * interior(over.mask).sum())

    half = Mesh(mesh.verts, mesh.faces, color=(1.0, 0.0, 0.0), alpha=0.5)
    blended = renderer.render(half, camera, background=image, lighting=FLAT)
    inner = interior(blended.mask)
    expected = 0.5 * np.array([255.0, 0, 0]) + 0.5 * image[inner]
    assert np.abs(blended.rgb[inner] - expected).max() <= 1.0
    no_bg = renderer.render(half, camera, lighting=FLAT)
    assert np.all(np.abs(no_bg.rgba[interior(no_bg.mask), 3].astype(int) - 128) <= 1)
    np.testing.assert_array_equal(no_bg.rgb[interior(no_bg.mask)][0], [255, 0, 0])  # colour not premultiplied

    solid = renderer.render(mesh, camera, background=(0.0, 0.5, 1.0), lighting=FLAT)
    np.testing.assert_array_equal(solid.rgb[0, 0], [0, 128, 255])


def test_nothing_to_draw_returns_the_background(renderer, shapes):
    camera = shapes.centred_camera(32, 24)
    behind = shapes.square(-2.0, 0.3)  # behind the camera
    result = renderer.render(behind, camera, background=(1.0, 1.0, 1.0))
    assert not result.mask.any() and np.all(result.depth == 0)
    assert np.all(result.rgb == 255)
    empty = renderer.render([], camera)
    assert np.all(empty.rgba == 0) and np.all(empty.mesh_ids == -1)


def test_renderer_handles_changing_image_sizes(renderer, shapes):
    for width, height in ((40, 30), (70, 90), (40, 30)):
        result = renderer.render(shapes.square(2.0, 0.2), shapes.centred_camera(width, height))
        assert result.rgba.shape == (height, width, 4)
        assert result.depth.shape == result.mesh_ids.shape == (height, width)
        assert result.mask.sum() > 0


def test_bad_inputs_raise_clear_errors(torch_renderer, shapes):
    camera = shapes.centred_camera(32, 24)
    with pytest.raises(InvalidInputError, match="resize the image"):
        torch_renderer.render(shapes.square(2.0, 0.2), camera, background=np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(InvalidInputError, match="uint8"):
        shapes.square(2.0, 0.2, color=(200, 100, 50))
    with pytest.raises(InvalidInputError, match="vertices"):
        Mesh(np.zeros((3, 3)), np.array([[0, 1, 3]]))
    with pytest.raises(InvalidInputError, match="wrap vertices"):
        torch_renderer.render([np.zeros((3, 3))], camera)


# --- pyrender against the torch oracle -------------------------------------------------------------------------


def _compare(a, b):
    """Mask IoU, depth error (99.5th percentile and maximum) and id agreement where both backends draw."""
    union = (a.mask | b.mask).sum()
    iou = (a.mask & b.mask).sum() / union
    both = a.mask & b.mask
    depth_err = np.abs(a.depth[both] - b.depth[both])
    return iou, np.percentile(depth_err, 99.5), depth_err.max(), (a.mesh_ids[both] == b.mesh_ids[both]).mean()


def test_backends_agree_on_a_two_object_scene(pyrender_renderer, torch_renderer, shapes):
    camera = Camera((220, 210), (63.2, 47.9), 128, 96)
    meshes = [
        shapes.sphere((-0.03, 0.0, 0.6), 0.12, color=(0.9, 0.7, 0.6)),
        shapes.sphere((0.09, 0.04, 0.5), 0.08, subdivisions=2, color=(0.3, 0.5, 0.9)),
    ]
    gl = pyrender_renderer.render(meshes, camera)
    oracle = torch_renderer.render(meshes, camera)
    iou, depth_err, depth_max, id_agree = _compare(gl, oracle)
    assert iou >= 0.99
    assert (gl.mask ^ oracle.mask).sum() <= 10
    # Pixel centres that graze the silhouette can hit the sphere's near or far side depending on rounding.
    assert depth_err < 1e-4 and depth_max < 0.01
    assert id_agree >= 0.999
    # Same shaded vertex colours, interpolated the same way: pixels agree away from anti-aliased edges.
    both = interior(gl.mask & oracle.mask, 2)
    diff = np.abs(gl.rgb[both].astype(int) - oracle.rgb[both])
    assert np.percentile(diff, 99) <= 2 and diff.mean() < 0.5


def test_backends_agree_on_random_overlapping_triangles(pyrender_renderer, torch_renderer):
    rng = np.random.default_rng(3)
    meshes = []
    for _ in range(4):
        center = rng.uniform([-0.3, -0.3, 1.5], [0.3, 0.3, 2.5])
        verts = center + rng.normal(scale=0.25, size=(30, 3))
        faces = rng.integers(0, 30, size=(40, 3))
        faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])]
        meshes.append(Mesh(verts, faces, color=tuple(rng.uniform(0.2, 1.0, 3))))
    camera = Camera((90, 90), (40, 30), 80, 60)
    gl = pyrender_renderer.render(meshes, camera)
    oracle = torch_renderer.render(meshes, camera)
    iou, depth_err, _, id_agree = _compare(gl, oracle)
    assert iou >= 0.99
    assert depth_err < 1e-4
    assert id_agree >= 0.99


def test_explicit_pyrender_request_fails_clearly(monkeypatch):
    from eanet.render.gl import RenderBackendUnavailable

    monkeypatch.setenv("PYOPENGL_PLATFORM", "not-a-platform")
    with pytest.raises(RenderBackendUnavailable, match=r"eanet\[render\]") as info:
        Renderer(backend="pyrender").backend_name  # noqa: B018
    assert "PYOPENGL_PLATFORM=egl" in str(info.value)


def test_auto_falls_back_to_torch_with_one_warning(monkeypatch, caplog, shapes):
    from eanet.render import renderer as renderer_module

    monkeypatch.setenv("PYOPENGL_PLATFORM", "not-a-platform")
    monkeypatch.setattr(renderer_module, "_AUTO_FAILURES", {})
    with caplog.at_level(logging.WARNING, logger="eanet.render"):
        for _ in range(2):  # a second renderer in the same process does not warn again
            with Renderer(backend="auto") as renderer:
                assert renderer.backend_name == "torch"
                renderer.render(shapes.square(2.0, 0.2), shapes.centred_camera(16, 16))
                renderer.render(shapes.square(2.0, 0.2), shapes.centred_camera(16, 16))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "pure-torch" in warnings[0].getMessage()


def test_closed_renderer_refuses_to_render(shapes):
    renderer = Renderer(backend="torch")
    renderer.close()
    renderer.close()  # twice is fine
    with pytest.raises(RuntimeError, match="closed"):
        renderer.render(shapes.square(2.0, 0.2), shapes.centred_camera(16, 16))


def _dilate(mask: np.ndarray) -> np.ndarray:
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out
