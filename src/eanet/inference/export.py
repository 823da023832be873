"""Writing predictions: JSON, OBJ and PLY per hand, one GLB scene with both hands placed.

Frames:
    * JSON, and OBJ/PLY with ``axes="opencv"`` (default): the original image's camera frame, OpenCV axes (x right,
      y down, z forward), metres: the meshes line up with the image when projected with the JSON's camera.
    * OBJ/PLY with ``axes="yup"``: the same points times ``(1, -1, -1)`` (x right, y up, z towards the viewer), the
      official demo's flip, which most mesh viewers expect.
    * GLB: always y-up (glTF 2.0 defines +y up and a camera looking down -z), i.e. the ``yup`` frame. The flip is a
      180-degree rotation about x, so triangle winding (outward normals) is kept.

Meshes are written with ``process=False`` so vertex order and count are exactly the hand model's (vertex ``i`` of a
file is vertex ``i`` of the model).

Every file is written atomically (:func:`eanet.fileio.atomic_write`): a full disk or a crash leaves the previous file
or none, never a truncated mesh that a viewer would load as a partial hand.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from eanet.errors import InvalidInputError
from eanet.fileio import atomic_write_bytes
from eanet.render.scene import HAND_COLORS

__all__ = ["AXES", "to_axes", "write_json", "write_mesh", "write_glb", "write_prediction_meshes"]

logger = logging.getLogger(__name__)

#: Output frames for OBJ/PLY: name -> per-axis sign applied to camera-frame points.
AXES: dict[str, tuple[float, float, float]] = {"opencv": (1.0, 1.0, 1.0), "yup": (1.0, -1.0, -1.0)}


def to_axes(points: np.ndarray, axes: str) -> np.ndarray:
    """Camera-frame points ``(..., 3)`` in the frame ``axes`` (see :data:`AXES`)."""
    if axes not in AXES:
        raise InvalidInputError(f"unknown mesh axes {axes!r}; choose one of {sorted(AXES)}")
    return np.asarray(points, dtype=np.float64) * np.asarray(AXES[axes])


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _clean(value: Any) -> Any:
    """Replace non-finite floats by None (JSON has no NaN/Infinity; strict parsers reject them)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write_json(data: Mapping[str, Any], path: str | Path, indent: int | None = 1) -> Path:
    """Write ``data`` as strict JSON (non-finite numbers become null), atomically (temporary file + rename)."""
    text = json.dumps(_clean(dict(data)), indent=indent, default=_json_default, allow_nan=False)
    return atomic_write_bytes(path, text)


def _trimesh(verts: np.ndarray, faces: np.ndarray, color: tuple[float, float, float] | None = None):
    import trimesh

    mesh = trimesh.Trimesh(vertices=np.asarray(verts, dtype=np.float64), faces=np.asarray(faces, dtype=np.int64),
                           process=False)  # fmt: skip
    if color is not None:
        rgba = np.array([*(int(round(c * 255)) for c in color), 255], dtype=np.uint8)
        mesh.visual.vertex_colors = np.tile(rgba, (len(mesh.vertices), 1))
    return mesh


def write_mesh(verts: np.ndarray, faces: np.ndarray, path: str | Path, color=None) -> Path:
    """Write one mesh as ``.obj`` or ``.ply`` (binary), keeping the vertex order."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".obj", ".ply"):
        raise InvalidInputError(f"mesh files must end in .obj or .ply, got {path.name}")
    mesh = _trimesh(verts, faces, color if suffix == ".ply" else None)
    # Encoded in memory first (no file_obj: trimesh returns the text/bytes), then written in one atomic step.
    if suffix == ".obj":
        data = mesh.export(file_type="obj", include_normals=False, include_color=False, include_texture=False)
    else:
        data = mesh.export(file_type="ply", encoding="binary")
    return atomic_write_bytes(path, data)


def write_glb(hands: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str | Path, colors: Mapping | None = None) -> Path:
    """Write one GLB scene with each hand as a named node (``right``, ``left``) and its own material.

    Args:
        hands: ``{name: (verts (V, 3) camera frame, faces (F, 3))}``.
        path: ``.glb`` file.
        colors: ``{name: sRGB (3,)}``; default the render colours of the two hands.
    """
    import trimesh

    colors = colors or HAND_COLORS
    path = Path(path)
    scene = trimesh.Scene()
    for name, (verts, faces) in hands.items():
        mesh = _trimesh(to_axes(verts, "yup"), faces)
        rgba = [*colors.get(name, (0.8, 0.8, 0.8)), 1.0]
        mesh.visual = trimesh.visual.TextureVisuals(
            material=trimesh.visual.material.PBRMaterial(name=f"{name}_hand", baseColorFactor=rgba,
                                                          metallicFactor=0.0, roughnessFactor=0.7, doubleSided=True)
        )  # fmt: skip
        scene.add_geometry(mesh, node_name=name, geom_name=name)
    return atomic_write_bytes(path, scene.export(file_type="glb"))


def write_prediction_meshes(prediction, out_dir: str | Path, axes: str = "opencv",
                            written: dict[str, str] | None = None) -> dict[str, Path]:  # fmt: skip
    """OBJ and PLY per hand and ``hands.glb`` for one :class:`~eanet.inference.result.ImagePrediction`.

    Args:
        written: if given, each file's name -> path is added as soon as it is complete, so a caller whose write
            fails half-way (disk full) knows which files are whole.

    Returns:
        ``{"right_obj", "right_ply", "left_obj", "left_ply", "glb"}`` -> path.
    """
    out_dir = Path(out_dir)
    paths: dict[str, Path] = {}

    def done(name: str, path: Path) -> None:
        paths[name] = path
        if written is not None:
            written[name] = str(path)

    for side, hand in prediction.hands():
        verts = to_axes(hand.verts_cam, axes)
        done(f"{side}_obj", write_mesh(verts, hand.faces, out_dir / f"{side}.obj"))
        done(f"{side}_ply", write_mesh(verts, hand.faces, out_dir / f"{side}.ply", color=HAND_COLORS[side]))
    done("glb", write_glb({side: (hand.verts_cam, hand.faces) for side, hand in prediction.hands()},
                          out_dir / "hands.glb"))  # fmt: skip
    return paths
