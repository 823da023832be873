"""Views that inference and the demos need: overlays on the input image and automatically framed side views."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from eanet.errors import InvalidInputError
from eanet.render.camera import Camera, look_at_camera, rotation_about_axis
from eanet.render.renderer import Background, Renderer
from eanet.render.scene import Mesh, RenderResult, as_mesh_list

__all__ = ["overlay", "side_view", "rotate_meshes", "framed_view", "meshes_center"]


def meshes_center(meshes: Sequence[Mesh]) -> np.ndarray:
    """``(3,)`` centre of the meshes' joint bounding box."""
    points = np.concatenate([m.verts for m in as_mesh_list(meshes)])
    return 0.5 * (points.min(0) + points.max(0))


def rotate_meshes(
    meshes: Mesh | Sequence[Mesh],
    angle_deg: float,
    axis: Sequence[float] = (0.0, -1.0, 0.0),
    center: np.ndarray | None = None,
) -> list[Mesh]:
    """Rotate meshes together about ``center`` (default: their bounding-box centre).

    Args:
        meshes: meshes in one frame.
        angle_deg: rotation angle, right-handed about ``axis``.
        axis: rotation axis; the default is "up" in an OpenCV camera frame (``-y``). A positive angle turns the
            side that faced the camera towards the image's right, bringing the scene's left side (as the camera saw
            it) to the front.
        center: ``(3,)`` pivot.

    Returns:
        New meshes (same faces, colours, alphas).
    """
    mesh_list = as_mesh_list(meshes)
    pivot = meshes_center(mesh_list) if center is None else np.asarray(center, dtype=np.float64)
    rot = rotation_about_axis(axis, angle_deg)
    return [m.with_verts(((m.verts - pivot) @ rot.T + pivot).astype(np.float32)) for m in mesh_list]


def framed_view(
    meshes: Mesh | Sequence[Mesh],
    width: int,
    height: int,
    view_dir: Sequence[float] = (0.0, 0.0, 1.0),
    up: Sequence[float] = (0.0, -1.0, 0.0),
    renderer: Renderer | None = None,
    background: Background = (1.0, 1.0, 1.0),
    fov_deg: float = 35.0,
    margin: float = 0.08,
) -> RenderResult:
    """Render meshes from a camera looking along ``view_dir`` that frames them (see :func:`look_at_camera`)."""
    mesh_list = as_mesh_list(meshes)
    if not mesh_list:
        raise InvalidInputError("framed_view needs at least one mesh")
    points = np.concatenate([m.verts for m in mesh_list])
    camera = look_at_camera(points, width, height, view_dir=view_dir, up=up, fov_deg=fov_deg, margin=margin)
    return _render(renderer, mesh_list, camera, background)


def side_view(
    meshes: Mesh | Sequence[Mesh],
    width: int,
    height: int,
    angle_deg: float = 90.0,
    renderer: Renderer | None = None,
    background: Background = (1.0, 1.0, 1.0),
    fov_deg: float = 35.0,
    margin: float = 0.08,
) -> RenderResult:
    """Render camera-frame meshes turned by ``angle_deg`` about the vertical axis through their centre, framed.

    With the default 90 degrees the viewer looks at the scene from the original camera's left: depth becomes
    horizontal (points that were nearer the camera appear further right), which shows the depth ordering of the two
    hands that the input view hides. Lights stay fixed to the camera, so the side view is lit like the front view.

    Args:
        meshes: meshes in an OpenCV camera frame (y down), e.g. predicted ``verts_cam``.
        width, height: output size in pixels.
        angle_deg: turn about the camera's up axis.
        renderer: a renderer to reuse (a temporary one otherwise).
        background: see :meth:`Renderer.render` (default white).
        fov_deg, margin: framing (see :func:`look_at_camera`).
    """
    rotated = rotate_meshes(meshes, angle_deg)
    return framed_view(rotated, width, height, renderer=renderer, background=background, fov_deg=fov_deg, margin=margin)


def overlay(
    image: np.ndarray,
    meshes: Mesh | Sequence[Mesh],
    camera: Camera,
    renderer: Renderer | None = None,
    alpha: float | None = None,
) -> np.ndarray:
    """Draw meshes over an image as the camera sees them.

    Args:
        image: ``(H, W, 3)`` uint8 RGB of the camera's size.
        meshes: meshes in the camera's world frame.
        camera: the image's camera.
        renderer: a renderer to reuse (a temporary one otherwise).
        alpha: when given, overrides every mesh's opacity (e.g. 0.7 to see the image through the hands).

    Returns:
        ``(H, W, 3)`` uint8 RGB.
    """
    mesh_list = as_mesh_list(meshes)
    if alpha is not None:
        mesh_list = [Mesh(m.verts, m.faces, m.color, alpha, m.name) for m in mesh_list]
    return _render(renderer, mesh_list, camera, np.asarray(image)).rgb.copy()


def _render(renderer: Renderer | None, meshes: list[Mesh], camera: Camera, background: Background) -> RenderResult:
    if renderer is not None:
        return renderer.render(meshes, camera, background)
    with Renderer() as temporary:
        return temporary.render(meshes, camera, background)
