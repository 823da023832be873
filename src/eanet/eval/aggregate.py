"""Grouped reductions of per-sample errors into metrics (NumPy, vectorised with ``bincount``).

A *group* is what one number is reported for: the whole evaluated set (one group) or each sequence. Within a
group, the categories are ``all``, ``single`` (right- or left-hand images), ``interacting``, and, for per-hand
metrics, ``right`` and ``left`` (that hand's joints or vertices on every image).

Empty groups give NaN *inside* these arrays together with a count of 0; the evaluator turns them into ``null``
with a reason before anything is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Reduced", "JOINT_CATEGORIES", "reduce_joint_errors", "reduce_values"]

#: Categories of per-hand metrics (MPJPE, PA-MPJPE, MPVPE), in report order.
JOINT_CATEGORIES: tuple[str, ...] = ("all", "single", "interacting", "right", "left")

_JOINTS = 42  # two hands x 21 joints, right first
# category -> (image categories 0=single 1=interacting, joint columns)
_CATEGORY_SLOTS: dict[str, tuple[tuple[int, ...], slice]] = {
    "all": ((0, 1), slice(0, 42)),
    "single": ((0,), slice(0, 42)),
    "interacting": ((1,), slice(0, 42)),
    "right": ((0, 1), slice(0, 21)),
    "left": ((0, 1), slice(21, 42)),
}


@dataclass
class Reduced:
    """One metric/category for every group.

    Attributes:
        value: ``(G,)`` the metric, NaN where the group has nothing to average.
        count: ``(G,)`` number of samples (or per-hand entries) that contributed.
        empty_slots: ``(G,)`` per-joint-mean only: number of joint slots with no sample while other slots had some
            (the official ``print_eval_result`` would print NaN there; we average the non-empty slots).
        slot_means: ``(G, S)`` per-joint-mean only: the mean of each joint slot (NaN where empty); S = 42 or 84.
    """

    value: np.ndarray
    count: np.ndarray
    empty_slots: np.ndarray
    slot_means: np.ndarray | None = None


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(num.shape, np.nan, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def reduce_joint_errors(
    err: np.ndarray,
    counted: np.ndarray,
    interacting: np.ndarray,
    group: np.ndarray,
    num_groups: int,
    mode: str,
) -> dict[str, Reduced]:
    """Reduce per-joint errors of two hands to MPJPE-style numbers per group and category.

    Args:
        err: ``(N, 42)`` per-joint errors (right 0-20, left 21-41); ignored where not ``counted``.
        counted: ``(N, 42)`` bool, which errors are scored.
        interacting: ``(N,)`` bool, True for interacting-hand images, False for single-hand images.
        group: ``(N,)`` int group index in ``[0, num_groups)``.
        num_groups: G.
        mode: ``per_joint_mean`` (official ``print_eval_result``: per slot over samples, then over slots; the
            slots of ``all`` are the 42 single-hand and 42 interacting-hand slots) or ``sample_weighted`` (each
            sample's mean over its scored joints, then over samples).

    Returns:
        ``{category: Reduced}`` for :data:`JOINT_CATEGORIES`.
    """
    counted = counted.astype(bool)
    err = np.where(counted, err.astype(np.float64), 0.0)  # (N, 42)
    cat = interacting.astype(np.int64)  # (N,)
    group = group.astype(np.int64)
    out: dict[str, Reduced] = {}
    if mode == "per_joint_mean":
        gc = group * 2 + cat  # (N,) group-and-category index
        flat = (gc[:, None] * _JOINTS + np.arange(_JOINTS)[None, :]).ravel()  # (N*42,)
        size = num_groups * 2 * _JOINTS
        sums = np.bincount(flat, weights=err.ravel(), minlength=size).reshape(num_groups, 2, _JOINTS)
        cnts = np.bincount(flat, weights=counted.ravel().astype(np.float64), minlength=size)
        cnts = cnts.reshape(num_groups, 2, _JOINTS)
        slot_means = _safe_div(sums, cnts)  # (G, 2, 42)
        for name, (cats, cols) in _CATEGORY_SLOTS.items():
            means = slot_means[:, list(cats), cols].reshape(num_groups, -1)  # (G, S)
            nonempty = cnts[:, list(cats), cols].reshape(num_groups, -1) > 0  # (G, S)
            num_nonempty = nonempty.sum(axis=1)
            value = _safe_div(np.where(nonempty, means, 0.0).sum(axis=1), num_nonempty.astype(np.float64))
            has_any = counted[:, cols].any(axis=1) & np.isin(cat, cats)  # (N,)
            count = np.bincount(group[has_any], minlength=num_groups)
            empty = np.where(num_nonempty > 0, (~nonempty).sum(axis=1), 0)
            out[name] = Reduced(value=value, count=count, empty_slots=empty, slot_means=means)
    elif mode == "sample_weighted":
        for name, (cats, cols) in _CATEGORY_SLOTS.items():
            c = counted[:, cols].sum(axis=1)  # (N,)
            s = err[:, cols].sum(axis=1)  # (N,)
            use = (c > 0) & np.isin(cat, cats)
            per_sample = s[use] / c[use]
            sums = np.bincount(group[use], weights=per_sample, minlength=num_groups)
            count = np.bincount(group[use], minlength=num_groups)
            out[name] = Reduced(
                value=_safe_div(sums, count.astype(np.float64)),
                count=count,
                empty_slots=np.zeros(num_groups, dtype=np.int64),
            )
    else:
        raise ValueError(f"unknown aggregation {mode!r}")
    return out


def reduce_values(values: np.ndarray, group: np.ndarray, num_groups: int) -> Reduced:
    """Mean of scalar entries (one per sample or per hand) per group: sample-weighted."""
    group = group.astype(np.int64)
    sums = np.bincount(group, weights=values.astype(np.float64), minlength=num_groups)
    count = np.bincount(group, minlength=num_groups)
    return Reduced(
        value=_safe_div(sums, count.astype(np.float64)),
        count=count,
        empty_slots=np.zeros(num_groups, dtype=np.int64),
    )
