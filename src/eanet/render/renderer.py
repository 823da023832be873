"""The entry point of rendering: :class:`Renderer` (keeps a backend alive across frames) and :func:`render`.

Backends:
    * ``"pyrender"``: OpenGL through pyrender on a headless EGL context (anti-aliased colour).
    * ``"torch"``: the pure-torch rasterizer in :mod:`eanet.render.rasterizer` (no OpenGL; aliased edges).
    * ``"auto"``: pyrender when an EGL context can be created, otherwise torch, saying why in one warning (once per
      process).

Both backends draw the same pixels (pixel centres covered by a triangle), the same depth and the same mesh ids, and
the same colours (Lambertian shading computed at the vertices and interpolated); only pyrender anti-aliases edges.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Literal

import numpy as np

from eanet.errors import InvalidInputError
from eanet.render.camera import Camera
from eanet.render.gl import PyrenderBackend, RenderBackendUnavailable
from eanet.render.scene import (
    Lighting,
    Mesh,
    PreparedScene,
    RawRender,
    RenderResult,
    as_mesh_list,
    as_rgb,
    shade_vertices,
    vertex_normals,
)

__all__ = ["Renderer", "render", "Background", "BackendName"]

logger = logging.getLogger(__name__)

BackendName = Literal["auto", "pyrender", "torch"]

# Why "auto" could not start OpenGL, per PYOPENGL_PLATFORM value: probed once per process, so the fallback is
# announced by one warning rather than one per Renderer (and a failing EGL probe is not repeated).
_AUTO_FAILURES: dict[str | None, str] = {}
#: None (transparent), an RGB colour (floats in [0, 1]) or an ``(H, W, 3)`` uint8 RGB image of the camera's size.
Background = None | tuple[float, float, float] | np.ndarray


class Renderer:
    """Renders meshes seen by a pinhole camera; keeps its backend (and GL context) alive between calls.

    The backend is created on the first :meth:`render` call, so a renderer built before a DataLoader forks is
    safe as long as it has not rendered yet. Use it as a context manager or call :meth:`close`.

    Args:
        backend: ``"auto"``, ``"pyrender"`` or ``"torch"``.
        device: torch device of the torch backend.
        lighting: default lighting (see :class:`~eanet.render.scene.Lighting`).
    """

    def __init__(self, backend: BackendName = "auto", device: str = "cpu", lighting: Lighting | None = None) -> None:
        if backend not in ("auto", "pyrender", "torch"):
            raise InvalidInputError(f"unknown render backend {backend!r}; choose 'auto', 'pyrender' or 'torch'")
        self.requested_backend = backend
        self.device = device
        self.lighting = lighting or Lighting()
        self._backend = None
        self._closed = False

    @property
    def backend_name(self) -> str:
        """The backend in use (creating it if needed): ``"pyrender"`` or ``"torch"``."""
        return self._get_backend().name

    def _get_backend(self):
        if self._closed:
            raise RuntimeError("this Renderer was closed; create a new one")
        if self._backend is not None:
            return self._backend
        platform = os.environ.get("PYOPENGL_PLATFORM")
        known_failure = _AUTO_FAILURES.get(platform)
        if self.requested_backend == "pyrender" or (self.requested_backend == "auto" and known_failure is None):
            try:
                self._backend = PyrenderBackend()
            except RenderBackendUnavailable as err:
                if self.requested_backend == "pyrender":
                    raise
                _AUTO_FAILURES[platform] = str(err)
                logger.warning("OpenGL rendering unavailable, using the pure-torch rasterizer instead: %s", err)
        elif self.requested_backend == "auto":
            logger.debug("OpenGL rendering unavailable (%s); using the pure-torch rasterizer", known_failure)
        if self._backend is None:
            # Imported on use: the rasterizer needs torch, which an OpenGL (pyrender) renderer never loads.
            from eanet.render.rasterizer import TorchRasterizer

            self._backend = TorchRasterizer(self.device)
        logger.debug("render backend: %s", self._backend.name)
        return self._backend

    def close(self) -> None:
        """Release the backend (the GL context); safe to call more than once."""
        if self._backend is not None:
            self._backend.close()
        self._backend = None
        self._closed = True

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never raise from a finaliser
            pass

    def render(
        self,
        meshes: Mesh | Sequence[Mesh],
        camera: Camera,
        background: Background = None,
        lighting: Lighting | None = None,
    ) -> RenderResult:
        """Render meshes.

        Args:
            meshes: one :class:`Mesh` or a sequence; ``mesh_ids`` index this sequence.
            camera: the camera (intrinsics, image size, optional world-to-camera extrinsics).
            background: None (transparent), an RGB colour or an ``(H, W, 3)`` uint8 RGB image of the camera's size.
            lighting: lights for this frame; default: the renderer's.

        Returns:
            :class:`RenderResult` with ``rgba`` ``(H, W, 4)`` uint8, ``depth`` ``(H, W)`` float32 metres (0 = none),
            ``mesh_ids`` ``(H, W)`` int32 (-1 = none).
        """
        mesh_list = as_mesh_list(meshes)
        if not isinstance(camera, Camera):
            raise InvalidInputError(f"camera must be an eanet.render.Camera, got {type(camera).__name__}")
        bg = _parse_background(background, camera)
        backend = self._get_backend()
        height, width = camera.height, camera.width
        if not mesh_list or all(len(m.faces) == 0 for m in mesh_list):
            return _empty_result(bg, height, width, backend.name)

        raw = backend.render(_prepare(mesh_list, camera, lighting or self.lighting), camera)
        alphas = np.array([m.alpha for m in mesh_list], dtype=np.float32)
        rgba = _composite(raw, alphas, bg, height, width)
        return RenderResult(rgba=rgba, depth=raw.depth, mesh_ids=raw.mesh_ids, backend=backend.name)


def _composite(raw: RawRender, alphas: np.ndarray, bg: np.ndarray | None, height: int, width: int) -> np.ndarray:
    """Blend the backend's premultiplied colour over the background, touching only pixels something covers.

    Returns:
        ``(H, W, 4)`` uint8 RGBA (see :class:`RenderResult`).
    """
    rgba = np.empty((height, width, 4), np.uint8)
    flat = rgba.reshape(-1, 4)
    if bg is None:
        flat[:] = 0
    else:
        rgba[..., :3] = bg
        rgba[..., 3] = 255
    sel = np.flatnonzero(raw.coverage)  # (K,) pixels with any coverage
    if sel.size == 0:
        return rgba
    alpha = raw.coverage.reshape(-1)[sel].astype(np.float32) / 255.0  # (K,)
    color = raw.color.reshape(-1, 3)[sel].astype(np.float32) / 255.0  # (K, 3) premultiplied by coverage
    if np.any(alphas != 1.0):
        # Anti-aliased edge pixels can lie just outside the aliased id map; give them the most transparent
        # mesh's alpha (a one-pixel fringe) rather than inventing an opaque rim.
        lookup = np.append(alphas, alphas.min())  # index -1 -> fringe alpha
        mesh_alpha = lookup[raw.mesh_ids.reshape(-1)[sel]]  # (K,)
        alpha *= mesh_alpha
        color *= mesh_alpha[:, None]
    if bg is None:
        flat[sel, :3] = np.clip(np.rint(color / np.maximum(alpha, 1e-6)[:, None] * 255.0), 0, 255)
        flat[sel, 3] = np.rint(alpha * 255.0)
    else:
        behind = flat[sel, :3].astype(np.float32)  # (K, 3) background, 0..255
        flat[sel, :3] = np.clip(np.rint(color * 255.0 + (1.0 - alpha)[:, None] * behind), 0, 255)
    return rgba


def render(
    meshes: Mesh | Sequence[Mesh],
    camera: Camera,
    background: Background = None,
    lighting: Lighting | None = None,
    backend: BackendName = "auto",
) -> RenderResult:
    """Render once with a short-lived :class:`Renderer` (for many frames, keep a ``Renderer``: a GL context costs
    ~0.1-0.2 s to create). Arguments as :meth:`Renderer.render`."""
    with Renderer(backend=backend) as renderer:
        return renderer.render(meshes, camera, background, lighting)


def _parse_background(background: Background, camera: Camera) -> np.ndarray | None:
    """None, an ``(H, W, 3)`` uint8 image, or a ``(3,)`` uint8 colour."""
    if background is None:
        return None
    arr = np.asarray(background)
    if arr.ndim == 3:
        if arr.dtype != np.uint8:
            raise InvalidInputError(f"a background image must be uint8 RGB, got dtype {arr.dtype}")
        if arr.shape != (camera.height, camera.width, 3):
            raise InvalidInputError(
                f"background image is {arr.shape[1]}x{arr.shape[0]} (shape {arr.shape}) but the camera renders "
                f"{camera.width}x{camera.height}; resize the image or build the camera for its size"
            )
        return arr
    return np.rint(as_rgb(arr, "background") * 255.0).astype(np.uint8)


def _prepare(meshes: list[Mesh], camera: Camera, lighting: Lighting) -> PreparedScene:
    verts, colors = [], []
    for m in meshes:
        v = camera.to_camera(m.verts) if camera.rotation is not None or camera.translation is not None else m.verts
        verts.append(v)
        colors.append(shade_vertices(vertex_normals(v, m.faces), m.color, lighting))
    return PreparedScene(
        verts=verts,
        faces=[m.faces for m in meshes],
        colors=colors,
        alphas=np.array([m.alpha for m in meshes], np.float32),
    )


def _empty_result(bg: np.ndarray | None, height: int, width: int, backend: str) -> RenderResult:
    rgba = np.zeros((height, width, 4), np.uint8)
    if bg is not None:
        rgba[..., :3] = bg
        rgba[..., 3] = 255
    return RenderResult(rgba, np.zeros((height, width), np.float32), np.full((height, width), -1, np.int32), backend)
