"""Builders for evaluation tests: one-hot joint regressors (joint = one vertex), predictions and test batches.

A uniquely named module (not ``conftest``), so spawned test processes can import it too.

With a one-hot regressor every regressed joint *is* a vertex, so moving chosen vertices moves chosen joints and
the expected errors can be written down by hand.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from eanet.eval.evaluator import HandRegressors
from eanet.hand_model.skeleton import (
    MANO16_TIPS_TO_JOINTS_21,
    MANO_TIP_VERTICES_EVAL,
    MANO_TIP_VERTICES_TRAIN,
)
from eanet.structures import HandPrediction, TwoHandPrediction

V = 778


def joint_vertex(j: int, tips=MANO_TIP_VERTICES_EVAL) -> int:
    """The vertex that wrist-first joint ``j`` equals under the one-hot regressor."""
    idx = MANO16_TIPS_TO_JOINTS_21[j]
    return idx if idx < 16 else tips[idx - 16]


def onehot_model_data(side: str) -> SimpleNamespace:
    j16 = np.zeros((16, V))
    j16[np.arange(16), np.arange(16)] = 1.0  # MANO joint k = vertex k
    sign = np.array([1.0, -1.0, -1.0]) if side == "left" else np.ones(3)
    hands_mean = (np.linspace(-0.3, 0.3, 45).reshape(15, 3) * sign).reshape(45)
    return SimpleNamespace(
        name="one-hot test hand",
        J_regressor=j16,
        tip_vertices=MANO_TIP_VERTICES_TRAIN,
        tip_vertices_eval=MANO_TIP_VERTICES_EVAL,
        hands_mean=hands_mean,
    )


def onehot_regressors() -> HandRegressors:
    return HandRegressors.from_model_data(onehot_model_data("right"), onehot_model_data("left"))


def random_gt_verts(b: int, seed: int = 0, offset=(0.05, -0.02, 0.6)) -> torch.Tensor:
    """``(B, 2, V, 3)`` GT meshes, metres, camera frame (placed ~0.6 m in front of the camera)."""
    g = torch.Generator().manual_seed(seed)
    verts = torch.randn(b, 2, V, 3, generator=g, dtype=torch.float64) * 0.03
    return verts + torch.tensor(offset, dtype=torch.float64)


def regress(verts: torch.Tensor, tips=MANO_TIP_VERTICES_EVAL) -> torch.Tensor:
    """``(B, 2, 21, 3)`` one-hot regressed joints."""
    idx = [joint_vertex(j, tips) for j in range(21)]
    return verts[:, :, idx]


def make_prediction(verts: torch.Tensor, joints: torch.Tensor | None = None, rel_trans=None) -> TwoHandPrediction:
    """A TwoHandPrediction whose meshes are ``verts`` made wrist-relative (``(B, 2, V, 3)`` metres)."""
    b = verts.shape[0]
    if joints is None:
        joints = regress(verts, MANO_TIP_VERTICES_TRAIN)
    wrist = joints[:, :, :1]  # (B, 2, 1, 3)
    verts_rel = verts - wrist
    joints_rel = joints - wrist
    if rel_trans is None:
        rel_trans = torch.zeros(b, 3, dtype=verts.dtype)

    def hand(h: int) -> HandPrediction:
        z = torch.zeros(b, 3, dtype=verts.dtype)
        return HandPrediction(
            root_pose_6d=torch.zeros(b, 6),
            hand_pose_6d=torch.zeros(b, 90),
            root_pose_aa=z,
            hand_pose_aa=torch.zeros(b, 45),
            pose_rotmat=torch.eye(3).expand(b, 16, 3, 3),
            betas=torch.zeros(b, 10),
            cam=z,
            joints_hm=torch.zeros(b, 21, 3),
            joints_cam=joints_rel[:, h],
            verts_cam=verts_rel[:, h],
            root_model=z,
            joints_proj_hm=torch.zeros(b, 21, 2),
        )

    return TwoHandPrediction(right=hand(0), left=hand(1), rel_trans=torch.as_tensor(rel_trans, dtype=verts.dtype))


def make_batch(
    gt_verts: torch.Tensor,
    hand_type,
    *,
    mano_valid=None,
    trunc_ih26m=None,
    joints_cam=None,
    joints_valid=None,
    rel_trans=None,
    rel_trans_valid=None,
    annot_id=None,
    seq_id=None,
    mano_pose=None,
) -> dict:
    """A test batch in the data contract's format (``eanet/data/sample.py``); all joints valid by default."""
    b = gt_verts.shape[0]
    hand_type = torch.as_tensor(hand_type, dtype=torch.int64)
    if mano_valid is None:
        mano_valid = torch.ones(b, 2)
    if trunc_ih26m is None:
        trunc_ih26m = torch.ones(b, 42)
    if joints_cam is None:
        joints_cam = regress(gt_verts, MANO_TIP_VERTICES_TRAIN)  # absolute
        joints_cam = (joints_cam - joints_cam[:, :, :1]).reshape(b, 42, 3)  # wrist-relative, as the data contract
    if joints_valid is None:
        joints_valid = torch.ones(b, 42)
    if rel_trans is None:
        roots = regress(gt_verts, MANO_TIP_VERTICES_TRAIN)[:, :, 0]
        rel_trans = roots[:, 1] - roots[:, 0]
    if rel_trans_valid is None:
        rel_trans_valid = torch.ones(b)
    batch = {
        "hand_type": hand_type,
        "annot_id": torch.as_tensor(annot_id if annot_id is not None else np.arange(b) + 1000, dtype=torch.int64),
        "seq_id": torch.as_tensor(seq_id if seq_id is not None else np.zeros(b), dtype=torch.int64),
        "mano_verts_cam": gt_verts.float(),
        "mano_valid": torch.as_tensor(mano_valid, dtype=torch.float32),
        "joints_cam": torch.as_tensor(joints_cam, dtype=torch.float32),
        "joints_valid": torch.as_tensor(joints_valid, dtype=torch.float32),
        "joints_valid_2d_ih26m": torch.as_tensor(trunc_ih26m, dtype=torch.float32),
        "rel_trans": torch.as_tensor(rel_trans, dtype=torch.float32),
        "rel_trans_valid": torch.as_tensor(rel_trans_valid, dtype=torch.float32),
    }
    if mano_pose is not None:
        batch["mano_pose_aa"] = torch.as_tensor(mano_pose, dtype=torch.float32)
    return batch
