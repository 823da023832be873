"""What the evaluator reads from a test batch, in one place.

A batch is the dict a ``DataLoader`` makes from ``eanet.data`` samples (see ``eanet/data/sample.py``). The evaluator
only needs the ground truth listed in :class:`EvalTargets`; :func:`targets_from_batch` pulls it out, checks shapes,
and says which key is missing and why it is needed when one is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from eanet.errors import InvalidInputError

__all__ = ["EvalTargets", "targets_from_batch", "BATCH_KEYS"]

#: Batch keys read by the evaluator (the data helper's sample format). Shapes are per sample.
BATCH_KEYS: dict[str, str] = {
    "hand_type": "hand_type",  # () int: 0 right, 1 left, 2 interacting
    "annot_id": "annot_id",  # () int: annotation id (DDP de-duplication, per-sample records)
    "seq_id": "seq_id",  # () int: index into the dataset's ``seq_names`` (per-sequence results, Figure 9)
    "verts_cam": "mano_verts_cam",  # (2, V, 3) GT meshes, camera frame, metres (zeros where no fit)
    "mesh_valid": "mano_valid",  # (2,) GT fit present per hand
    "joints_cam": "joints_cam",  # (42, 3) annotated joints, wrist-first order, metres
    "joints_valid": "joints_valid",  # (42,) 3D validity, wrist-first order
    "joint_trunc": "joints_valid_2d_ih26m",  # (42,) data-JSON validity, wrist-ANDed, IH2.6M order (official mask)
    "rel_trans": "rel_trans",  # (3,) left wrist - right wrist, camera frame, metres
    "rel_trans_valid": "rel_trans_valid",  # () both wrists valid
    "mano_pose": "mano_pose_aa",  # (2, 48) GT MANO pose (root + fingers, axis-angle, relative to the mean hand)
    "joints_hm": "joints_hm",  # (42, 3) annotated joints in heatmap units (x, y of the input crop), wrist-first
    "joints_valid_2d": "joints_valid_2d",  # (42,) 2D annotation valid (data JSON, wrist-ANDed), wrist-first
}


@dataclass
class EvalTargets:
    """Ground truth of one batch, as tensors on one device (None where the dataset has no such field).

    Attributes:
        hand_type: ``(B,)`` long, 0 right, 1 left, 2 interacting.
        annot_id: ``(B,)`` long, or None (then the evaluator numbers samples itself; single process only).
        seq_id: ``(B,)`` long sequence index (into the dataset's ``seq_names``), or None.
        verts_cam: ``(B, 2, V, 3)`` GT meshes, metres.
        mesh_valid: ``(B, 2)`` bool.
        joints_cam: ``(B, 42, 3)`` annotated joints, wrist-first, metres; None for datasets without them (HIC).
        joints_valid: ``(B, 42)`` bool, wrist-first.
        joint_trunc_ih26m: ``(B, 42)`` bool, InterHand2.6M order.
        rel_trans: ``(B, 3)`` metres.
        rel_trans_valid: ``(B,)`` bool.
        mano_pose: ``(B, 2, 48)``.
        joints_hm: ``(B, 42, 3)`` annotated joints in heatmap units, wrist-first (x, y: the input crop scaled to the
            heatmap grid); None when absent.
        joints_valid_2d: ``(B, 42)`` bool, the 2D annotation is valid, wrist-first.
    """

    hand_type: Tensor
    annot_id: Tensor | None
    seq_id: Tensor | None
    verts_cam: Tensor | None
    mesh_valid: Tensor | None
    joints_cam: Tensor | None
    joints_valid: Tensor | None
    joint_trunc_ih26m: Tensor | None
    rel_trans: Tensor | None
    rel_trans_valid: Tensor | None
    mano_pose: Tensor | None
    joints_hm: Tensor | None = None
    joints_valid_2d: Tensor | None = None

    @property
    def batch_size(self) -> int:
        return int(self.hand_type.shape[0])


def _tensor(batch: Mapping[str, Any], field: str, device: torch.device, shape: tuple[int | None, ...]) -> Tensor | None:
    key = BATCH_KEYS[field]
    if key not in batch:
        return None
    value = batch[key]
    if not isinstance(value, Tensor):
        value = torch.as_tensor(value)
    while value.dim() > len(shape) and value.shape[-1] == 1:  # validity flags stored as (..., 1)
        value = value.squeeze(-1)
    if value.dim() != len(shape) or any(s is not None and s != d for s, d in zip(shape, value.shape, strict=True)):
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise InvalidInputError(
            f"batch[{key!r}] has shape {tuple(value.shape)}, expected {want}; the evaluator expects the test batch "
            "format of eanet.data (see eanet/eval/targets.py)"
        )
    return value.to(device)


def targets_from_batch(batch: Mapping[str, Any], device: torch.device | str) -> EvalTargets:
    """Extract and validate the evaluator's ground truth from a collated test batch.

    Args:
        batch: collated batch dict.
        device: where the tensors go (the predictions' device).

    Raises:
        InvalidInputError: a key has the wrong shape, or ``hand_type`` is missing.
    """
    device = torch.device(device)
    hand_type = _tensor(batch, "hand_type", device, (None,))
    if hand_type is None:
        raise InvalidInputError(
            f"the batch has no {BATCH_KEYS['hand_type']!r} (0 right, 1 left, 2 interacting): the evaluator needs it "
            "to split single-hand and interacting images; use a test split of eanet.data"
        )
    b = int(hand_type.shape[0])
    hand_type = hand_type.long()
    if bool(((hand_type < 0) | (hand_type > 2)).any()):
        raise InvalidInputError(f"batch['hand_type'] holds {hand_type.unique().tolist()}; allowed: 0, 1, 2")
    seq_id = _tensor(batch, "seq_id", device, (b,))

    def as_bool(t: Tensor | None) -> Tensor | None:
        return None if t is None else t.bool()

    annot_id = _tensor(batch, "annot_id", device, (b,))
    verts = _tensor(batch, "verts_cam", device, (b, 2, None, 3))
    mesh_valid = _tensor(batch, "mesh_valid", device, (b, 2))
    if verts is not None and mesh_valid is None:
        raise InvalidInputError(
            f"the batch has GT meshes {BATCH_KEYS['verts_cam']!r} but no per-hand fit flags {BATCH_KEYS['mesh_valid']!r}"
            " (B, 2): without them a missing fit cannot be told from a real one"
        )
    joints = _tensor(batch, "joints_cam", device, (b, 42, 3))
    joints_valid = _tensor(batch, "joints_valid", device, (b, 42))
    trunc = _tensor(batch, "joint_trunc", device, (b, 42))
    rel = _tensor(batch, "rel_trans", device, (b, 3))
    rel_valid = _tensor(batch, "rel_trans_valid", device, (b,))
    pose = _tensor(batch, "mano_pose", device, (b, 2, 48))
    joints_hm = _tensor(batch, "joints_hm", device, (b, 42, 3))
    joints_valid_2d = _tensor(batch, "joints_valid_2d", device, (b, 42))
    return EvalTargets(
        hand_type=hand_type,
        annot_id=None if annot_id is None else annot_id.long(),
        seq_id=None if seq_id is None else seq_id.long(),
        verts_cam=verts,
        mesh_valid=as_bool(mesh_valid),
        joints_cam=joints,
        joints_valid=as_bool(joints_valid),
        joint_trunc_ih26m=as_bool(trunc),
        rel_trans=rel,
        rel_trans_valid=as_bool(rel_valid),
        mano_pose=pose,
        joints_hm=joints_hm,
        joints_valid_2d=as_bool(joints_valid_2d),
    )
