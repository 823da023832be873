"""Data and outputs shared by every hand model (MANO and the built-in open hand).

Both hand models are linear-blend-skinned meshes in MANO's format: a template, shape and pose blend shapes, a
16-joint regressor and skinning weights over MANO's kinematic tree. One layer class
(:class:`eanet.hand_model.layer.HandModelLayer`) runs either of them from a :class:`HandModelData`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from torch import Tensor

from eanet.hand_model.skeleton import JOINTS_21_TO_IH26M

__all__ = ["HandModelData", "HandModelOutput", "Side"]

Side = Literal["right", "left"]


@dataclass
class HandModelData:
    """The arrays that define one hand of a skinned hand model, as plain NumPy arrays.

    Attributes:
        name: human-readable model name shown to users (e.g. ``"MANO"`` or ``"eanet open hand (not MANO)"``).
        side: ``"right"`` or ``"left"``.
        v_template: ``(V, 3)`` rest-pose template vertices, metres.
        shapedirs: ``(V, 3, S)`` shape blend shapes (``S >= 10``).
        posedirs: ``(V, 3, 135)`` pose blend shapes over the 15 non-root joints' ``(R - I)`` entries
            (MANO's pickle layout; the layer reshapes it to smplx's ``(135, V * 3)``).
        J_regressor: ``(16, V)`` dense joint regressor (MANO-16 order).
        weights: ``(V, 16)`` skinning weights.
        parents: ``(16,)`` parent index per joint, ``-1`` for the root.
        faces: ``(F, 3)`` triangle indices, counter-clockwise seen from outside.
        hands_mean: ``(45,)`` mean finger pose (axis-angle), added when ``flat_hand_mean=False``.
        tip_vertices: ``(5,)`` fingertip vertices (thumb, index, middle, ring, pinky) used for training targets and
            outputs.
        tip_vertices_eval: ``(5,)`` fingertip vertices the official evaluation uses (differs for MANO: 444).
        is_mano: True only for the licensed MANO model.
        license: one line on where the data comes from and what may be done with it.
        extras: anything model-specific (e.g. joint limits of the open hand), kept out of the layer.
    """

    name: str
    side: Side
    v_template: np.ndarray
    shapedirs: np.ndarray
    posedirs: np.ndarray
    J_regressor: np.ndarray
    weights: np.ndarray
    parents: np.ndarray
    faces: np.ndarray
    hands_mean: np.ndarray
    tip_vertices: tuple[int, int, int, int, int]
    tip_vertices_eval: tuple[int, int, int, int, int]
    is_mano: bool
    license: str = ""
    extras: dict = field(default_factory=dict)

    @property
    def num_verts(self) -> int:
        return int(self.v_template.shape[0])


@dataclass
class HandModelOutput:
    """What a hand-model layer returns for a batch (all in the hand model's own frame, metres, plus ``transl``).

    Attributes:
        verts: ``(B, V, 3)`` vertices.
        joints: ``(B, 21, 3)`` joints in the wrist-first order (MANO-16 joints and five fingertip vertices).
        joints_mano: ``(B, 16, 3)`` the regressed MANO-16 joints.
        rotmats: ``(B, 16, 3, 3)`` local joint rotations actually applied (mean pose included).
        transforms: ``(B, 16, 4, 4)`` posed global joint transforms (skinning matrices before the rest offset).
    """

    verts: Tensor
    joints: Tensor
    joints_mano: Tensor
    rotmats: Tensor
    transforms: Tensor

    @property
    def joints_ih26m(self) -> Tensor:
        """``(B, 21, 3)`` joints in InterHand2.6M's order (tip first, wrist last)."""
        return self.joints[:, list(JOINTS_21_TO_IH26M)]

