"""Make a README picture from one `eanet predict` output folder: the input and the files predict wrote.

    python tools/make_predict_strip.py INPUT_IMAGE PREDICTION_DIR OUT.png [--title TEXT]

The strip shows, left to right: the input image, ``overlay.png``, ``side.png``, ``joints.png`` and ``hands.glb``
re-loaded with trimesh and rendered from three-quarters (so the picture proves the GLB itself is complete). Every
tile is scaled to one height and captioned, above it, with the file it shows.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

logger = logging.getLogger("make_predict_strip")


def _read_rgb(path: Path) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"cannot read {path}: run `eanet predict` first, or check the path")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _fit_height(image: np.ndarray, height: int) -> np.ndarray:
    import cv2

    width = max(1, round(image.shape[1] * height / image.shape[0]))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def _captioned(tile: np.ndarray, text: str, band: int = 24) -> np.ndarray:
    """``tile`` under a white band naming it (above the picture, so the picture's own legend and warnings stay
    visible)."""
    import cv2

    top = np.full((band, tile.shape[1], 3), 255, np.uint8)
    cv2.putText(top, text, (4, band - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (25, 25, 25), 1, cv2.LINE_AA)
    return np.concatenate([top, tile[..., :3]], axis=0)


def _render_glb(path: Path, size: int) -> np.ndarray:
    """Render every mesh of a GLB scene (in its scene placement) from a three-quarter view."""
    import trimesh

    from eanet.render import Mesh, Renderer, framed_view, rotate_meshes

    scene = trimesh.load(str(path), force="scene")
    meshes = []
    for name in scene.graph.nodes_geometry:
        transform, geometry_name = scene.graph[name]
        geometry = scene.geometry[geometry_name]
        verts = trimesh.transformations.transform_points(geometry.vertices, transform)
        # `eanet predict` writes glTF's y-up frame; (1, -1, -1) takes it back to the OpenCV camera frame our views use.
        verts = verts * np.array([1.0, -1.0, -1.0])
        material = getattr(geometry.visual, "material", None)
        factor = getattr(material, "baseColorFactor", None)
        color = (0.8, 0.8, 0.8) if factor is None else tuple(np.asarray(factor[:3], dtype=np.float64) / 255.0)
        meshes.append(Mesh(verts.astype(np.float32), np.asarray(geometry.faces), color=color, name=str(name)))
    if not meshes:
        raise SystemExit(f"{path} holds no mesh")
    with Renderer() as renderer:
        return framed_view(rotate_meshes(meshes, 35.0), size, size, renderer=renderer).rgba[..., :3]


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input_image", type=Path)
    parser.add_argument("prediction_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--height", type=int, default=320)
    args = parser.parse_args()

    tiles = [
        _captioned(_fit_height(_read_rgb(args.input_image), args.height), "input"),
        _captioned(_fit_height(_read_rgb(args.prediction_dir / "overlay.png"), args.height), "overlay.png"),
        _captioned(_fit_height(_read_rgb(args.prediction_dir / "side.png"), args.height), "side.png (from the left)"),
        _captioned(_fit_height(_read_rgb(args.prediction_dir / "joints.png"), args.height), "joints.png"),
        _captioned(_render_glb(args.prediction_dir / "hands.glb", args.height), "hands.glb (re-loaded)"),
    ]
    gap = np.full((tiles[0].shape[0], 6, 3), 255, np.uint8)
    strip = np.concatenate([part for tile in tiles for part in (tile, gap)][:-1], axis=1)
    import cv2

    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
    logger.info("wrote %s (%dx%d)", args.out, strip.shape[1], strip.shape[0])


if __name__ == "__main__":
    main()
