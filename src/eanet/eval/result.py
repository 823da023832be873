"""Typed evaluation results, their printed summary and their JSON file.

Every printed block starts with the protocol signature; every JSON file records the protocol (all fields and the
signature), dataset, subset, sample counts, checkpoint path and SHA-256, configuration and package versions.
An empty metric is ``null`` with a ``reason``, never NaN or 0.
"""

from __future__ import annotations

import json
import math
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from eanet.eval.protocols import Protocol
from eanet.fileio import file_sha256
from eanet.version import __version__

__all__ = [
    "MetricValue",
    "SequenceResult",
    "EvalResult",
    "write_result_json",
    "METRIC_LABELS",
    "metric_unit",
]

#: Metric key -> printed name.
METRIC_LABELS: dict[str, str] = {
    "mpjpe_mm": "MPJPE",
    "mpvpe_mm": "MPVPE",
    "mrrpe_mm": "MRRPE",
    "pa_mpjpe_mm": "PA-MPJPE",
    "joints2d_err_px": "2D joint error",
}


def metric_unit(metric: str) -> str:
    """The unit a metric key ends with (``mpjpe_mm`` -> ``mm``, ``joints2d_err_px`` -> ``px``)."""
    return metric.rsplit("_", 1)[-1]

JSON_FORMAT_VERSION = 1


@dataclass
class MetricValue:
    """One number, or an explained absence.

    Attributes:
        value_mm: the metric in its unit (millimetres unless ``unit`` says otherwise), or None when nothing could be
            averaged.
        count: samples (or per-hand entries, for MPVPE under ``per_hand``) that contributed.
        reason: why ``value_mm`` is None.
        note: anything a reader must know about this value (e.g. where the official code would print NaN).
        unit: ``mm``, or ``px`` (input-crop pixels) for the 2D joint error; the JSON key is ``value_<unit>``.
    """

    value_mm: float | None
    count: int
    reason: str | None = None
    note: str | None = None
    unit: str = "mm"

    def __post_init__(self) -> None:
        if self.value_mm is not None and not math.isfinite(self.value_mm):
            raise ValueError(f"metric values must be finite or None, got {self.value_mm}")
        if self.value_mm is None and not self.reason:
            raise ValueError("an empty metric needs a reason")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {f"value_{self.unit}": self.value_mm, "count": self.count}
        if self.reason:
            out["reason"] = self.reason
        if self.note:
            out["note"] = self.note
        return out

    def format(self) -> str:
        return "-" if self.value_mm is None else f"{self.value_mm:.2f}"


@dataclass
class SequenceResult:
    """Per-sequence numbers (categories ``all``, ``single``, ``interacting``)."""

    sequence: str
    seq_id: int
    num_samples: int
    num_interacting: int
    pose_difference_deg: float | None
    metrics: dict[str, dict[str, MetricValue]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "sequence": self.sequence,
            "seq_id": self.seq_id,
            "num_samples": self.num_samples,
            "num_interacting": self.num_interacting,
            "pose_difference_deg": self.pose_difference_deg,
            "metrics": {m: {c: v.to_dict() for c, v in cats.items()} for m, cats in self.metrics.items()},
        }


@dataclass
class EvalResult:
    """Everything one evaluation produced.

    Attributes:
        protocol: the protocol preset used.
        dataset: ``interhand26m`` or ``hic``.
        subset: the evaluated subset's label (``H+M``, ``H``, ``all``...).
        num_samples: distinct samples evaluated (after DDP de-duplication).
        num_duplicates_dropped: records dropped because their ``annot_id`` was already seen (DDP padding).
        sample_counts: images per category (``all``, ``single``, ``interacting``, ``right``, ``left``: the last two
            are the single-hand images of each hand).
        metrics: ``{metric: {category: MetricValue}}``; metrics ``mpjpe_mm``, ``pa_mpjpe_mm``, ``mpvpe_mm`` (categories
            all/single/interacting/right/left), ``mrrpe_mm`` (all/single/interacting) and ``joints2d_err_px`` (input-crop
            pixels; all/single/interacting/right/left).
        per_joint_mpjpe_mm: per-joint-mean protocols only: ``{"single": [42], "interacting": [42]}`` slot means in
            the wrist-first order (right 0-20, left 21-41), None for empty slots.
        per_sequence: per-sequence results, sorted by name.
        figure9: per-sequence pose difference against interacting-image MPJPE (the paper's Figure 9).
        notes: protocol caveats and facts about this run (e.g. hands scored 0 mm by the official bias).
        gt_hand_model: the hand model the ground truth was rebuilt with (``mano``, or ``open`` for synthetic data
            made with the open hand model).
    """

    protocol: Protocol
    dataset: str
    subset: str
    num_samples: int
    num_duplicates_dropped: int
    sample_counts: dict[str, int]
    metrics: dict[str, dict[str, MetricValue]]
    per_joint_mpjpe_mm: dict[str, list[float | None]] | None = None
    per_sequence: list[SequenceResult] = field(default_factory=list)
    figure9: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    gt_hand_model: str = "mano"

    def value(self, metric: str, category: str = "all") -> float | None:
        """A metric's value in its unit (None when empty), e.g. ``result.value("mpjpe_mm", "interacting")``."""
        return self.metrics[metric][category].value_mm

    def scalars(self) -> dict[str, float]:
        """Flat ``{"mpjpe_all": ..., "joints2d_err_px_right": ...}`` of the non-empty values (mm, except the 2D
        metric's keys, which keep their ``_px``), for training logs and ``train.best_metric``."""
        return {
            f"{m.removesuffix('_mm')}_{c}": v.value_mm
            for m, cats in self.metrics.items()
            for c, v in cats.items()
            if v.value_mm is not None
        }

    def summary_lines(self) -> list[str]:
        """The printed result: the protocol signature first, then one line per metric, then empty-metric reasons."""
        counts = self.sample_counts
        lines = [
            self.protocol.signature(),
            f"dataset={self.dataset} subset={self.subset} gt_hand_model={self.gt_hand_model} "
            f"samples={self.num_samples} (single {counts.get('single', 0)}, interacting {counts.get('interacting', 0)})",
        ]
        reasons: list[str] = []
        for metric, cats in self.metrics.items():
            label = METRIC_LABELS.get(metric, metric)
            parts = [f"{c} {v.format()}" for c, v in cats.items()]
            lines.append(f"{label} ({metric_unit(metric)}): " + " | ".join(parts))
            for c, v in cats.items():
                if v.value_mm is None and c in ("all", "single", "interacting"):
                    reasons.append(f"  {label} {c}: empty ({v.reason})")
                elif v.note and c in ("all", "single", "interacting"):
                    reasons.append(f"  {label} {c}: {v.note}")
        lines += reasons
        lines += [f"note: {n}" for n in self.notes]
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol.to_dict(),
            "dataset": self.dataset,
            "subset": self.subset,
            "gt_hand_model": self.gt_hand_model,
            "num_samples": self.num_samples,
            "num_duplicates_dropped": self.num_duplicates_dropped,
            "sample_counts": dict(self.sample_counts),
            "metrics": {m: {c: v.to_dict() for c, v in cats.items()} for m, cats in self.metrics.items()},
            "per_joint_mpjpe_mm": self.per_joint_mpjpe_mm,
            "per_sequence": [s.to_dict() for s in self.per_sequence],
            "figure9": list(self.figure9),
            "notes": list(self.notes),
        }


def write_result_json(
    result: EvalResult,
    path: str | Path,
    *,
    checkpoint: str | Path | None = None,
    config: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``result`` and its provenance to ``path`` (parents created).

    Args:
        result: the evaluation result.
        path: output ``.json``.
        checkpoint: the evaluated checkpoint; its resolved path and SHA-256 are recorded.
        config: the resolved run configuration as a plain dict (``eanet.config.config_to_dict``).
        extra: more provenance (device, command line...), stored under ``"run"``.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ckpt = None
    if checkpoint is not None:
        ckpt_path = Path(checkpoint)
        ckpt = {"path": str(ckpt_path.resolve()), "sha256": file_sha256(ckpt_path) if ckpt_path.is_file() else None}
    payload = {
        "format": "eanet-eval",
        "format_version": JSON_FORMAT_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "eanet_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "checkpoint": ckpt,
        "config": config,
        "run": extra or {},
        **result.to_dict(),
    }
    text = json.dumps(payload, indent=2, allow_nan=False)  # allow_nan=False: a NaN here is a bug, not a result
    path.write_text(text + "\n")
    return path
