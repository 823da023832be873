"""Configuration of evaluation: protocol preset, dataset and subset, batch, outputs (``eanet eval`` and training)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class EvalConfig:
    #: Protocol preset (docs/eval.md): ``official`` (the official EANet evaluator, quirks included), ``intaghand``
    #: (same alignment, quirks fixed) or ``interwild`` (wrist root, annotated joints, H test subset, MRRPE).
    protocol: Literal["official", "intaghand", "interwild"] = "official"
    #: Dataset to evaluate on; null: ``data.dataset``.
    dataset: Literal["interhand26m", "hic"] | None = None
    #: InterHand2.6M test subset: ``preset`` (the protocol's: HM for official/intaghand, H for interwild) or an
    #: explicit ``H``/``M``/``HM``. Takes precedence over ``data.test_subset`` in ``eanet eval``.
    subset: Literal["preset", "H", "M", "HM"] = "preset"
    #: InterHand2.6M test crops: ``preset`` (official: the RootNet boxes the official test uses; others: boxes from
    #: the annotated joints), ``gt`` or ``rootnet``. Takes precedence over ``data.bbox_source`` in ``eanet eval``.
    crops: Literal["preset", "gt", "rootnet"] = "preset"
    #: Images per forward pass (the official test uses 8 per GPU; any size gives the same numbers).
    batch_size: int = 64
    #: Data-loader workers; null: ``data.num_workers``.
    num_workers: int | None = None
    #: Evaluate only the first N test samples (quick checks); null: all.
    max_samples: int | None = None
    #: Result JSON; null: ``<output_dir>/eval/<protocol>-<dataset>-<subset>.json``. The Figure 9 plot is written next
    #: to it (same stem, ``-figure9.png``).
    output: str | None = None
    #: Write the Figure 9 plot (per-sequence MPJPE against the pose difference between the hands).
    figure9_plot: bool = True
    #: Hand model the ground truth meshes and joints are rebuilt with: ``mano`` (InterHand2.6M's NeuralAnnot fits and
    #: HIC's meshes are MANO; needs the MANO files) or ``open`` (only for data made by ``eanet synth --hand-model
    #: open``, whose ``synthetic_manifest.json`` says so; no MANO files needed). A choice that contradicts the data
    #: is an error. Recorded in the result JSON as ``gt_hand_model``.
    gt_hand_model: Literal["mano", "open"] = "mano"
    #: Arithmetic precision of the metrics (float64; float32 is what the official code uses, < 1e-3 mm apart).
    precision: Literal["float64", "float32"] = "float64"

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("eval.batch_size must be at least 1")
        if self.max_samples is not None and self.max_samples < 1:
            raise ValueError("eval.max_samples must be at least 1 (or null for all)")
