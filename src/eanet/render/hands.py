"""Looking at hand models: a right/left pair posed, shaped, placed side by side and rendered from named viewpoints.

Used by ``eanet render-hands`` (and the README pictures). Works with any :class:`~eanet.hand_model.HandModelLayer`
(the built-in open hand or MANO): the presentation frame is computed from the model's own joints, not from
assumptions about its axes, so the palms face the camera with the fingers up and the thumbs towards each other (as
a person facing you holds up both hands; their right hand is on the image's left).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eanet.errors import InvalidInputError
from eanet.hand_model.poses import mirror_pose
from eanet.hand_model.skeleton import JOINTS_21, WRIST
from eanet.render.draw import contact_sheet
from eanet.render.renderer import Background, Renderer
from eanet.render.scene import SKIN_TONES, Mesh
from eanet.render.views import framed_view

__all__ = ["VIEWS", "DEFAULT_POSES", "DEFAULT_SHAPES", "presentation_rotation", "hand_pair", "render_hand_gallery"]

logger = logging.getLogger(__name__)

#: Viewing directions in the presentation frame (x right, y down, z into the image; palms face -z).
VIEWS: dict[str, tuple[float, float, float]] = {
    "palm": (0.0, 0.0, 1.0),
    "back": (0.0, 0.0, -1.0),
    "side": (1.0, 0.0, 0.0),
    "three_quarter": (0.55, 0.35, 1.0),
}
#: Poses shown by default (names from :data:`eanet.hand_model.poses.NAMED_POSES`).
DEFAULT_POSES: tuple[str, ...] = ("relaxed", "fist", "point", "victory", "pinch", "spread")
#: Two shapes: the mean shape and a fixed, clearly different one (first betas set; the rest zero).
DEFAULT_SHAPES: dict[str, tuple[float, ...]] = {"mean": (), "varied": (2.0, -1.5, 1.5, 1.0)}
#: Skin tone per shape, so the two shapes are told apart at a glance.
SHAPE_TONES: tuple[str, ...] = ("light", "brown")

_INDEX_MCP = JOINTS_21.index("Index_1")
_MIDDLE_MCP = JOINTS_21.index("Middle_1")
_PINKY_MCP = JOINTS_21.index("Pinky_1")


def presentation_rotation(joints: np.ndarray, side: str) -> np.ndarray:
    """Rotation taking a hand from its model frame to the presentation frame (fingers up, palm to the camera).

    Args:
        joints: ``(21, 3)`` wrist-first joints of the hand in its model frame.
        side: ``"right"`` or ``"left"`` (a left hand is a mirror image, which flips the cross product).

    Returns:
        ``(3, 3)`` rotation ``R`` (apply as ``R @ x``).
    """
    up = joints[_MIDDLE_MCP] - joints[WRIST]
    up = up / np.linalg.norm(up)
    across = joints[_INDEX_MCP] - joints[_PINKY_MCP]  # towards the thumb side
    dorsal = np.cross(up, across) * (1.0 if side == "right" else -1.0)
    dorsal = dorsal - (dorsal @ up) * up
    dorsal = dorsal / np.linalg.norm(dorsal)
    model_axes = np.stack([up, dorsal, np.cross(up, dorsal)], axis=1)  # columns
    # Fingers to -y (up in the image), back of the hand to +z (away from the camera); the third axis follows.
    target_axes = np.stack([[0.0, -1.0, 0.0], [0.0, 0.0, 1.0], [-1.0, 0.0, 0.0]], axis=1)
    return target_axes @ model_axes.T


def _layer_pose(layer, pose: np.ndarray) -> np.ndarray:
    """An absolute finger pose as the ``hand_pose`` argument of ``layer`` (relative to its mean if needed)."""
    if getattr(layer, "flat_hand_mean", True):
        return pose
    return pose - layer.hands_mean.detach().cpu().numpy()


def hand_pair(
    right_layer,
    left_layer,
    pose: np.ndarray,
    betas: Sequence[float] = (),
    colors: tuple[Sequence[float], Sequence[float]] = (SKIN_TONES["light"], SKIN_TONES["light"]),
    gap_m: float = 0.03,
    depth_m: float = 0.6,
) -> list[Mesh]:
    """Pose a right and a left hand and place them side by side in the presentation frame.

    Args:
        right_layer, left_layer: hand-model layers (:class:`~eanet.hand_model.HandModelLayer`).
        pose: ``(45,)`` absolute right-hand finger pose (the left hand gets its mirror image).
        betas: leading shape coefficients (the rest are zero), shared by both hands.
        colors: sRGB colours of the right and left hand.
        gap_m: space between the two hands' bounding boxes, metres.
        depth_m: distance of the wrists from the origin along +z (framing cameras move anyway).

    Returns:
        ``[right, left]`` meshes; the right hand is on the image's left.
    """
    import torch

    pose = np.asarray(pose, dtype=np.float32).reshape(45)
    meshes = []
    for side, layer, side_pose, color in (
        ("right", right_layer, pose, colors[0]),
        ("left", left_layer, mirror_pose(pose), colors[1]),
    ):
        num_betas = int(layer.shapedirs.shape[-1])
        if len(betas) > num_betas:
            raise InvalidInputError(f"{len(betas)} betas given but the hand model has {num_betas}")
        dtype = layer.v_template.dtype
        device = layer.v_template.device
        shape = torch.zeros(1, num_betas, dtype=dtype, device=device)
        shape[0, : len(betas)] = torch.as_tensor(betas, dtype=dtype)
        hand_pose = torch.as_tensor(_layer_pose(layer, side_pose), dtype=dtype, device=device)[None]  # (1, 45)
        with torch.no_grad():
            out = layer(torch.zeros(1, 3, dtype=dtype, device=device), hand_pose, shape)
        verts = out.verts[0].cpu().double().numpy()  # (V, 3)
        joints = out.joints[0].cpu().double().numpy()  # (21, 3)
        rot = presentation_rotation(joints, side)
        placed = (verts - joints[WRIST]) @ rot.T  # (V, 3) wrist at the origin
        meshes.append(Mesh(placed, layer.faces.cpu().numpy(), color=tuple(color), name=f"{side} hand"))
    right, left = meshes
    # Right hand left of x = -gap/2, left hand right of +gap/2; wrists level, at the same depth.
    shift_r = np.array([-gap_m / 2 - right.verts[:, 0].max(), 0.0, depth_m])
    shift_l = np.array([gap_m / 2 - left.verts[:, 0].min(), 0.0, depth_m])
    return [right.with_verts(right.verts + shift_r), left.with_verts(left.verts + shift_l)]


@dataclass
class Gallery:
    """What :func:`render_hand_gallery` wrote.

    Attributes:
        images: one PNG per (pose, shape, view).
        sheet: the contact sheet (rows: poses; columns: shapes x views).
    """

    images: list[Path] = field(default_factory=list)
    sheet: Path | None = None


def render_hand_gallery(
    right_layer,
    left_layer,
    out_dir: str | Path,
    poses: Mapping[str, np.ndarray],
    shapes: Mapping[str, Sequence[float]] | None = None,
    views: Sequence[str] = ("palm", "three_quarter", "side"),
    size: tuple[int, int] = (256, 256),
    renderer: Renderer | None = None,
    background: Background = (0.96, 0.96, 0.96),
    prefix: str = "hands",
) -> Gallery:
    """Render hand pairs in several poses, shapes and views; write PNGs and a contact sheet.

    Args:
        right_layer, left_layer: hand-model layers.
        out_dir: output directory (created).
        poses: name -> ``(45,)`` absolute right-hand finger pose.
        shapes: name -> leading betas (default :data:`DEFAULT_SHAPES`).
        views: names from :data:`VIEWS`.
        size: ``(width, height)`` of each image.
        renderer: a renderer to reuse (a temporary one otherwise).
        background: see :meth:`Renderer.render`.
        prefix: file-name prefix (``{prefix}_{pose}_{shape}_{view}.png``, ``{prefix}_sheet.png``).

    Returns:
        :class:`Gallery` with the written paths.
    """
    import cv2

    shapes = dict(DEFAULT_SHAPES if shapes is None else shapes)
    unknown = [v for v in views if v not in VIEWS]
    if unknown:
        raise InvalidInputError(f"unknown view(s) {unknown}; choose from {sorted(VIEWS)}")
    if not poses or not shapes or not views:
        raise InvalidInputError("render_hand_gallery needs at least one pose, one shape and one view")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    own_renderer = renderer is None
    renderer = renderer or Renderer()
    gallery = Gallery()
    tiles, labels = [], []
    try:
        for pose_name, pose in poses.items():
            for s, (shape_name, betas) in enumerate(shapes.items()):
                tone = SKIN_TONES[SHAPE_TONES[s % len(SHAPE_TONES)]]
                meshes = hand_pair(right_layer, left_layer, pose, betas, colors=(tone, tone))
                for view in views:
                    result = framed_view(meshes, *size, view_dir=VIEWS[view], renderer=renderer, background=background)
                    path = out_dir / f"{prefix}_{pose_name}_{shape_name}_{view}.png"
                    _write_png(cv2, path, result.rgba)
                    gallery.images.append(path)
                    tiles.append(result.rgba)
                    labels.append(f"{pose_name} / {shape_name} / {view}")
    finally:
        if own_renderer:
            renderer.close()
    sheet = contact_sheet(tiles, columns=len(shapes) * len(views), labels=labels)
    gallery.sheet = out_dir / f"{prefix}_sheet.png"
    _write_png(cv2, gallery.sheet, sheet)
    return gallery


def _write_png(cv2, path: Path, image: np.ndarray) -> None:
    code = cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR
    if not cv2.imwrite(str(path), cv2.cvtColor(image, code)):
        raise OSError(f"could not write {path}; check that the directory is writable")
