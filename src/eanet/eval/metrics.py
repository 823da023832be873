"""Pure, vectorised metric functions (torch): joint regression, root/scale alignment, errors, Procrustes, MRRPE.

Everything here works on any leading batch dimensions and on any device; nothing loops over samples. Units are the
caller's; the evaluator passes millimetres (3D) and input-crop pixels (2D), and names ending in ``_mm``/``_px`` say
so.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from eanet.hand_model.skeleton import MANO16_TIPS_TO_JOINTS_21, MIDDLE_MCP, WRIST

__all__ = [
    "joint_regressor_21",
    "regress_joints",
    "align_root_and_scale",
    "bone_length",
    "point_errors",
    "mean_vertex_error",
    "procrustes_align",
    "relative_root_error",
    "heatmap_to_crop_scale",
    "joint_errors_2d",
]


def joint_regressor_21(j_regressor_16: Tensor, tip_vertices: Sequence[int]) -> Tensor:
    """Dense regressor of the 21 wrist-first joints: MANO-16 rows plus one-hot fingertip rows.

    This is the evaluation regressor of the official code and IntagHand (``Jr`` in ``InterHand26M.evaluate``) when
    ``tip_vertices`` is the hand model's evaluation tips (745/317/444/556/673 for MANO).

    Args:
        j_regressor_16: ``(16, V)`` joint regressor in MANO-16 order.
        tip_vertices: five vertex indices, thumb, index, middle, ring, pinky.

    Returns:
        ``(21, V)`` regressor in the wrist-first order.
    """
    if len(tip_vertices) != 5:
        raise ValueError(f"expected 5 fingertip vertices, got {tuple(tip_vertices)}")
    num_verts = j_regressor_16.shape[1]
    tips = torch.zeros(5, num_verts, dtype=j_regressor_16.dtype, device=j_regressor_16.device)  # (5, V)
    tips[torch.arange(5), torch.as_tensor(list(tip_vertices))] = 1.0
    full = torch.cat([j_regressor_16, tips], dim=0)  # (21, V) MANO-16 then tips
    return full[list(MANO16_TIPS_TO_JOINTS_21)]  # (21, V) wrist-first


def regress_joints(verts: Tensor, regressor: Tensor) -> Tensor:
    """Joints as linear combinations of vertices.

    Args:
        verts: ``(..., H, V, 3)`` vertices of ``H`` hands.
        regressor: ``(H, J, V)`` one regressor per hand (right and left differ), or ``(J, V)`` shared.

    Returns:
        ``(..., H, J, 3)``.
    """
    if regressor.dim() == 2:
        return torch.einsum("jv,...vc->...jc", regressor, verts)
    return torch.einsum("hjv,...hvc->...hjc", regressor, verts)


def bone_length(joints: Tensor, a: int = WRIST, b: int = MIDDLE_MCP) -> Tensor:
    """``(...,)`` distance between joints ``a`` and ``b`` of ``(..., J, 3)`` joints (default wrist to Middle_1)."""
    return torch.linalg.norm(joints[..., b, :] - joints[..., a, :], dim=-1)


def align_root_and_scale(points: Tensor, joints: Tensor, root_index: int, scale: Tensor | None = None) -> Tensor:
    """Subtract a root joint and optionally multiply by a per-hand scale.

    Args:
        points: ``(..., P, 3)`` points to align (joints or vertices of the same hand).
        joints: ``(..., J, 3)`` the hand's joints, from which the root is taken.
        root_index: index of the root in ``joints``.
        scale: ``(...,)`` per-hand factor, or None.

    Returns:
        ``(..., P, 3)`` ``(points - joints[root]) * scale``.
    """
    out = points - joints[..., root_index : root_index + 1, :]
    if scale is not None:
        out = out * scale[..., None, None]
    return out


def point_errors(pred: Tensor, gt: Tensor) -> Tensor:
    """``(..., P)`` Euclidean distance per point of ``(..., P, 3)`` arrays."""
    return torch.linalg.norm(pred - gt, dim=-1)


def mean_vertex_error(pred: Tensor, gt: Tensor) -> Tensor:
    """``(...,)`` mean over vertices of the per-vertex Euclidean distance (MPVPE of one hand)."""
    return point_errors(pred, gt).mean(dim=-1)


def procrustes_align(pred: Tensor, gt: Tensor, weights: Tensor | None = None) -> Tensor:
    """Similarity (scale, rotation, translation) alignment of ``pred`` onto ``gt``, least squares (Umeyama).

    Only points with a positive weight take part in the fit; all points are transformed. A fit needs at least three
    non-collinear weighted points; the caller must not score hands with fewer.

    Args:
        pred: ``(..., P, 3)``.
        gt: ``(..., P, 3)``.
        weights: ``(..., P)`` non-negative, or None for all ones.

    Returns:
        ``(..., P, 3)`` ``s * R @ pred + t``.
    """
    if weights is None:
        weights = torch.ones(pred.shape[:-1], dtype=pred.dtype, device=pred.device)
    w = weights.to(pred.dtype)[..., None]  # (..., P, 1)
    total = w.sum(dim=-2, keepdim=True).clamp_min(1e-12)  # (..., 1, 1)
    mu_pred = (w * pred).sum(dim=-2, keepdim=True) / total  # (..., 1, 3)
    mu_gt = (w * gt).sum(dim=-2, keepdim=True) / total  # (..., 1, 3)
    x = pred - mu_pred  # (..., P, 3)
    y = gt - mu_gt  # (..., P, 3)
    cov = (w * x).transpose(-1, -2) @ y  # (..., 3, 3) sum_i w_i x_i y_i^T
    # SVD refuses non-finite input; fit those hands to the identity and return NaN for them below.
    bad = ~torch.isfinite(cov).all(dim=-1).all(dim=-1)  # (...,)
    cov = torch.where(bad[..., None, None], torch.eye(3, dtype=cov.dtype, device=cov.device), cov)
    u, sing, vh = torch.linalg.svd(cov)
    v = vh.transpose(-1, -2)
    det = torch.linalg.det(v @ u.transpose(-1, -2))  # (...,) -1 for a reflection
    fix = torch.ones(sing.shape, dtype=pred.dtype, device=pred.device)  # (..., 3)
    fix[..., 2] = torch.sign(det) + (det == 0).to(pred.dtype)  # keep a proper rotation
    rot = v @ torch.diag_embed(fix) @ u.transpose(-1, -2)  # (..., 3, 3)
    var = (w * x.pow(2)).sum(dim=(-2, -1)).clamp_min(1e-12)  # (...,)
    scale = (sing * fix).sum(dim=-1) / var  # (...,)
    aligned = scale[..., None, None] * (x @ rot.transpose(-1, -2)) + mu_gt
    return torch.where(bad[..., None, None], torch.full_like(aligned, float("nan")), aligned)


def relative_root_error(rel_pred: Tensor, rel_gt: Tensor) -> Tensor:
    """MRRPE term: ``(...,)`` ``|(L_root - R_root)_pred - (L_root - R_root)_gt|`` of ``(..., 3)`` offsets."""
    return torch.linalg.norm(rel_pred - rel_gt, dim=-1)


def heatmap_to_crop_scale(input_size: Sequence[int], heatmap_shape: Sequence[int]) -> tuple[float, float]:
    """Input-crop pixels per heatmap unit, ``(x, y)``.

    The data maps a crop pixel ``u`` to ``u / W_in * w_hm`` (``eanet.data.interhand26m``), so the inverse is a
    plain scale (no half-pixel offset), the same for predictions and ground truth.

    Args:
        input_size: ``(H, W)`` of the network's input crop.
        heatmap_shape: ``(D, h, w)`` of the 2.5D heatmap.
    """
    height, width = int(input_size[0]), int(input_size[1])
    hm_h, hm_w = int(heatmap_shape[1]), int(heatmap_shape[2])
    if min(height, width, hm_h, hm_w) <= 0:
        raise ValueError(f"sizes must be positive, got input {tuple(input_size)}, heatmap {tuple(heatmap_shape)}")
    return width / hm_w, height / hm_h


def joint_errors_2d(pred_hm: Tensor, gt_hm: Tensor, scale_xy: Sequence[float]) -> Tensor:
    """``(..., J)`` 2D distance per joint in input-crop pixels, from joints in heatmap units.

    Args:
        pred_hm: ``(..., J, 2+)`` predicted joints in heatmap units (only x, y are used; a depth column is ignored).
        gt_hm: ``(..., J, 2+)`` ground truth in the same units.
        scale_xy: crop pixels per heatmap unit in x and y (:func:`heatmap_to_crop_scale`).
    """
    scale = torch.as_tensor(list(scale_xy), dtype=pred_hm.dtype, device=pred_hm.device)  # (2,)
    return torch.linalg.norm((pred_hm[..., :2] - gt_hm[..., :2]) * scale, dim=-1)
