"""How closely a fast path reproduces the fp32 reference on the same inputs and weights.

Distances are Euclidean per point, in millimetres, on the outputs users consume: the wrist-relative joints and
vertices of both hands (``joints_cam``, ``verts_cam``) and the relative translation ``rel_trans``.

Bounds (:func:`eanet.speed.agreement_class` says which applies to a path):

* ``fp32`` paths: every joint, vertex and ``rel_trans`` within 1e-4 m (0.1 mm) of the reference.
* ``reduced`` (bf16/TF32) paths: mean joint difference <= 0.5 mm and max vertex difference <= 2 mm.
* ``int8``: measured and reported, not judged.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from eanet.structures import TwoHandPrediction

__all__ = ["Agreement", "BOUNDS_MM", "compare_predictions"]

#: ``class -> {metric: bound in mm}``; a path passes when every listed metric is within its bound.
BOUNDS_MM: dict[str, dict[str, float]] = {
    "fp32": {"max_joint_mm": 0.1, "max_vertex_mm": 0.1, "max_rel_trans_mm": 0.1},
    "reduced": {"mean_joint_mm": 0.5, "max_vertex_mm": 2.0},
    "int8": {},
}


@dataclass
class Agreement:
    """Differences from the reference (mm) and the verdict for the path's class."""

    mean_joint_mm: float
    max_joint_mm: float
    mean_vertex_mm: float
    max_vertex_mm: float
    max_rel_trans_mm: float
    samples: int
    klass: str
    #: True/False against :data:`BOUNDS_MM`; None for classes without bounds (int8).
    passed: bool | None

    def as_dict(self) -> dict[str, Any]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    def short(self) -> str:
        verdict = {True: "pass", False: "FAIL", None: "reported"}[self.passed]
        return (f"joints mean {self.mean_joint_mm:.4f} / max {self.max_joint_mm:.4f} mm, vertices max "
                f"{self.max_vertex_mm:.4f} mm, rel_trans max {self.max_rel_trans_mm:.4f} mm ({self.klass}: {verdict})")  # fmt: skip


def _both(pred: TwoHandPrediction, name: str) -> Tensor:
    return torch.cat([getattr(pred.right, name), getattr(pred.left, name)], dim=1).detach().to("cpu", torch.float64)


def compare_predictions(reference: TwoHandPrediction, other: TwoHandPrediction, klass: str) -> Agreement:
    """Differences of ``other`` from ``reference`` (same images, same order) and the verdict for ``klass``.

    Non-finite values on either side count as infinitely far (the path fails).
    """
    if klass not in BOUNDS_MM:
        raise ValueError(f"unknown agreement class {klass!r}; known: {', '.join(BOUNDS_MM)}")
    joints = (_both(other, "joints_cam") - _both(reference, "joints_cam")).norm(dim=-1) * 1e3  # (B, 42)
    verts = (_both(other, "verts_cam") - _both(reference, "verts_cam")).norm(dim=-1) * 1e3  # (B, 2V)
    rel = (other.rel_trans.detach().cpu().double() - reference.rel_trans.detach().cpu().double()).norm(dim=-1) * 1e3

    def finite_or_inf(x: Tensor, reduce: str) -> float:
        x = torch.where(torch.isfinite(x), x, torch.full_like(x, math.inf))
        return float(x.mean() if reduce == "mean" else x.max())

    values = dict(
        mean_joint_mm=finite_or_inf(joints, "mean"),
        max_joint_mm=finite_or_inf(joints, "max"),
        mean_vertex_mm=finite_or_inf(verts, "mean"),
        max_vertex_mm=finite_or_inf(verts, "max"),
        max_rel_trans_mm=finite_or_inf(rel, "max"),
    )
    bounds = BOUNDS_MM[klass]
    passed = all(values[k] <= b for k, b in bounds.items()) if bounds else None
    return Agreement(**values, samples=int(joints.shape[0]), klass=klass, passed=passed)
