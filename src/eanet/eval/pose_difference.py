"""The paper's Figure 9 analysis: per-sequence error against the pose difference between the two hands.

The paper (§4, "Robustness to asymmetric poses of two hands") plots each sequence's MPJPE against "the average pose
difference between the two hands in each selected sequence" and defers the definition to its supplementary
material, which is not public. We use this definition, stated here and in ``docs/eval.md``:

    For one image with NeuralAnnot fits of both hands, take the 15 local finger rotations of each hand, *including*
    MANO's mean hand pose (the fits are stored relative to it; ``flat_hand_mean=False``). Mirror the left hand's
    rotations into a right hand (axis-angle ``(x, y, z) -> (x, -y, -z)``, the same mirror as a horizontal image
    flip). The pose difference is the mean, over the 15 finger joints, of the geodesic angle (degrees) between the
    right hand's rotation and the mirrored left hand's rotation. A sequence's pose difference is the mean over its
    interacting images that have both fits.

So 0 deg means the two hands are mirror images of each other in articulation; the global (wrist) rotation and the
hand shape are ignored. The paper selects 6 sequences; we report every sequence and plot all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from eanet.geometry import axis_angle_to_rotmat, mirror_axis_angle

__all__ = ["geodesic_angle", "pose_difference_deg", "plot_error_vs_pose_difference"]


def geodesic_angle(rot_a: Tensor, rot_b: Tensor) -> Tensor:
    """``(...,)`` angle in radians of ``rot_a^T rot_b`` for ``(..., 3, 3)`` rotations (atan2 form: exact near 0)."""
    rel = rot_a.transpose(-1, -2) @ rot_b  # (..., 3, 3)
    cos = (rel.diagonal(dim1=-2, dim2=-1).sum(-1) - 1.0) / 2.0
    skew = torch.stack(
        [rel[..., 2, 1] - rel[..., 1, 2], rel[..., 0, 2] - rel[..., 2, 0], rel[..., 1, 0] - rel[..., 0, 1]], dim=-1
    )  # (..., 3) = 2 sin(angle) axis
    sin = torch.linalg.norm(skew, dim=-1) / 2.0
    return torch.atan2(sin, cos)


def pose_difference_deg(hand_pose_right: Tensor, hand_pose_left: Tensor) -> Tensor:
    """Mean geodesic angle (degrees) between right finger rotations and mirrored left finger rotations.

    Args:
        hand_pose_right: ``(..., 45)`` right finger pose, axis-angle, mean pose already added.
        hand_pose_left: ``(..., 45)`` left finger pose, axis-angle, mean pose already added.

    Returns:
        ``(...,)`` degrees.
    """
    shape = hand_pose_right.shape[:-1]
    right = axis_angle_to_rotmat(hand_pose_right.reshape(*shape, 15, 3))  # (..., 15, 3, 3)
    left = axis_angle_to_rotmat(mirror_axis_angle(hand_pose_left.reshape(*shape, 15, 3)))  # (..., 15, 3, 3)
    return torch.rad2deg(geodesic_angle(right, left)).mean(dim=-1)


def plot_error_vs_pose_difference(
    names: Sequence[str],
    pose_difference_deg: Sequence[float],
    error_mm: Sequence[float],
    path: str | Path,
    *,
    metric: str = "MPJPE (interacting images)",
    title: str = "",
    footnote: str = "",
) -> Path:
    """Scatter of per-sequence error against pose difference, written as a PNG (matplotlib, no display needed).

    Args:
        names: sequence names (the 12 most extreme points are labelled).
        pose_difference_deg: x values.
        error_mm: y values.
        path: output ``.png``.
        metric: y-axis label.
        title: plot title.
        footnote: small text under the plot (we put the protocol signature there).

    Returns:
        The written path.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import numpy as np

    x = np.asarray(pose_difference_deg, dtype=float)
    y = np.asarray(error_mm, dtype=float)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7.5, 5.0), dpi=120)
    ax.scatter(x, y, s=18, alpha=0.8)
    if len(x) >= 2 and np.ptp(x) > 0:
        slope, intercept = np.polyfit(x, y, 1)
        xs = np.linspace(x.min(), x.max(), 50)
        ax.plot(xs, slope * xs + intercept, linewidth=1, label=f"least-squares fit: {slope:+.3f} mm/deg")
        ax.legend(loc="upper left", fontsize=8)
    if len(x):
        order = np.argsort(x)
        label_idx = set(order[:6].tolist()) | set(order[-6:].tolist())
        for i in sorted(label_idx):
            ax.annotate(str(names[i]), (x[i], y[i]), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("pose difference between the hands (mean finger geodesic angle, deg)")
    ax.set_ylabel(f"{metric}, mm")
    ax.set_title(title or f"Per-sequence error vs. pose difference ({len(x)} sequences)", fontsize=10)
    ax.grid(alpha=0.3)
    if footnote:
        fig.text(0.01, 0.01, footnote, fontsize=5, wrap=True)
        fig.subplots_adjust(bottom=0.2)
    fig.savefig(path)
    plt.close(fig)
    return path
