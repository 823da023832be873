"""Render the pictures of the open hand model (not MANO) shown in docs/open_hand.md.

Needs the ``render`` extra (pyrender-maintained, headless EGL)::

    PYOPENGL_PLATFORM=egl .venv/bin/python tools/render_open_hand_docs.py   # writes docs/images/open_hand_*.png

Every hand is posed by :class:`eanet.hand_model.HandModelLayer` from the shipped asset, exactly as the rest of the
package uses it.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
logger = logging.getLogger("render_open_hand_docs")

SKIN = (0.87, 0.70, 0.60)
#: name -> (camera direction from the hand's centre, camera up), model frame of the right hand.
VIEWS = {
    "back": ((0.0, 1.0, 0.0), (-1.0, 0.0, 0.0)),
    "palm": ((0.0, -1.0, 0.0), (-1.0, 0.0, 0.0)),
    "thumb side": ((0.0, 0.25, 1.0), (-1.0, 0.0, 0.0)),
    "oblique": ((-0.6, 0.8, 0.7), (0.0, 1.0, 0.0)),
    "thumb side, from above": ((-0.3, 0.35, 0.9), (-1.0, 0.0, 0.0)),
    "palm side, from the thumb": ((-0.2, -0.6, 0.8), (-1.0, 0.0, 0.0)),
}
#: Named poses shown, each from the view that shows it best.
POSE_VIEWS = (
    ("relaxed", "thumb side, from above"),
    ("fist", "palm side, from the thumb"),
    ("point", "thumb side, from above"),
    ("pinch", "thumb side, from above"),
    ("thumbs_up", "thumb side, from above"),
    ("spread", "back"),
)
#: Two example shapes (beta vectors in SHAPE_COEFFICIENTS order).
SHAPES = {
    "small, broad, short fingers": [-2.0, 2.0, -1.0, 1.0, 1.5, -1.0, -2.0, -2.0, -2.0, -2.0],
    "large, slender, long fingers": [2.0, -2.0, 1.0, -1.0, -1.5, 1.5, 2.0, 2.0, 2.0, 2.0],
}


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray) -> np.ndarray:
    forward = (target - eye) / np.linalg.norm(target - eye)
    side = np.cross(forward, up)
    side /= np.linalg.norm(side)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = side, np.cross(side, forward), -forward, eye
    return pose


def render(
    verts: np.ndarray, faces: np.ndarray, view: str, size: int, distance: float, mirror: bool = False
) -> np.ndarray:
    """RGB ``(size, size, 3)`` image; ``mirror`` mirrors the camera across x = 0 (the view of a left hand that
    matches ``view`` of a right hand)."""
    import pyrender
    import trimesh

    direction, up = (np.asarray(v, dtype=float) for v in VIEWS[view])
    if mirror:
        direction, up = direction * [-1.0, 1.0, 1.0], up * [-1.0, 1.0, 1.0]
    direction /= np.linalg.norm(direction)
    center = (verts.max(0) + verts.min(0)) / 2
    scene = pyrender.Scene(bg_color=[1.0, 1.0, 1.0, 0.0], ambient_light=[0.3, 0.3, 0.3])
    material = pyrender.MetallicRoughnessMaterial(baseColorFactor=[*SKIN, 1.0], metallicFactor=0.0, roughnessFactor=0.8)
    scene.add(pyrender.Mesh.from_trimesh(trimesh.Trimesh(verts, faces, process=False), material=material, smooth=True))
    camera_pose = look_at(center + direction * distance, center, up)
    scene.add(pyrender.PerspectiveCamera(yfov=np.deg2rad(30.0)), pose=camera_pose)
    scene.add(pyrender.DirectionalLight(intensity=2.0), pose=camera_pose)
    fill = look_at(center + np.array([0.3, 0.5, 0.3]), center, np.array([0.0, 0.0, 1.0]))
    scene.add(pyrender.DirectionalLight(intensity=1.0), pose=fill)
    renderer = pyrender.OffscreenRenderer(size, size)
    try:
        rgba, _ = renderer.render(scene, flags=pyrender.RenderFlags.RGBA)
    finally:
        renderer.delete()
    alpha = rgba[..., 3:4] / 255.0
    return (rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)


def labelled(tiles: list[tuple[np.ndarray, str]], title: str) -> np.ndarray:
    """Tiles side by side, a caption under each and a title line on top."""
    from PIL import Image, ImageDraw, ImageFont

    size = tiles[0][0].shape[0]
    font = ImageFont.load_default(size=14)
    canvas = Image.new("RGB", (size * len(tiles), size + 44), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((8, 4), title, fill=(40, 40, 40), font=font)
    for i, (tile, caption) in enumerate(tiles):
        canvas.paste(Image.fromarray(tile), (i * size, 22))
        width = draw.textlength(caption, font=font)
        draw.text((i * size + (size - width) / 2, size + 24), caption, fill=(80, 80, 80), font=font)
    return np.asarray(canvas)


def main() -> None:
    import torch
    from PIL import Image

    from eanet.hand_model import HandModelLayer, load_hand_model_data
    from eanet.hand_model.poses import NAMED_POSES, mirror_pose

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "images")
    parser.add_argument("--size", type=int, default=240)
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)

    right = HandModelLayer(load_hand_model_data("open", "right"), flat_hand_mean=True, dtype=torch.float64)
    left = HandModelLayer(load_hand_model_data("open", "left"), flat_hand_mean=True, dtype=torch.float64)
    faces = right.faces.numpy()
    name = right.name

    def pose(layer, hand_pose=None, betas=None) -> np.ndarray:
        hp = torch.zeros(1, 45, dtype=torch.float64) if hand_pose is None else torch.tensor(hand_pose)[None].double()
        b = torch.zeros(1, 10, dtype=torch.float64) if betas is None else torch.tensor(betas)[None].double()
        with torch.no_grad():
            return layer(torch.zeros(1, 3, dtype=torch.float64), hp, b).verts[0].numpy()

    size = args.size
    rest = pose(right)
    images = {
        "open_hand_rest": labelled(
            [(render(rest, faces, v, size, 0.36), v) for v in ("back", "palm", "thumb side")],
            f"{name}, right hand, rest pose (flat template)",
        ),
        "open_hand_poses": labelled(
            [(render(pose(right, NAMED_POSES[p]), faces, view, size, 0.40), p) for p, view in POSE_VIEWS],
            f"{name}: named poses from eanet.hand_model.poses",
        ),
        "open_hand_shapes": labelled(
            [(render(rest, faces, "back", size, 0.38), "mean shape (betas = 0)")]
            + [(render(pose(right, betas=b), faces, "back", size, 0.38), label) for label, b in SHAPES.items()],
            f"{name}: shape coefficients",
        ),
        "open_hand_left_right": labelled(
            [
                (render(pose(left, mirror_pose(NAMED_POSES[p])), left.faces.numpy(), v, size, 0.36, mirror=True), "left")
                for p, v in (("point", "back"), ("pinch", "thumb side, from above"))
            ]
            + [
                (render(pose(right, NAMED_POSES[p]), faces, v, size, 0.36), "right")
                for p, v in (("pinch", "thumb side, from above"), ("point", "back"))
            ],
            f"{name}: the left hand is the exact mirror image of the right",
        ),
    }
    for key, image in images.items():
        path = args.out_dir / f"{key}.png"
        Image.fromarray(image).save(path, optimize=True)
        logger.info("wrote %s (%d KB)", path, path.stat().st_size // 1024)


if __name__ == "__main__":
    main()
