"""Typed outputs shared by the network, the losses, evaluation and inference.

Dimension names used in shape comments and docstrings across the package:
    B  batch                       J  joints per hand (21, wrist-first order unless a name says ``ih26m``)
    V  vertices per hand (778)     C  channels
    h, w  feature-map size         N  tokens
    D  heatmap depth bins          S  shape coefficients (10)

Handedness: names say ``right``/``left`` in full. Two-hand arrays stack right first, then left.
Frames are suffixes: ``_cam`` camera-aligned metres (wrist-relative unless stated), ``_hm`` heatmap units of the
2.5D heatmap (x, y in feature-map pixels 0..w-1, z in depth bins 0..D-1), ``_model`` the hand model's own frame,
``_img`` image pixels.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import Tensor

__all__ = ["HandPrediction", "TwoHandPrediction", "tensor_fields_map"]


def tensor_fields_map(obj: Any, fn) -> Any:
    """Apply ``fn`` to every tensor field of a dataclass (recursing into nested dataclasses); keep other fields."""
    changes = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, Tensor):
            changes[f.name] = fn(value)
        elif hasattr(value, "__dataclass_fields__"):
            changes[f.name] = tensor_fields_map(value, fn)
        else:
            changes[f.name] = value
    return type(obj)(**changes)


@dataclass
class HandPrediction:
    """One hand's prediction for a batch.

    Attributes:
        root_pose_6d: ``(B, 6)`` root (global) rotation, 6D, as regressed.
        hand_pose_6d: ``(B, 90)`` 15 finger rotations, 6D, as regressed.
        root_pose_aa: ``(B, 3)`` root rotation, axis-angle.
        hand_pose_aa: ``(B, 45)`` finger rotations, axis-angle, relative to the hand model's mean pose when the
            hand model uses ``flat_hand_mean=False`` (the official setting).
        pose_rotmat: ``(B, 16, 3, 3)`` root then finger rotations as matrices (MANO joint order), as regressed:
            like ``hand_pose_aa``, the finger rotations exclude the mean pose when ``flat_hand_mean=False``.
        betas: ``(B, 10)`` shape coefficients.
        cam: ``(B, 3)`` weak-perspective camera ``(s, tx, ty)`` in heatmap pixels (per metre for ``s``).
        joints_hm: ``(B, 21, 3)`` 2.5D joints from the heatmap soft-argmax, heatmap units.
        joints_cam: ``(B, 21, 3)`` hand-model joints, wrist-relative, metres.
        verts_cam: ``(B, V, 3)`` hand-model vertices, wrist-relative, metres.
        root_model: ``(B, 3)`` wrist position in the hand model's own frame (the frame the projection uses).
        joints_proj_hm: ``(B, 21, 2)`` weak-perspective projection of the joints, heatmap pixels.
    """

    root_pose_6d: Tensor
    hand_pose_6d: Tensor
    root_pose_aa: Tensor
    hand_pose_aa: Tensor
    pose_rotmat: Tensor
    betas: Tensor
    cam: Tensor
    joints_hm: Tensor
    joints_cam: Tensor
    verts_cam: Tensor
    root_model: Tensor
    joints_proj_hm: Tensor

    @property
    def pose_aa(self) -> Tensor:
        """``(B, 48)`` root and finger axis-angle, concatenated as MANO's ``pose`` vector."""
        return torch.cat([self.root_pose_aa, self.hand_pose_aa], dim=1)


@dataclass
class TwoHandPrediction:
    """Both hands and their relative placement.

    Attributes:
        right: the right hand.
        left: the left hand.
        rel_trans: ``(B, 3)`` left wrist minus right wrist, camera frame, metres.
    """

    right: HandPrediction
    left: HandPrediction
    rel_trans: Tensor

    def hands(self) -> Iterator[tuple[str, HandPrediction]]:
        yield "right", self.right
        yield "left", self.left

    def to(self, *args: Any, **kwargs: Any) -> TwoHandPrediction:
        return tensor_fields_map(self, lambda t: t.to(*args, **kwargs))

    def detach(self) -> TwoHandPrediction:
        return tensor_fields_map(self, lambda t: t.detach())
