"""Heads on the adapted hand features: 2.5D joint positions (paper §3.3; official ``PositionNet``) and the rotation /
shape / camera / relative-translation regressors with the self-joint transformer (paper §3.4-3.5; official
``RotationNet``).

Heads work on *branches*: ``("right", "left")`` in the paper's model, or one shared branch ``("both",)`` that
carries the 42 joints of both hands (right first) in the Table 1 "no separation" ablation. Regressors are always
per hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eanet.hand_model.skeleton import HANDS, NUM_BETAS, NUM_JOINTS, NUM_MANO_JOINTS
from eanet.model.attention import TokenTransformer
from eanet.model.layers import ConvBNReLU, sample_joint_features, soft_argmax_3d

__all__ = ["PositionHead", "RotationHead", "HandRegression", "SHARED_BRANCH"]

#: Name of the single branch of the no-separation ablation.
SHARED_BRANCH = "both"


class PositionHead(nn.Module):
    """1x1 conv to ``J * D`` channels, viewed as a ``(J, D, h, w)`` heatmap (channel = joint * D + depth bin, as
    the official ``PositionNet``'s ``view(B, 21, 8, 8, 8)``), then soft-argmax to ``(x, y, z)`` in heatmap units.

    Args:
        branches: branch names.
        in_channels: channels of each branch feature (``2c`` in the paper's model).
        joints_per_branch: 21 (one hand) or 42 (shared branch).
        heatmap_depth: depth bins ``D``.
    """

    def __init__(self, branches: tuple[str, ...], in_channels: int, joints_per_branch: int, heatmap_depth: int) -> None:
        super().__init__()
        self.joints_per_branch = joints_per_branch
        self.heatmap_depth = heatmap_depth
        self.heatmap = nn.ModuleDict(
            {b: nn.Conv2d(in_channels, joints_per_branch * heatmap_depth, kernel_size=1) for b in branches}
        )

    def forward(self, feats: dict[str, Tensor]) -> dict[str, Tensor]:
        """Branch features ``(B, C, h, w)`` to 2.5D joints ``(B, J_branch, 3)`` (x, y in pixels, z in bins)."""
        out = {}
        for branch, feat in feats.items():
            B, _, h, w = feat.shape
            heatmap = self.heatmap[branch](feat).view(B, self.joints_per_branch, self.heatmap_depth, h, w)  # (B,J,D,h,w)
            out[branch] = soft_argmax_3d(heatmap)  # (B, J, 3)
        return out


@dataclass
class HandRegression:
    """Raw regressor outputs for one hand: ``root_pose_6d`` (B, 6), ``hand_pose_6d`` (B, 90), ``betas`` (B, 10),
    ``cam`` (B, 3)."""

    root_pose_6d: Tensor
    hand_pose_6d: Tensor
    betas: Tensor
    cam: Tensor


class RotationHead(nn.Module):
    """Joint features, self-joint transformer and regressors (official ``RotationNet``, ``module.py:108-158``).

    Per branch: ``joint_proj`` (1x1 conv + BN + ReLU, ``in -> joint_dim``) of the adapted feature, bilinear samples at
    the predicted (x, y) of each joint, then the SJT (positional embedding + blocks, no norm).
    Per hand: ``cat([SJT tokens, 2.5D joints], -1)`` flattened to ``21 * (joint_dim + 3)`` feeds ``root_pose``
    (-> 6) and ``hand_pose`` (-> 15 * 6). ``shape`` (-> 10) and ``cam`` (-> 3) read the global average of the hand's
    branch feature. ``rel_trans`` (Linear, ReLU, Linear -> 3) reads the global average of all branch features
    concatenated (right first).

    Args:
        branches: branch names.
        in_channels: channels of each branch feature.
        joint_dim: joint-feature width (official: 512).
        joints_per_branch: 21, or 42 for the shared branch.
        sjt_depth: SJT blocks (0: no SJT).
        sjt_num_heads: SJT heads.
        mlp_ratio: SJT MLP ratio.
        rel_trans_hidden: hidden width of the relative-translation MLP (official: 512).
    """

    def __init__(
        self,
        branches: tuple[str, ...],
        in_channels: int,
        joint_dim: int,
        joints_per_branch: int,
        sjt_depth: int,
        sjt_num_heads: int,
        mlp_ratio: float,
        rel_trans_hidden: int,
    ) -> None:
        super().__init__()
        self.branches = branches
        self.joint_proj = nn.ModuleDict({b: ConvBNReLU(in_channels, joint_dim) for b in branches})
        self.sjt = (
            nn.ModuleDict(
                {b: TokenTransformer(joint_dim, joints_per_branch, sjt_depth, sjt_num_heads, mlp_ratio) for b in branches}
            )
            if sjt_depth > 0
            else None
        )
        regressor_in = NUM_JOINTS * (joint_dim + 3)
        self.root_pose = nn.ModuleDict({h: nn.Linear(regressor_in, 6) for h in HANDS})
        self.hand_pose = nn.ModuleDict({h: nn.Linear(regressor_in, (NUM_MANO_JOINTS - 1) * 6) for h in HANDS})
        self.shape = nn.ModuleDict({h: nn.Linear(in_channels, NUM_BETAS) for h in HANDS})
        self.cam = nn.ModuleDict({h: nn.Linear(in_channels, 3) for h in HANDS})
        self.rel_trans = nn.ModuleDict(
            {"fc1": nn.Linear(len(branches) * in_channels, rel_trans_hidden), "fc2": nn.Linear(rel_trans_hidden, 3)}
        )

    def _per_hand(self, per_branch: dict[str, Tensor]) -> dict[str, Tensor]:
        if SHARED_BRANCH in per_branch:
            both = per_branch[SHARED_BRANCH]
            return {"right": both[:, :NUM_JOINTS], "left": both[:, NUM_JOINTS:]}  # (B, 21, ...) each
        return per_branch

    def forward(
        self, feats: dict[str, Tensor], joints_hm: dict[str, Tensor]
    ) -> tuple[dict[str, HandRegression], Tensor]:
        """Regress each hand's parameters.

        Args:
            feats: branch features ``(B, C, h, w)``.
            joints_hm: branch 2.5D joints ``(B, J_branch, 3)``; pass them detached, as the official model does.

        Returns:
            ``({"right": HandRegression, "left": HandRegression}, rel_trans (B, 3))``.
        """
        pooled = {b: f.mean(dim=(2, 3)) for b, f in feats.items()}  # (B, C) each
        tokens = {}
        for branch, feat in feats.items():
            joint_feat = sample_joint_features(self.joint_proj[branch](feat), joints_hm[branch][..., :2])  # (B, J, c)
            tokens[branch] = self.sjt[branch](joint_feat) if self.sjt is not None else joint_feat  # (B, J, c)
        tokens = self._per_hand(tokens)
        joints = self._per_hand(joints_hm)

        out = {}
        for hand in HANDS:
            B = tokens[hand].shape[0]
            regressor_in = torch.cat((tokens[hand], joints[hand]), dim=2).reshape(B, -1)  # (B, 21 * (c + 3))
            hand_pooled = pooled[SHARED_BRANCH if SHARED_BRANCH in pooled else hand]  # (B, C)
            out[hand] = HandRegression(
                root_pose_6d=self.root_pose[hand](regressor_in),  # (B, 6)
                hand_pose_6d=self.hand_pose[hand](regressor_in),  # (B, 90)
                betas=self.shape[hand](hand_pooled),  # (B, 10)
                cam=self.cam[hand](hand_pooled),  # (B, 3)
            )
        all_pooled = torch.cat([pooled[b] for b in self.branches], dim=1)  # (B, n_branches * C)
        rel_trans = self.rel_trans["fc2"](F.relu(self.rel_trans["fc1"](all_pooled)))  # (B, 3)
        return out, rel_trans
