"""Linear blend skinning for MANO-format hand models, as pure batched functions plus a kinematic-chain module.

The math is MANO's (Romero, Tzionas, Black, SIGGRAPH Asia 2017, eqs. 1-4, the SMPL formulation of Loper et al.
2015) and computes what ``smplx.lbs.lbs`` computes, so outputs agree with ``smplx.MANO`` to float precision
(tested in ``tests/hand_model/test_layer.py``). Two things differ from smplx's code, not its numbers:

* The kinematic chain runs one batched matrix product per tree depth (MANO's tree has depth 3) instead of one per
  joint, and keeps rotations (3x3) and translations apart instead of multiplying 4x4 matrices.
* Skinning blends 3x4 ``[R | t]`` transforms instead of 4x4 homogeneous ones.

Shapes: ``B`` batch, ``V`` vertices, ``J`` joints of the kinematic tree (16 for MANO), ``S`` shape coefficients,
``P = 9 (J - 1)`` pose-blend features.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["blend_shapes", "pose_blend_offsets", "regress_points", "skin_vertices", "KinematicChain", "tree_levels"]


def blend_shapes(betas: Tensor, shapedirs: Tensor) -> Tensor:
    """Shape blend offsets ``B_S(beta) = sum_s beta_s * S_s`` (MANO eq. 2).

    Args:
        betas: ``(B, S)`` shape coefficients.
        shapedirs: ``(V, 3, S)`` shape blend shapes.

    Returns:
        ``(B, V, 3)`` per-vertex offsets.
    """
    V, _, S = shapedirs.shape
    offsets = betas @ shapedirs.reshape(V * 3, S).T  # (B, V*3)
    return offsets.view(betas.shape[0], V, 3)  # (B, V, 3)


def pose_blend_offsets(rotmats: Tensor, posedirs: Tensor) -> Tensor:
    """Pose-corrective offsets ``B_P(theta) = sum_k (R_k(theta) - I)_flat * P_k`` over the non-root joints.

    The root is skipped because a global rotation must not deform the hand (MANO eq. 3, SMPL eq. 9); subtracting
    the identity makes the rest pose give zero offsets.

    Args:
        rotmats: ``(B, J, 3, 3)`` local joint rotations, root first.
        posedirs: ``(P, V * 3)`` pose blend shapes, ``P = 9 (J - 1)``, rows ordered joint-major then row-major over
            the 3x3 entries (smplx's layout: MANO's ``(V, 3, P)`` reshaped to ``(V * 3, P)`` and transposed).

    Returns:
        ``(B, V, 3)`` per-vertex offsets.
    """
    B, J = rotmats.shape[:2]
    V = posedirs.shape[1] // 3
    eye = torch.eye(3, dtype=rotmats.dtype, device=rotmats.device)
    pose_feature = (rotmats[:, 1:] - eye).reshape(B, (J - 1) * 9)  # (B, P)
    return (pose_feature @ posedirs).view(B, V, 3)  # (B, V, 3)


def regress_points(regressor: Tensor, verts: Tensor) -> Tensor:
    """Linear regression of points from vertices: ``joints[b, j] = sum_v regressor[j, v] * verts[b, v]``.

    Args:
        regressor: ``(J, V)``.
        verts: ``(B, V, 3)``.

    Returns:
        ``(B, J, 3)``.
    """
    # einsum lowers to one (J, V) x (V, B*3) GEMM; a broadcast matmul would run B small ones (4x slower on CPU).
    return torch.einsum("jv,bvc->bjc", regressor, verts)  # (B, J, 3)


def skin_vertices(
    verts: Tensor, weights: Tensor, rot_world: Tensor, joints_world: Tensor, joints_rest: Tensor
) -> Tensor:
    """Linear blend skinning (MANO eq. 1): ``v' = sum_j w_vj (R_j v + t_j - R_j J_j)``.

    ``R_j, t_j`` map joint ``j``'s frame to the posed world; subtracting ``R_j J_j`` (``J_j`` the rest joint)
    first moves the rest vertex into the joint's frame, which is smplx's ``rel_transforms``.

    Args:
        verts: ``(B, V, 3)`` rest-pose vertices with shape and pose blend offsets applied.
        weights: ``(V, J)`` skinning weights.
        rot_world: ``(B, J, 3, 3)`` posed global joint rotations.
        joints_world: ``(B, J, 3)`` posed joint positions.
        joints_rest: ``(B, J, 3)`` rest-pose joint positions.

    Returns:
        ``(B, V, 3)`` posed vertices.
    """
    B, J = rot_world.shape[:2]
    V = verts.shape[1]
    offset = joints_world - (rot_world @ joints_rest.unsqueeze(-1)).squeeze(-1)  # (B, J, 3): t_j - R_j J_j
    transforms = torch.cat([rot_world, offset.unsqueeze(-1)], dim=-1)  # (B, J, 3, 4): [R_j | t_j - R_j J_j]
    # Blend the transforms, not the transformed vertices (12 numbers per vertex instead of J posed copies). A
    # broadcast matmul yields (B, V, 12) contiguous; einsum's single GEMM yields (V, B*12) and the transposing
    # copy before the next product costs more than it saves (measured on CPU, B = 64 and 512).
    blended = torch.matmul(weights, transforms.reshape(B, J, 12))  # (B, V, 12): sum_j w_vj [.]_j
    verts_h = torch.cat([verts, verts.new_ones(B, V, 1)], dim=-1)  # (B, V, 4) homogeneous
    return (blended.view(B, V, 3, 4) @ verts_h.unsqueeze(-1)).squeeze(-1)  # (B, V, 3)


def tree_levels(parents: Sequence[int]) -> list[list[int]]:
    """Group the joints of a kinematic tree by depth: ``[[root], [children of root], ...]``.

    Args:
        parents: parent index per joint; the root (index 0) has ``-1`` and every other joint's parent has a smaller
            index (MANO's ``kintree_table`` satisfies this).

    Raises:
        ValueError: ``parents`` is not such a tree.
    """
    parents = [int(p) for p in parents]
    if not parents or parents[0] != -1 or any(not 0 <= p < i for i, p in enumerate(parents) if i > 0):
        raise ValueError(f"parents must have -1 at index 0 and parents[i] < i elsewhere, got {parents}")
    depth = [0] * len(parents)
    for i in range(1, len(parents)):
        depth[i] = depth[parents[i]] + 1
    return [[i for i in range(len(parents)) if depth[i] == d] for d in range(max(depth) + 1)]


class KinematicChain(nn.Module):
    """Forward kinematics of a joint tree, one batched product per tree depth.

    Joints are processed in depth-major order so each depth is a contiguous slice; a joint's parent sits in the
    previous depth's slice at a precomputed position. For MANO (16 joints, depth 3) the whole chain costs three
    batched ``(B, 5, 3, 3)`` products instead of fifteen sequential ones, which matters on GPUs where each small
    kernel launch dominates.

    The index buffers are non-persistent: they follow ``.to(device)`` but never enter a state dict.

    Args:
        parents: parent index per joint, ``-1`` for the root at index 0, ``parents[i] < i`` otherwise.
    """

    def __init__(self, parents: Sequence[int]) -> None:
        super().__init__()
        levels = tree_levels(parents)
        order = [j for level in levels for j in level]  # depth-major joint order
        position = {j: i for i, j in enumerate(order)}
        self.parents = tuple(int(p) for p in parents)
        self.bounds: list[tuple[int, int]] = []
        start = 0
        parent_in_prev = [-1] * len(order)  # for each slot in depth order: its parent's slot in the previous level
        for d, level in enumerate(levels):
            self.bounds.append((start, start + len(level)))
            if d > 0:
                prev_start = self.bounds[d - 1][0]
                for j in level:
                    parent_in_prev[position[j]] = position[self.parents[j]] - prev_start
            start += len(level)
        inverse = [position[j] for j in range(len(order))]
        self.register_buffer("order", torch.tensor(order, dtype=torch.long), persistent=False)
        self.register_buffer("inverse_order", torch.tensor(inverse, dtype=torch.long), persistent=False)
        self.register_buffer("parent_slot", torch.tensor(parent_in_prev, dtype=torch.long), persistent=False)
        # parents[1:] as a tensor, to gather each non-root joint's parent position in one call.
        self.register_buffer("parents_tail", torch.tensor(self.parents[1:], dtype=torch.long), persistent=False)

    @property
    def num_joints(self) -> int:
        return len(self.parents)

    def forward(self, rotmats: Tensor, joints_rest: Tensor) -> tuple[Tensor, Tensor]:
        """Pose the skeleton.

        Args:
            rotmats: ``(B, J, 3, 3)`` local rotations (each joint relative to its parent; the root's is global).
            joints_rest: ``(B, J, 3)`` rest-pose joint positions.

        Returns:
            ``rot_world`` ``(B, J, 3, 3)`` and ``joints_world`` ``(B, J, 3)``: each joint's global rotation and
            posed position, ``G_j = G_parent(j) [R_j | J_j - J_parent(j)]`` (SMPL eq. 4).
        """
        B = rotmats.shape[0]
        # Bone vectors in the rest pose; the root keeps its absolute position (smplx batch_rigid_transform).
        parent_pos = joints_rest.index_select(1, self.parents_tail)  # (B, J-1, 3)
        bones = torch.cat([joints_rest[:, :1], joints_rest[:, 1:] - parent_pos], dim=1)  # (B, J, 3)
        rot_local = rotmats.index_select(1, self.order)  # (B, J, 3, 3) depth-major
        bone_local = bones.index_select(1, self.order).unsqueeze(-1)  # (B, J, 3, 1) depth-major

        s0, e0 = self.bounds[0]
        rot_levels = [rot_local[:, s0:e0]]  # root level: global = local
        pos_levels = [bone_local[:, s0:e0]]
        for s, e in self.bounds[1:]:
            slot = self.parent_slot[s:e]
            rot_parent = rot_levels[-1].index_select(1, slot)  # (B, n, 3, 3)
            pos_parent = pos_levels[-1].index_select(1, slot)  # (B, n, 3, 1)
            rot_levels.append(rot_parent @ rot_local[:, s:e])  # (B, n, 3, 3)
            pos_levels.append(rot_parent @ bone_local[:, s:e] + pos_parent)  # (B, n, 3, 1)
        rot_world = torch.cat(rot_levels, dim=1).index_select(1, self.inverse_order)  # (B, J, 3, 3)
        joints_world = torch.cat(pos_levels, dim=1).index_select(1, self.inverse_order)  # (B, J, 3, 1)
        return rot_world, joints_world.view(B, self.num_joints, 3)  # (B, J, 3, 3), (B, J, 3)
