"""The OpenGL backend: pyrender (``pyrender-maintained``) on a headless EGL context (Mesa llvmpipe on CPU machines).

One context is created per :class:`PyrenderBackend` and reused for every frame (creating one costs ~0.1-0.2 s).
Each frame runs two passes: a shaded, 4x multisampled colour pass (anti-aliased edges) and an aliased
segmentation pass that gives the per-mesh id map and the depth, so depth, ids and the mask agree pixel for pixel
and match the torch rasterizer's pixel-centre coverage.

Shading: the vertices arrive already lit (:func:`~eanet.render.scene.shade_vertices`, the same numbers the torch
backend interpolates), so the colour pass uses pyrender's flat (unlit) shader, which is also much cheaper than its
PBR shader on llvmpipe.

An EGL context belongs to the process that made it: build the renderer inside each worker process, not before
forking.

Load order with triton: Mesa's llvmpipe driver is opened with ``RTLD_GLOBAL`` (PyOpenGL loads libEGL that way and
Mesa's loader opens the DRI driver that way too), which puts the symbols of Mesa's shared ``libLLVM`` into the
process's global scope. Triton's ``libtriton.so`` carries its own, newer LLVM; loaded *after* that, its LLVM
references bind to Mesa's copy and the process dies with a segmentation fault on import (``import triton``, which
``torchvision.models`` and ``torch.compile`` reach). Loaded *before*, it stays in its local scope and Mesa binds to its
own libLLVM, so both work. :class:`PyrenderBackend` therefore loads triton (when installed) before it makes the first
context: rendering first and predicting second in one process is safe.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import sys

import numpy as np

from eanet.errors import UserError
from eanet.render.camera import Camera
from eanet.render.scene import PreparedScene, RawRender

__all__ = ["PyrenderBackend", "RenderBackendUnavailable", "preload_llvm_extensions"]

logger = logging.getLogger(__name__)

_FIX = (
    "Install the rendering extra (`pip install 'eanet[render]'`, i.e. pyrender-maintained==1.0.1), run with "
    "PYOPENGL_PLATFORM=egl, and make sure an EGL library is present (Mesa's libEGL / llvmpipe on CPU machines, "
    "the NVIDIA driver on GPUs); or use backend='torch', which needs no OpenGL."
)

# OpenGL -> OpenCV camera axes: OpenGL cameras look down -z with y up; OpenCV cameras look down +z with y down.
_CV_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0])


# Extension modules that link their own copy of LLVM and crash when loaded after Mesa's libLLVM (see the module
# docstring); each is loaded, if installed, before the first EGL context.
_LLVM_EXTENSIONS = ("triton._C.libtriton",)


def preload_llvm_extensions() -> list[str]:
    """Load the installed extension modules that carry their own LLVM, before any EGL context exists.

    Called by :class:`PyrenderBackend` before it creates a context; harmless (and cheap, ~0.4 s once) otherwise.
    Call it yourself before making an EGL/OSMesa context without this package (e.g. ``pyrender.OffscreenRenderer``)
    in a process that may later import torchvision models or triton.

    Returns:
        The module names that are now loaded.
    """
    loaded = []
    for name in _LLVM_EXTENSIONS:
        package = name.partition(".")[0]
        if package not in sys.modules and importlib.util.find_spec(package) is None:
            continue
        try:
            importlib.import_module(name)
        except Exception as err:  # noqa: BLE001 - a broken optional install must not stop rendering
            logger.debug("could not preload %s before creating the GL context: %s", name, err)
            continue
        loaded.append(name)
    return loaded


class RenderBackendUnavailable(UserError):
    """The OpenGL backend cannot start here; the message says why and how to fix it."""


class PyrenderBackend:
    """Offscreen pyrender renderer with a persistent EGL context.

    Raises:
        RenderBackendUnavailable: pyrender is not installed or no EGL context can be created.
    """

    name = "pyrender"

    def __init__(self) -> None:
        platform = os.environ.get("PYOPENGL_PLATFORM")
        if platform is None:
            # pyrender would pick a windowed (pyglet) context without it; this backend is headless by design.
            logger.debug("PYOPENGL_PLATFORM is not set; using egl for the headless pyrender backend")
            os.environ["PYOPENGL_PLATFORM"] = "egl"
        elif platform not in ("egl", "osmesa"):
            raise RenderBackendUnavailable(
                f"PYOPENGL_PLATFORM={platform!r} cannot render offscreen here; set PYOPENGL_PLATFORM=egl. {_FIX}"
            )
        # Before any GL library is loaded: triton loaded after Mesa's libLLVM segfaults (module docstring).
        preload_llvm_extensions()
        try:
            import pyrender
        except ImportError as err:
            raise RenderBackendUnavailable(f"pyrender is not importable ({err}). {_FIX}") from err
        except Exception as err:  # noqa: BLE001 - PyOpenGL raises assorted errors when no GL library loads
            raise RenderBackendUnavailable(f"pyrender failed to import ({type(err).__name__}: {err}). {_FIX}") from err
        self._pyrender = pyrender
        self._size = (64, 64)
        try:
            self._renderer = pyrender.OffscreenRenderer(*self._size)
        except Exception as err:  # noqa: BLE001 - EGL/GL failures surface as many exception types
            raise RenderBackendUnavailable(
                f"could not create an EGL OpenGL context ({type(err).__name__}: {err}). {_FIX}"
            ) from err

    def close(self) -> None:
        """Free the GL context (safe to call twice)."""
        renderer, self._renderer = getattr(self, "_renderer", None), None
        if renderer is not None:
            try:
                renderer.delete()
            except Exception as err:  # noqa: BLE001 - a broken context must not stop interpreter shutdown
                logger.debug("pyrender context cleanup failed: %s", err)

    def render(self, scene: PreparedScene, camera: Camera) -> RawRender:
        pyr = self._pyrender
        if self._renderer is None:
            raise RuntimeError("this renderer was closed; create a new one")
        size = (camera.width, camera.height)
        if size != self._size:
            self._renderer.viewport_width, self._renderer.viewport_height = size
            self._size = size

        gl_scene = pyr.Scene(bg_color=np.zeros(4))
        nodes = []
        for verts, faces, colors in zip(scene.verts, scene.faces, scene.colors, strict=True):
            primitive = pyr.Primitive(
                positions=verts,
                color_0=np.concatenate([colors, np.ones((len(colors), 1), np.float32)], 1),  # (V, 4) shaded sRGB
                # Every triangle is also given in the opposite winding: pyrender's segmentation pass culls back
                # faces whatever the material says, and hand meshes are open at the wrist, so back faces must be
                # drawn to hide what is behind them. One copy of each pair survives culling in every pass.
                indices=np.concatenate([faces, faces[:, ::-1]]).astype(np.uint32),  # (2F, 3)
                material=pyr.MetallicRoughnessMaterial(baseColorFactor=np.ones(4), doubleSided=False),
                mode=pyr.constants.GLTF.TRIANGLES,
            )
            nodes.append(gl_scene.add(pyr.Mesh([primitive])))
        (fx, fy), (cx, cy) = camera.focal, camera.princpt
        # pyrender's pixel centres sit at +0.5 (OpenGL window coordinates); ours at integers (OpenCV).
        gl_camera = pyr.IntrinsicsCamera(fx, fy, cx + 0.5, cy + 0.5, znear=camera.znear, zfar=camera.zfar)
        gl_scene.add(gl_camera, pose=_CV_TO_GL)

        flags = pyr.RenderFlags
        # FLAT: the colours are already shaded (see shade_vertices); the shader only interpolates them.
        rgba, _ = self._renderer.render(gl_scene, flags=flags.RGBA | flags.FLAT)
        seg_map = {node: _encode_id(i) for i, node in enumerate(nodes)}
        seg, depth = self._renderer.render(gl_scene, flags=flags.SEG, seg_node_map=seg_map)
        mesh_ids = (seg[..., 0].astype(np.int32) | (seg[..., 1].astype(np.int32) << 8)) - 1  # (H, W)
        depth = np.where(mesh_ids >= 0, depth, 0.0).astype(np.float32)
        mesh_ids = np.where(depth > 0, mesh_ids, -1).astype(np.int32)
        # Cleared to (0, 0, 0, 0) and resolved from 4 samples: the colour is premultiplied by the coverage alpha.
        return RawRender(color=rgba[..., :3], coverage=rgba[..., 3], depth=depth, mesh_ids=mesh_ids)


def _encode_id(index: int) -> tuple[int, int, int]:
    """Mesh ``index`` as a segmentation colour (0 is the background, so ids are shifted by one)."""
    value = index + 1
    if value >= 1 << 16:
        raise ValueError("at most 65535 meshes per render")
    return (value & 0xFF, value >> 8, 0)
