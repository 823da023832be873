"""Rendering hands: meshes over an image or a plain background, RGBA + depth + per-mesh ids, headless.

Two backends draw the same pixels: pyrender on a headless EGL context (``pip install 'eanet[render]'``) and a
pure-torch rasterizer that needs no OpenGL. Cameras use the OpenCV convention (x right, y down, z forward), as
InterHand2.6M's camera frames; colours are sRGB floats in [0, 1]; images are RGB uint8.

    >>> from eanet.render import Camera, Mesh, Renderer
    >>> with Renderer() as renderer:
    ...     result = renderer.render([Mesh(verts, faces)], Camera((500, 500), (128, 128), 256, 256))
    >>> result.rgba, result.depth, result.mesh_ids

Importing this package is light (NumPy only); torch, OpenCV and pyrender load when first used.
"""

from eanet.render.camera import Camera, look_at_camera, rotation_about_axis
from eanet.render.draw import (
    FINGER_COLORS,
    contact_sheet,
    draw_hand_legend,
    draw_joints_2d,
    draw_warning_badge,
    put_label,
)
from eanet.render.renderer import Renderer, render
from eanet.render.scene import HAND_COLORS, SKIN_TONES, Light, Lighting, Mesh, RenderResult, vertex_normals
from eanet.render.views import framed_view, overlay, rotate_meshes, side_view

__all__ = [
    "Camera",
    "Mesh",
    "Light",
    "Lighting",
    "RenderResult",
    "Renderer",
    "render",
    "overlay",
    "side_view",
    "framed_view",
    "rotate_meshes",
    "look_at_camera",
    "rotation_about_axis",
    "draw_joints_2d",
    "draw_hand_legend",
    "draw_warning_badge",
    "contact_sheet",
    "put_label",
    "vertex_normals",
    "SKIN_TONES",
    "HAND_COLORS",
    "FINGER_COLORS",
]
