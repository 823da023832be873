"""One differentiable layer for every MANO-format hand model: the user's MANO files or the built-in open hand.

:class:`HandModelLayer` turns axis-angle pose and shape coefficients into a posed mesh and the 21 wrist-first
joints, by linear blend skinning (:mod:`eanet.hand_model.lbs`). It is stateless in the sense of smplx's
``MANOLayer`` (``create_*=False``): every parameter comes through :meth:`HandModelLayer.forward`, and the model
data sits in non-persistent buffers, so it follows ``.to(device)`` / ``.to(dtype)`` but never enters a state dict.
That keeps licensed MANO arrays out of every checkpoint.

What the official EANet code does with MANO (``common/utils/human_models.py`` and ``get_coord`` in
``main/model.py``) and how this layer matches it:

* ``flat_hand_mean=False`` (the official setting, and how InterHand2.6M's NeuralAnnot fits are expressed): MANO's
  mean finger pose ``hands_mean`` is added to ``hand_pose`` before Rodrigues.
* The 21 joints are MANO's 16 regressed joints plus five fingertip vertices, in the wrist-first order, regressed
  from the *posed mesh* (``joint_cam = J_regressor_21 @ mesh``); the tips default to 745/317/445/556/673
  (training targets and outputs) and the evaluation uses 444 for the middle tip (the ``Jr`` regressor in the
  official ``data/InterHand26M/InterHand26M.py``, taken from IntagHand's ``apps/eval_interhand.py``).
* ``transl`` is optional; the official model never applies one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from eanet.errors import InvalidInputError
from eanet.geometry import axis_angle_to_rotmat
from eanet.hand_model.base import HandModelData, HandModelOutput
from eanet.hand_model.lbs import KinematicChain, blend_shapes, pose_blend_offsets, regress_points, skin_vertices
from eanet.hand_model.skeleton import MANO16_TIPS_TO_JOINTS_21, NUM_MANO_JOINTS

__all__ = ["HandModelLayer"]


def _autocast_off(device: torch.device):
    """Run skinning in the buffers' dtype even under ``torch.autocast``.

    In bfloat16 a 0.1 m coordinate carries ~0.4 mm of rounding per operation, which is the size of the errors
    the evaluation measures; the layer is cheap, so it always computes at full precision.
    """
    if torch.amp.is_autocast_available(device.type):
        return torch.autocast(device_type=device.type, enabled=False)
    return contextlib.nullcontext()


class HandModelLayer(nn.Module):
    """Skinned hand model: pose + shape -> vertices and joints (MANO's LBS, batched, differentiable).

    Args:
        data: the model's arrays (:func:`eanet.hand_model.load_hand_model_data`).
        flat_hand_mean: False (official): ``hand_pose`` is relative to the model's mean hand, whose pose
            ``hands_mean`` is added before posing. True: ``hand_pose`` is absolute (zero = flat hand).
        tip_vertices: five fingertip vertices (thumb, index, middle, ring, pinky) used for the 21 joints; None takes
            ``data.tip_vertices``.
        dtype: dtype of the float buffers (default: ``torch.get_default_dtype()``); change later with ``.to()``.

    Attributes:
        side, name, is_mano, license: from ``data``.
        num_verts (V), num_joints (16), num_betas (S): sizes.
        faces: ``(F, 3)`` long buffer.
        hands_mean: ``(45,)`` buffer, the model's mean finger pose (added only when ``flat_hand_mean`` is False).
        tip_vertices, tip_vertices_eval: fingertip vertex tuples for outputs/training and for evaluation.

    Buffers (all non-persistent): ``v_template`` ``(V, 3)``, ``shapedirs`` ``(V, 3, S)``, ``posedirs``
    ``(P, V * 3)`` (``P = 135``), ``J_regressor`` ``(16, V)``, ``joints_template`` ``(16, 3)`` and
    ``joints_shapedirs`` ``(16, 3, S)`` (the regressor applied to the template and blend shapes), ``lbs_weights``
    ``(V, 16)``, ``hands_mean``, ``faces``, ``tip_index`` / ``tip_index_eval`` ``(5,)``, ``joints21_order``
    ``(21,)``, ``homogeneous_row`` ``(1, 4)``.
    """

    def __init__(
        self,
        data: HandModelData,
        flat_hand_mean: bool = False,
        tip_vertices: Sequence[int] | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        _validate_data(data)
        dtype = dtype or torch.get_default_dtype()
        V, _, S = data.shapedirs.shape
        J = data.J_regressor.shape[0]
        self.side = data.side
        self.name = data.name
        self.is_mano = bool(data.is_mano)
        self.license = data.license
        self.flat_hand_mean = bool(flat_hand_mean)
        self.num_verts = int(V)
        self.num_joints = int(J)
        self.num_betas = int(S)
        self.tip_vertices = self._check_tips(data.tip_vertices if tip_vertices is None else tip_vertices)
        self.tip_vertices_eval = self._check_tips(data.tip_vertices_eval)

        def buffer(name: str, array: np.ndarray, as_dtype: torch.dtype = dtype) -> None:
            tensor = torch.tensor(np.ascontiguousarray(array), dtype=as_dtype)
            self.register_buffer(name, tensor, persistent=False)  # never in a state dict (MANO license)

        buffer("v_template", data.v_template)  # (V, 3)
        buffer("shapedirs", data.shapedirs)  # (V, 3, S)
        # smplx layout: MANO's (V, 3, P) -> (V*3, P) -> (P, V*3), so pose features multiply from the left.
        buffer("posedirs", data.posedirs.reshape(V * 3, -1).T)  # (P, V*3)
        buffer("J_regressor", data.J_regressor)  # (16, V)
        # Rest joints are linear in betas: J_regressor (v_template + shapedirs beta) = J_t + J_s beta. Folding the
        # regressor into the template and blend shapes once (in float64) skips a (16, V) x (V, 3B) product per call.
        buffer("joints_template", data.J_regressor @ data.v_template)  # (16, 3)
        buffer("joints_shapedirs", np.einsum("jv,vcs->jcs", data.J_regressor, data.shapedirs))  # (16, 3, S)
        buffer("lbs_weights", data.weights)  # (V, 16)
        buffer("hands_mean", data.hands_mean)  # (45,)
        buffer("faces", data.faces, torch.long)  # (F, 3)
        buffer("tip_index", np.asarray(self.tip_vertices), torch.long)  # (5,)
        buffer("tip_index_eval", np.asarray(self.tip_vertices_eval), torch.long)  # (5,)
        # Index/constant tensors live in buffers so forward never copies host data to the device (a sync on GPU).
        buffer("homogeneous_row", np.array([[0.0, 0.0, 0.0, 1.0]]))  # (1, 4)
        buffer("joints21_order", np.asarray(MANO16_TIPS_TO_JOINTS_21), torch.long)  # (21,)
        self.chain = KinematicChain(data.parents.tolist())

    def extra_repr(self) -> str:
        return (
            f"name={self.name!r}, side={self.side!r}, num_verts={self.num_verts}, num_betas={self.num_betas}, "
            f"flat_hand_mean={self.flat_hand_mean}, tip_vertices={self.tip_vertices}"
        )

    # ------------------------------------------------------------------------------------------------------------

    def forward(
        self, global_orient: Tensor, hand_pose: Tensor, betas: Tensor, transl: Tensor | None = None
    ) -> HandModelOutput:
        """Pose and shape the hand.

        Inputs may have any floating dtype; they are cast to the buffers' dtype, which is what the layer computes
        in (autocast is switched off inside).

        Args:
            global_orient: ``(B, 3)`` axis-angle of the root (wrist) joint.
            hand_pose: ``(B, 45)`` axis-angle of the 15 finger joints, MANO-16 order (index, middle, pinky, ring,
                thumb; three each), relative to the mean hand unless ``flat_hand_mean``.
            betas: ``(B, S)`` shape coefficients (S = 10 for MANO).
            transl: optional ``(B, 3)`` translation added to every output point, metres.

        Returns:
            :class:`HandModelOutput` with ``verts`` ``(B, V, 3)``, ``joints`` ``(B, 21, 3)`` (wrist-first),
            ``joints_mano`` ``(B, 16, 3)`` (regressed from the posed mesh), ``rotmats`` ``(B, 16, 3, 3)`` (local,
            mean included) and ``transforms`` ``(B, 16, 4, 4)`` (posed global joint frames; their translations
            are the kinematic-chain joint positions, which is what ``smplx.MANO`` returns as joints).

        Raises:
            InvalidInputError: a tensor has the wrong shape, a non-floating dtype, or sits on another device.
        """
        self._check_inputs(global_orient=global_orient, hand_pose=hand_pose, betas=betas, transl=transl)
        B, J = global_orient.shape[0], self.num_joints
        with _autocast_off(self.v_template.device):
            dtype = self.v_template.dtype
            hand_pose = hand_pose.to(dtype)
            if not self.flat_hand_mean:
                hand_pose = hand_pose + self.hands_mean  # (B, 45): MANO poses are relative to the mean hand
            pose = torch.cat([global_orient.to(dtype), hand_pose], dim=1).view(B, J, 3)  # (B, 16, 3)
            rotmats = axis_angle_to_rotmat(pose)  # (B, 16, 3, 3)
            return self._skin(rotmats, betas.to(dtype), None if transl is None else transl.to(dtype))

    def forward_rotmats(self, rotmats: Tensor, betas: Tensor, transl: Tensor | None = None) -> HandModelOutput:
        """Pose from rotation matrices instead of axis-angle (skips Rodrigues; the mean hand is NOT added).

        Useful when a network predicts rotations directly (e.g. 6D). With ``flat_hand_mean=False`` the mean pose
        composes in axis-angle space (``R(hand_pose + hands_mean)``), so such rotations must already include it.

        Args:
            rotmats: ``(B, 16, 3, 3)`` local rotations, root first, MANO-16 order.
            betas: ``(B, S)``.
            transl: optional ``(B, 3)``.
        """
        self._check_inputs(rotmats=rotmats, betas=betas, transl=transl)
        with _autocast_off(self.v_template.device):
            dtype = self.v_template.dtype
            return self._skin(rotmats.to(dtype), betas.to(dtype), None if transl is None else transl.to(dtype))

    def regress_joints(self, verts: Tensor, tip_vertices: Sequence[int] | None = None) -> Tensor:
        """The 21 wrist-first joints of a mesh: MANO-16 regressed joints plus five fingertip vertices.

        Args:
            verts: ``(B, V, 3)`` vertices of this model (any frame: the regression is linear and its rows sum to 1
                for MANO, so it commutes with translation).
            tip_vertices: five fingertip vertices; None uses this layer's ``tip_vertices``. Pass
                ``layer.tip_vertices_eval`` for the official evaluation (middle tip 444).

        Returns:
            ``(B, 21, 3)``.
        """
        if not isinstance(verts, Tensor) or verts.dim() != 3 or verts.shape[1:] != (self.num_verts, 3):
            got = tuple(verts.shape) if isinstance(verts, Tensor) else type(verts).__name__
            raise InvalidInputError(f"verts must be (B, {self.num_verts}, 3), got {got}")
        tips = self.tip_vertices if tip_vertices is None else self._check_tips(tip_vertices)
        if tips == self.tip_vertices:
            tip_index = self.tip_index
        elif tips == self.tip_vertices_eval:
            tip_index = self.tip_index_eval
        else:
            tip_index = torch.tensor(tips, dtype=torch.long, device=verts.device)  # (5,)
        regressor = self.J_regressor.to(verts.dtype)
        return self._joints_21(verts, regress_points(regressor, verts), tip_index)

    # ------------------------------------------------------------------------------------------------------------

    def _skin(self, rotmats: Tensor, betas: Tensor, transl: Tensor | None) -> HandModelOutput:
        """LBS (MANO eqs. 1-4) from local rotations ``(B, 16, 3, 3)``, betas ``(B, S)``, transl ``(B, 3)``."""
        B, J = rotmats.shape[:2]
        v_shaped = self.v_template + blend_shapes(betas, self.shapedirs)  # (B, V, 3)
        joints_rest = self.joints_template + blend_shapes(betas, self.joints_shapedirs)  # (B, 16, 3) = J_reg v_shaped
        v_posed = v_shaped + pose_blend_offsets(rotmats, self.posedirs)  # (B, V, 3)
        rot_world, joints_world = self.chain(rotmats, joints_rest)  # (B, 16, 3, 3), (B, 16, 3)
        verts = skin_vertices(v_posed, self.lbs_weights, rot_world, joints_world, joints_rest)  # (B, V, 3)
        # Joints are regressed from the posed mesh, as the official model and InterHand2.6M's regressor do; they
        # differ from the kinematic-chain positions by the pose blend shapes and skinning (~mm).
        joints_mano = regress_points(self.J_regressor, verts)  # (B, 16, 3)
        joints = self._joints_21(verts, joints_mano, self.tip_index)  # (B, 21, 3)
        if transl is not None:
            offset = transl.unsqueeze(1)  # (B, 1, 3)
            verts, joints, joints_mano = verts + offset, joints + offset, joints_mano + offset
            joints_world = joints_world + offset
        top = torch.cat([rot_world, joints_world.unsqueeze(-1)], dim=-1)  # (B, 16, 3, 4)
        bottom = self.homogeneous_row.expand(B, J, 1, 4)  # (B, 16, 1, 4)
        transforms = torch.cat([top, bottom], dim=-2)  # (B, 16, 4, 4)
        return HandModelOutput(
            verts=verts, joints=joints, joints_mano=joints_mano, rotmats=rotmats, transforms=transforms
        )

    def _joints_21(self, verts: Tensor, joints_mano: Tensor, tips: Tensor) -> Tensor:
        tip_points = verts.index_select(1, tips)  # (B, 5, 3) thumb, index, middle, ring, pinky
        return torch.cat([joints_mano, tip_points], dim=1).index_select(1, self.joints21_order)  # (B, 21, 3)

    def _check_tips(self, tips: Sequence[int]) -> tuple[int, int, int, int, int]:
        values = tuple(int(t) for t in tips)
        if len(values) != 5 or any(not 0 <= t < self.num_verts for t in values):
            raise InvalidInputError(
                f"tip_vertices must be 5 vertex indices in 0..{self.num_verts - 1} (thumb, index, middle, ring, "
                f"pinky), got {tuple(tips)}"
            )
        return values  # type: ignore[return-value]

    def _check_inputs(self, **tensors: Tensor | None) -> None:
        """Check shapes, dtypes, devices and a common batch size. ``transl=None`` is allowed."""
        expected = {
            "global_orient": ((3,), "axis-angle of the root joint"),
            "hand_pose": ((3 * (self.num_joints - 1),), "axis-angle"),
            "betas": ((self.num_betas,), "shape coefficients"),
            "transl": ((3,), "translation"),
            "rotmats": ((self.num_joints, 3, 3), "local rotation matrices"),
        }
        device = self.v_template.device
        first: Tensor | None = None
        for name, x in tensors.items():
            if x is None and name == "transl":
                continue
            tail, what = expected[name]
            want = "(B, " + ", ".join(str(t) for t in tail) + ")"
            if not isinstance(x, Tensor):
                raise InvalidInputError(f"{name} must be a torch.Tensor of shape {want} {what}, got {type(x).__name__}")
            if x.dim() != 1 + len(tail) or tuple(x.shape[1:]) != tail:
                hint = f"; reshape it with {name}.reshape(B, {tail[0]})" if x.numel() and name == "hand_pose" else ""
                raise InvalidInputError(f"{name} must be {want} {what}, got {tuple(x.shape)}{hint}")
            if not x.is_floating_point():
                raise InvalidInputError(f"{name} must be a floating-point tensor, got {x.dtype}")
            if x.device != device:
                raise InvalidInputError(
                    f"{name} is on {x.device} but the {self.name} layer's buffers are on {device}; move one of them "
                    "(layer.to(device) or tensor.to(device))"
                )
            # Compare sizes pairwise (no set/hash of sizes): under torch.export a hashed symbolic size would be
            # specialised to the example batch, and under jit.trace sizes are tensors.
            if first is None:
                first = x
            elif x.shape[0] != first.shape[0]:
                sizes = ", ".join(f"{k} {v.shape[0]}" for k, v in tensors.items() if v is not None)
                raise InvalidInputError(f"inputs must share the batch size B, got {sizes}")


def _validate_data(data: HandModelData) -> None:
    """Shapes of a :class:`HandModelData` must agree with each other (V vertices, J joints, S betas)."""
    who = f"{data.name} ({data.side})"

    def fail(key: str, want: str, arr: np.ndarray) -> None:
        raise InvalidInputError(f"{who}: {key} must be {want}, got {getattr(arr, 'shape', type(arr).__name__)}")

    for key in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "parents", "faces", "hands_mean"):
        if not isinstance(getattr(data, key), np.ndarray):
            fail(key, "a NumPy array", getattr(data, key))
    if data.side not in ("right", "left"):
        raise InvalidInputError(f"{who}: side must be 'right' or 'left', got {data.side!r}")
    V = data.v_template.shape[0]
    J = data.J_regressor.shape[0] if data.J_regressor.ndim == 2 else -1
    if J != NUM_MANO_JOINTS:
        fail("J_regressor", f"({NUM_MANO_JOINTS}, V) (MANO's 16-joint tree)", data.J_regressor)
    checks = {
        "v_template": (data.v_template, (V, 3)),
        "shapedirs": (data.shapedirs, (V, 3, None)),
        "posedirs": (data.posedirs, (V, 3, 9 * (J - 1))),
        "J_regressor": (data.J_regressor, (J, V)),
        "weights": (data.weights, (V, J)),
        "parents": (data.parents, (J,)),
        "faces": (data.faces, (None, 3)),
        "hands_mean": (data.hands_mean, (3 * (J - 1),)),
    }
    for key, (arr, shape) in checks.items():
        if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape, strict=True)):
            fail(key, "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")", arr)
    if data.faces.size and (data.faces.min() < 0 or data.faces.max() >= V):
        raise InvalidInputError(f"{who}: faces index vertices outside 0..{V - 1}")
    try:
        KinematicChain(data.parents.tolist())
    except ValueError as err:
        raise InvalidInputError(f"{who}: {err}") from err
