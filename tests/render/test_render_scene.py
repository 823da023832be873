"""Mesh, colour and lighting types."""

from __future__ import annotations

import numpy as np
import pytest

from eanet.errors import InvalidInputError
from eanet.render import Lighting, Mesh, vertex_normals


def test_vertex_normals_of_a_sphere_point_outwards(shapes):
    sphere = shapes.sphere((0.0, 0.0, 0.0), 1.0, subdivisions=3)
    normals = vertex_normals(sphere.verts, sphere.faces)
    radial = sphere.verts / np.linalg.norm(sphere.verts, axis=1, keepdims=True)
    assert np.all(np.sum(normals * radial, axis=1) > 0.999)
    flipped = vertex_normals(sphere.verts, sphere.faces[:, ::-1])
    np.testing.assert_allclose(flipped, -normals, atol=1e-6)


def test_colours_accept_floats_uint8_and_per_vertex(shapes):
    sq = shapes.square(2.0, 0.3)
    assert Mesh(sq.verts, sq.faces, color=np.array([0, 128, 255], np.uint8)).color == pytest.approx([0, 128 / 255, 1])
    per_vertex = Mesh(sq.verts, sq.faces, color=np.tile([0.2, 0.4, 0.6], (4, 1)))
    assert per_vertex.has_vertex_colors and per_vertex.vertex_colors().shape == (4, 3)
    with pytest.raises(InvalidInputError, match="RGB"):
        Mesh(sq.verts, sq.faces, color=(1.0, 0.0, 0.0, 0.5))
    with pytest.raises(InvalidInputError, match="shape"):
        Mesh(sq.verts, sq.faces, color=np.ones((5, 3)))
    with pytest.raises(InvalidInputError, match="alpha"):
        Mesh(sq.verts, sq.faces, alpha=1.5)
    with pytest.raises(InvalidInputError, match="NaN"):
        Mesh(np.full((4, 3), np.nan), sq.faces)


def test_random_lighting_lights_the_visible_side():
    rng = np.random.default_rng(0)
    for _ in range(20):
        lighting = Lighting.random(rng)
        assert len(lighting.lights) == 2
        key = lighting.lights[0]
        assert key.unit_direction()[2] > 0  # travels into the scene: surfaces facing the camera get light
        assert 0 < lighting.ambient[0] < 0.5
