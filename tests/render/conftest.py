"""Fixtures for the rendering tests: one long-lived renderer per backend (a GL context costs ~0.1-0.2 s)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from eanet.render import Camera, Mesh, Renderer


@pytest.fixture(scope="session")
def pyrender_renderer():
    """A pyrender-backed Renderer, or a skip when EGL cannot start (a failure when ``EANET_REQUIRE_EGL=1``)."""
    from eanet.render.gl import RenderBackendUnavailable

    renderer = Renderer(backend="pyrender")
    try:
        renderer.backend_name  # noqa: B018 - creates the EGL context now
    except RenderBackendUnavailable as err:
        if os.environ.get("EANET_REQUIRE_EGL") == "1":
            pytest.fail(f"EANET_REQUIRE_EGL=1 but the pyrender backend cannot start: {err}")
        pytest.skip(f"pyrender/EGL unavailable: {err}")
    yield renderer
    renderer.close()


@pytest.fixture(scope="session")
def torch_renderer():
    renderer = Renderer(backend="torch")
    yield renderer
    renderer.close()


@pytest.fixture(params=["torch", "pyrender"])
def renderer(request):
    """Each backend in turn."""
    return request.getfixturevalue(f"{request.param}_renderer")


class Shapes:
    """Small test meshes and cameras (a fixture, so test modules need not import this file)."""

    @staticmethod
    def square(center_z: float, half: float, x: float = 0.0, y: float = 0.0, **kwargs) -> Mesh:
        """An axis-aligned square facing the camera (normal -z, towards it), centred at (x, y, center_z)."""
        verts = np.array(
            [[x - half, y - half, center_z], [x + half, y - half, center_z], [x + half, y + half, center_z],
             [x - half, y + half, center_z]],
            np.float32,
        )  # fmt: skip
        # Winding chosen so the face normal, (v2 - v0) x (v1 - v0), points at the camera (-z).
        faces = np.array([[0, 2, 1], [0, 3, 2]])
        return Mesh(verts, faces, **kwargs)

    @staticmethod
    def sphere(center, radius: float, subdivisions: int = 3, **kwargs) -> Mesh:
        import trimesh

        s = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
        return Mesh(np.asarray(s.vertices) + np.asarray(center), np.asarray(s.faces), **kwargs)

    @staticmethod
    def centred_camera(width: int = 96, height: int = 80, focal: float = 100.0) -> Camera:
        return Camera((focal, focal), ((width - 1) / 2, (height - 1) / 2), width, height)


@pytest.fixture(scope="session")
def shapes() -> Shapes:
    return Shapes()
