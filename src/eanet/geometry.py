"""Rotation conversions and camera projections shared by the hand model, the network, the data and evaluation.

Conventions:
    * Rotations act on column vectors: ``x' = R @ x``.
    * Axis-angle vectors have shape ``(..., 3)``: the direction is the axis, the norm the angle in radians.
    * The 6D representation is the official code's: 6 numbers viewed as a 3x2 matrix whose two columns ``a1``
      and ``a2`` are orthonormalised by Gram-Schmidt (Zhou et al., CVPR 2019).
    * Camera frames are OpenCV-style (x right, y down, z forward), as InterHand2.6M's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "axis_angle_to_rotmat",
    "rotmat_to_axis_angle",
    "rotmat_to_quaternion",
    "quaternion_to_axis_angle",
    "rot6d_to_rotmat",
    "rotmat_to_rot6d",
    "rot6d_to_axis_angle",
    "project_weak_perspective",
    "project_perspective",
    "world_to_camera",
    "mirror_axis_angle",
]


def axis_angle_to_rotmat(axis_angle: Tensor, epsilon: float = 1e-8) -> Tensor:
    """Rodrigues' formula, computed as smplx's ``batch_rodrigues`` does (so MANO outputs agree to float precision).

    Args:
        axis_angle: ``(..., 3)`` axis-angle vectors.
        epsilon: added to the angle before normalising the axis, so a zero rotation gives the identity.

    Returns:
        ``(..., 3, 3)`` rotation matrices.
    """
    shape = axis_angle.shape[:-1]
    rot_vecs = axis_angle.reshape(-1, 3)  # (N, 3)
    n = rot_vecs.shape[0]
    angle = torch.norm(rot_vecs + epsilon, dim=1, keepdim=True)  # (N, 1)
    # The clamp changes nothing for real inputs (angle >= |eps| already) but keeps a zero rotation finite when an
    # exporter's graph optimisation folds the epsilon away (ONNX, dynamo exporter with optimize=True).
    rot_dir = rot_vecs / angle.clamp_min(epsilon)  # (N, 3)
    cos = torch.unsqueeze(torch.cos(angle), dim=1)  # (N, 1, 1)
    sin = torch.unsqueeze(torch.sin(angle), dim=1)  # (N, 1, 1)
    rx, ry, rz = torch.split(rot_dir, 1, dim=1)  # 3 x (N, 1)
    zeros = torch.zeros((n, 1), dtype=axis_angle.dtype, device=axis_angle.device)
    skew = torch.cat([zeros, -rz, ry, rz, zeros, -rx, -ry, rx, zeros], dim=1).view(n, 3, 3)  # (N, 3, 3)
    ident = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device).unsqueeze(0)  # (1, 3, 3)
    rotmat = ident + sin * skew + (1 - cos) * torch.bmm(skew, skew)  # (N, 3, 3)
    return rotmat.view(*shape, 3, 3)


def rotmat_to_quaternion(rotmat: Tensor, eps: float = 1e-6) -> Tensor:
    """Rotation matrices to unit quaternions ``(w, x, y, z)``, branch for branch as the official code's
    ``torchgeometry.rotation_matrix_to_angle_axis`` computes them (Shepperd's method on the transposed matrix).

    Args:
        rotmat: ``(..., 3, 3)``.

    Returns:
        ``(..., 4)``.
    """
    shape = rotmat.shape[:-2]
    m = rotmat.reshape(-1, 3, 3).transpose(1, 2)  # (N, 3, 3), transposed as torchgeometry reads it
    m00, m01, m02 = m[:, 0, 0], m[:, 0, 1], m[:, 0, 2]
    m10, m11, m12 = m[:, 1, 0], m[:, 1, 1], m[:, 1, 2]
    m20, m21, m22 = m[:, 2, 0], m[:, 2, 1], m[:, 2, 2]

    t0 = 1 + m00 - m11 - m22
    q0 = torch.stack([m12 - m21, t0, m01 + m10, m20 + m02], -1)  # (N, 4)
    t1 = 1 - m00 + m11 - m22
    q1 = torch.stack([m20 - m02, m01 + m10, t1, m12 + m21], -1)
    t2 = 1 - m00 - m11 + m22
    q2 = torch.stack([m01 - m10, m20 + m02, m12 + m21, t2], -1)
    t3 = 1 + m00 + m11 + m22
    q3 = torch.stack([t3, m12 - m21, m20 - m02, m01 - m10], -1)

    mask_d2 = (m22 < eps).to(m.dtype)
    mask_d0_d1 = (m00 > m11).to(m.dtype)
    mask_d0_nd1 = (m00 < -m11).to(m.dtype)
    c0 = (mask_d2 * mask_d0_d1).unsqueeze(-1)  # (N, 1)
    c1 = (mask_d2 * (1 - mask_d0_d1)).unsqueeze(-1)
    c2 = ((1 - mask_d2) * mask_d0_nd1).unsqueeze(-1)
    c3 = ((1 - mask_d2) * (1 - mask_d0_nd1)).unsqueeze(-1)

    q = q0 * c0 + q1 * c1 + q2 * c2 + q3 * c3
    denom = t0.unsqueeze(-1) * c0 + t1.unsqueeze(-1) * c1 + t2.unsqueeze(-1) * c2 + t3.unsqueeze(-1) * c3
    q = q / torch.sqrt(denom) * 0.5
    return q.view(*shape, 4)


def quaternion_to_axis_angle(quaternion: Tensor) -> Tensor:
    """Unit quaternions ``(w, x, y, z)`` to axis-angle with the angle in ``[0, pi]``.

    Args:
        quaternion: ``(..., 4)``.

    Returns:
        ``(..., 3)``.
    """
    qx, qy, qz = quaternion[..., 1], quaternion[..., 2], quaternion[..., 3]
    sin_sq = qx * qx + qy * qy + qz * qz
    sin_theta = torch.sqrt(sin_sq)
    cos_theta = quaternion[..., 0]
    two_theta = 2.0 * torch.where(
        cos_theta < 0.0, torch.atan2(-sin_theta, -cos_theta), torch.atan2(sin_theta, cos_theta)
    )
    k = torch.where(sin_sq > 0.0, two_theta / sin_theta, 2.0 * torch.ones_like(sin_theta))
    return torch.stack([qx * k, qy * k, qz * k], dim=-1)


def rotmat_to_axis_angle(rotmat: Tensor) -> Tensor:
    """Rotation matrices ``(..., 3, 3)`` to axis-angle ``(..., 3)``.

    Computes what the official code computes (``torchgeometry.rotation_matrix_to_angle_axis`` followed by setting
    NaN to 0), so outputs loaded from official checkpoints agree.
    """
    axis_angle = quaternion_to_axis_angle(rotmat_to_quaternion(rotmat))
    return torch.nan_to_num(axis_angle, nan=0.0)


def rot6d_to_rotmat(rot6d: Tensor) -> Tensor:
    """6D rotations to rotation matrices, as the official ``rot6d_to_axis_angle`` builds them.

    The six numbers of each rotation are read as a 3x2 matrix ``[[a, b], [c, d], [e, f]]`` whose columns are
    ``a1 = (a, c, e)`` and ``a2 = (b, d, f)``.

    The official code calls ``torch.cross(b1, b2)`` without ``dim`` (``common/utils/transforms.py:72``); for an
    input of exactly three rotations torch then crosses along dimension 0 and the root rotation of a batch of 3
    comes out wrong (verified by running it). We always cross along the last dimension, which is what the
    official code computes at every other batch size.

    Args:
        rot6d: ``(..., 6)``.

    Returns:
        ``(..., 3, 3)`` with columns ``b1, b2, b3``.
    """
    shape = rot6d.shape[:-1]
    x = rot6d.reshape(-1, 3, 2)  # (N, 3, 2)
    a1, a2 = x[:, :, 0], x[:, :, 1]  # (N, 3) each
    b1 = F.normalize(a1, dim=1)
    b2 = F.normalize(a2 - (b1 * a2).sum(dim=-1, keepdim=True) * b1, dim=1)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1).view(*shape, 3, 3)  # (..., 3, 3)


def rotmat_to_rot6d(rotmat: Tensor) -> Tensor:
    """Inverse of :func:`rot6d_to_rotmat` for proper rotations: ``(..., 3, 3)`` to ``(..., 6)``."""
    return rotmat[..., :, :2].reshape(*rotmat.shape[:-2], 6)


def rot6d_to_axis_angle(rot6d: Tensor) -> Tensor:
    """``(..., 6)`` 6D rotations to ``(..., 3)`` axis-angle (official composition of the two conversions)."""
    return rotmat_to_axis_angle(rot6d_to_rotmat(rot6d))


def project_weak_perspective(points: Tensor, cam: Tensor) -> Tensor:
    """Weak-perspective projection used by the official model: ``u = X * s + tx``, ``v = Y * s + ty``.

    Args:
        points: ``(B, N, 3)`` points in metres (the hand model's own frame, not root-centred).
        cam: ``(B, 3)`` raw ``(s, tx, ty)``; no exp or softplus is applied (as the official ``get_coord``).

    Returns:
        ``(B, N, 2)`` in the units of the camera parameters (heatmap pixels for the official model).
    """
    scale = cam[:, None, :1]  # (B, 1, 1)
    trans = cam[:, None, 1:]  # (B, 1, 2)
    return points[..., :2] * scale + trans


def project_perspective(points_cam: Tensor, focal: Tensor, princpt: Tensor, eps: float = 1e-8) -> Tensor:
    """Pinhole projection without distortion: ``u = X / Z * fx + cx``, ``v = Y / Z * fy + cy``.

    Args:
        points_cam: ``(..., N, 3)`` points in the camera frame.
        focal: ``(..., 2)`` focal lengths in pixels.
        princpt: ``(..., 2)`` principal point in pixels.

    Returns:
        ``(..., N, 2)`` pixel coordinates.
    """
    z = points_cam[..., 2:3] + eps
    return points_cam[..., :2] / z * focal[..., None, :] + princpt[..., None, :]


def world_to_camera(points_world: Tensor, camrot: Tensor, campos: Tensor) -> Tensor:
    """InterHand2.6M's world-to-camera transform ``X_cam = R @ (X_world - campos)``.

    Args:
        points_world: ``(..., N, 3)``.
        camrot: ``(..., 3, 3)`` world-to-camera rotation.
        campos: ``(..., 3)`` camera centre in world coordinates (same unit as the points).
    """
    return (points_world - campos[..., None, :]) @ camrot.transpose(-1, -2)


def mirror_axis_angle(axis_angle: Tensor) -> Tensor:
    """Axis-angle of the rotation seen in a mirror across the x = 0 plane: ``(x, y, z) -> (x, -y, -z)``.

    This is how a right-hand pose becomes the equivalent left-hand pose under a horizontal image flip.
    """
    sign = axis_angle.new_tensor([1.0, -1.0, -1.0])
    return axis_angle * sign
