"""The evaluation accumulator: per-batch vectorised errors, per-sample records, DDP gathering, and reduction.

Used the same way by ``eanet eval`` and by the training loop::

    evaluator = Evaluator("official", HandRegressors.from_model_data(mano_right, mano_left))
    for batch in loader:
        evaluator.update(model(batch["img"].to(device)), batch)
    result = evaluator.compute()          # EvalResult; identical on every DDP rank
    evaluator.reset()

``update`` does all arithmetic on the predictions' device with no per-sample Python loop and copies a few small
arrays per sample to the host (about 0.7 KB). ``compute`` gathers the records of all ranks, drops the duplicates a
``DistributedSampler`` pads with (same ``annot_id``), and reduces them with NumPy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from eanet.errors import InvalidInputError
from eanet.eval.aggregate import Reduced, reduce_joint_errors, reduce_values
from eanet.eval.metrics import (
    align_root_and_scale,
    bone_length,
    joint_errors_2d,
    joint_regressor_21,
    mean_vertex_error,
    point_errors,
    procrustes_align,
    regress_joints,
    relative_root_error,
)
from eanet.eval.pose_difference import pose_difference_deg
from eanet.eval.protocols import Protocol, get_protocol
from eanet.eval.result import EvalResult, MetricValue, SequenceResult, metric_unit
from eanet.eval.targets import BATCH_KEYS, EvalTargets, targets_from_batch
from eanet.hand_model.skeleton import IH26M_TO_JOINTS_21, IH26M_WRIST, NUM_JOINTS
from eanet.structures import TwoHandPrediction
from eanet.train.distributed import all_gather

__all__ = ["Evaluator", "HandRegressors", "Records", "DATASETS"]

logger = logging.getLogger(__name__)

#: Datasets the evaluator knows how to score.
DATASETS: tuple[str, ...] = ("interhand26m", "hic")

_MM_PER_M = 1000.0
_SEQ_CATEGORIES = ("all", "single", "interacting")
#: Metrics in report order (MPJPE, MPVPE, MRRPE, PA-MPJPE, then the 2D joint error in input-crop pixels).
METRIC_ORDER: tuple[str, ...] = ("mpjpe_mm", "mpvpe_mm", "mrrpe_mm", "pa_mpjpe_mm", "joints2d_err_px")
#: How the 2D metric is defined (reported in every result's notes).
JOINTS2D_DEFINITION = (
    "joints2d_err_px: distance in input-crop pixels between the predicted 2D joints (joints_hm x, y times input "
    "size / heatmap size) and the annotated ones (joints_hm of the batch), over joints with a valid 2D annotation "
    "(joints_valid_2d); each image's mean over its joints, then the mean over images; no alignment"
)


@dataclass(frozen=True)
class HandRegressors:
    """Joint regressors (and mean finger poses) of one hand model, both hands.

    Attributes:
        joints: ``(2, 21, V)`` right and left regressors of the wrist-first joints with the *evaluation* fingertips.
        hands_mean: ``(2, 45)`` mean finger pose of each hand (added to NeuralAnnot poses for Figure 9).
        name: the hand model's name (recorded in results).
    """

    joints: Tensor
    hands_mean: Tensor
    name: str

    @property
    def num_verts(self) -> int:
        return int(self.joints.shape[-1])

    @classmethod
    def from_model_data(cls, right: Any, left: Any, tips: str = "eval") -> HandRegressors:
        """Build from two :class:`eanet.hand_model.HandModelData` (right, left).

        Args:
            right: right-hand model data.
            left: left-hand model data.
            tips: ``eval`` (the official evaluation's fingertips, 444 for MANO's middle tip) or ``train``.
        """
        if tips not in ("eval", "train"):
            raise ValueError(f"tips must be 'eval' or 'train', got {tips!r}")
        regs = []
        for data in (right, left):
            tip_vertices = data.tip_vertices_eval if tips == "eval" else data.tip_vertices
            j16 = torch.as_tensor(np.asarray(data.J_regressor, dtype=np.float64))
            regs.append(joint_regressor_21(j16, tip_vertices))
        means = torch.stack(
            [torch.as_tensor(np.asarray(d.hands_mean, dtype=np.float64)).reshape(45) for d in (right, left)]
        )
        return cls(joints=torch.stack(regs), hands_mean=means, name=str(right.name))

    @classmethod
    def from_layers(cls, right: Any, left: Any, tips: str = "eval") -> HandRegressors:
        """Build from two :class:`eanet.hand_model.HandModelLayer` (their ``J_regressor`` buffers and tip tuples)."""
        if tips not in ("eval", "train"):
            raise ValueError(f"tips must be 'eval' or 'train', got {tips!r}")
        regs, means = [], []
        for layer in (right, left):
            tip_vertices = layer.tip_vertices_eval if tips == "eval" else layer.tip_vertices
            j16 = layer.J_regressor.detach().to("cpu", torch.float64)
            regs.append(joint_regressor_21(j16, tip_vertices))
            means.append(layer.hands_mean.detach().to("cpu", torch.float64).reshape(45))
        return cls(joints=torch.stack(regs), hands_mean=torch.stack(means), name=str(right.name))


@dataclass
class Records:
    """Per-sample evaluation records (host NumPy arrays, one row per sample).

    Attributes:
        annot_id: ``(N,)`` int64.
        hand_type: ``(N,)`` int8, 0 right, 1 left, 2 interacting.
        seq_id: ``(N,)`` int64 sequence index (-1 when the batch had none).
        joint_err: ``(N, 42)`` float32 joint errors, mm (wrist-first slots, right then left).
        joint_counted: ``(N, 42)`` bool.
        pa_err: ``(N, 42)`` float32 errors after per-hand Procrustes, mm.
        pa_counted: ``(N, 42)`` bool.
        vert_err: ``(N, 2)`` float32 per-hand mean vertex error, mm.
        vert_counted: ``(N, 2)`` bool, the hand has a GT mesh (and the topologies match).
        mrrpe: ``(N,)`` float32, mm.
        mrrpe_counted: ``(N,)`` bool.
        missing_fit: ``(N, 2)`` bool, the hand had scorable joints but no GT mesh (official bias / exclusion).
        pose_diff: ``(N,)`` float32 pose difference between the hands, degrees.
        pose_diff_valid: ``(N,)`` bool.
        joint2d_err: ``(N, 42)`` float32 2D joint errors, input-crop pixels (wrist-first slots, right then left).
        joint2d_counted: ``(N, 42)`` bool.
    """

    annot_id: np.ndarray
    hand_type: np.ndarray
    seq_id: np.ndarray
    joint_err: np.ndarray
    joint_counted: np.ndarray
    pa_err: np.ndarray
    pa_counted: np.ndarray
    vert_err: np.ndarray
    vert_counted: np.ndarray
    mrrpe: np.ndarray
    mrrpe_counted: np.ndarray
    missing_fit: np.ndarray
    pose_diff: np.ndarray
    pose_diff_valid: np.ndarray
    joint2d_err: np.ndarray
    joint2d_counted: np.ndarray

    def __len__(self) -> int:
        return int(self.annot_id.shape[0])

    @staticmethod
    def concat(parts: Sequence[Records]) -> Records:
        if not parts:
            return Records.empty()
        kwargs: dict[str, Any] = {}
        for name in Records.__dataclass_fields__:
            kwargs[name] = np.concatenate([getattr(p, name) for p in parts], axis=0)
        return Records(**kwargs)

    @staticmethod
    def empty() -> Records:
        f, b = np.float32, bool
        return Records(
            annot_id=np.zeros(0, np.int64),
            hand_type=np.zeros(0, np.int8),
            seq_id=np.zeros(0, np.int64),
            joint_err=np.zeros((0, 42), f),
            joint_counted=np.zeros((0, 42), b),
            pa_err=np.zeros((0, 42), f),
            pa_counted=np.zeros((0, 42), b),
            vert_err=np.zeros((0, 2), f),
            vert_counted=np.zeros((0, 2), b),
            mrrpe=np.zeros(0, f),
            mrrpe_counted=np.zeros(0, b),
            missing_fit=np.zeros((0, 2), b),
            pose_diff=np.zeros(0, f),
            pose_diff_valid=np.zeros(0, b),
            joint2d_err=np.zeros((0, 42), f),
            joint2d_counted=np.zeros((0, 42), b),
        )

    def select(self, index: np.ndarray) -> Records:
        return Records(**{name: getattr(self, name)[index] for name in Records.__dataclass_fields__})


def deduplicate(records: Records) -> tuple[Records, int]:
    """Keep the first record of each ``annot_id`` (a ``DistributedSampler`` pads ranks with repeated samples).

    Returns:
        The de-duplicated records (first-occurrence order) and the number of dropped rows.
    """
    _, first = np.unique(records.annot_id, return_index=True)
    first = np.sort(first)
    return records.select(first), len(records) - len(first)


def _default_gather(records: Records) -> list[Records]:
    """All ranks' records (every rank gets all of them); just ``[records]`` outside ``torch.distributed``."""
    return all_gather(records)


class Evaluator:
    """Accumulate per-sample errors under one :class:`Protocol` and reduce them to an :class:`EvalResult`.

    Args:
        protocol: a preset name (``official``, ``intaghand``, ``interwild``) or a :class:`Protocol`.
        regressors: joint regressors of the hand model the ground-truth meshes use (MANO for NeuralAnnot and HIC).
        pred_regressors: the predicting hand model's regressors when it differs (default: ``regressors``).
        dataset: ``interhand26m`` or ``hic``; decides where MRRPE's ground truth comes from (annotated wrists, or
            wrists regressed from the GT meshes as InterWild does on HIC) and that HIC has no joint metrics.
        subset: label of the evaluated subset (default: the preset's InterHand2.6M subset, ``all`` for HIC). When it
            differs from the preset's, the result says so in its notes.
        sequence_names: the dataset's ``seq_names`` (names of the batches' ``seq_id``), for per-sequence results.
        gt_pose_includes_mean: the batch's ``mano_pose`` already includes the mean hand (NeuralAnnot's does not).
        dtype: arithmetic precision (float64 by default; the official code uses float32, a < 1e-3 mm difference).
        gather: replaces the DDP all-gather (tests).
        gt_hand_model: name of the hand model behind ``regressors`` (``mano``, ``open``), recorded in the result.
        crop_px_per_hm: input-crop pixels per heatmap unit ``(x, y)``
            (:func:`eanet.eval.metrics.heatmap_to_crop_scale`); None: no 2D joint error (``joints2d_err_px``).
    """

    def __init__(
        self,
        protocol: Protocol | str,
        regressors: HandRegressors,
        *,
        pred_regressors: HandRegressors | None = None,
        dataset: str = "interhand26m",
        subset: str | None = None,
        sequence_names: Sequence[str] | None = None,
        gt_pose_includes_mean: bool = False,
        dtype: torch.dtype = torch.float64,
        gather: Callable[[Records], list[Records]] | None = None,
        gt_hand_model: str = "mano",
        crop_px_per_hm: tuple[float, float] | None = None,
    ) -> None:
        self.crop_px_per_hm = None if crop_px_per_hm is None else (float(crop_px_per_hm[0]), float(crop_px_per_hm[1]))
        self.protocol = get_protocol(protocol) if isinstance(protocol, str) else protocol
        self.gt_hand_model = gt_hand_model
        if dataset not in DATASETS:
            raise InvalidInputError(f"unknown dataset {dataset!r} for evaluation; choose one of {', '.join(DATASETS)}")
        self.dataset = dataset
        self.subset = subset or (self.protocol.ih26m_subset if dataset == "interhand26m" else "all")
        self.regressors = regressors
        self.pred_regressors = pred_regressors or regressors
        self.sequence_names = list(sequence_names) if sequence_names is not None else None
        self.gt_pose_includes_mean = gt_pose_includes_mean
        self.dtype = dtype
        self._gather = gather or _default_gather
        self._cache: dict[tuple[str, torch.device], Tensor] = {}
        self._parts: list[Records] = []
        self._next_id = 0
        self._numbered_locally = False
        self._missing: dict[str, str] = {}
        self._notes: list[str] = []

    # ------------------------------------------------------------------------------------------------------------
    # accumulation

    def reset(self) -> None:
        """Forget every accumulated sample (e.g. before the next epoch's evaluation)."""
        self._parts = []
        self._next_id = 0
        self._numbered_locally = False
        self._missing = {}
        self._notes = []

    def __len__(self) -> int:
        return sum(len(p) for p in self._parts)

    def add_note(self, note: str) -> None:
        """A fact about this run to report with the result (e.g. samples that could not be read)."""
        self._notes.append(note)

    def _on(self, name: str, device: torch.device) -> Tensor:
        key = (name, device)
        if key not in self._cache:
            source = {
                "gt": self.regressors.joints,
                "pred": self.pred_regressors.joints,
                "mean": self.regressors.hands_mean,
            }[name]
            self._cache[key] = source.to(device=device, dtype=self.dtype)
        return self._cache[key]

    @torch.no_grad()
    def update(self, prediction: TwoHandPrediction, batch: Mapping[str, Any]) -> None:
        """Score one batch.

        Args:
            prediction: the network's output for the batch (``verts_cam``/``joints_cam`` wrist-relative metres,
                ``rel_trans`` metres).
            batch: the collated test batch (keys in :data:`eanet.eval.targets.BATCH_KEYS`).
        """
        device = prediction.right.verts_cam.device
        t = targets_from_batch(batch, device)
        b = t.batch_size
        if prediction.right.verts_cam.shape[0] != b:
            raise InvalidInputError(f"prediction batch {prediction.right.verts_cam.shape[0]} != ground-truth batch {b}")
        self._parts.append(self._score(prediction, t))

    def _score(self, prediction: TwoHandPrediction, t: EvalTargets) -> Records:
        p = self.protocol
        dt = self.dtype
        b = t.batch_size
        device = t.hand_type.device
        no = torch.zeros(b, 2, dtype=torch.bool, device=device)
        interacting = t.hand_type == 2

        pred_verts = torch.stack([prediction.right.verts_cam, prediction.left.verts_cam], 1)  # (B, 2, Vp, 3) m
        pred_verts = pred_verts.to(dt).mul_(_MM_PER_M)  # stack made a private copy: scale it in place, mm
        pred_mesh_joints = regress_joints(pred_verts, self._on("pred", device))  # (B, 2, 21, 3)
        has_mesh = t.verts_cam is not None
        if has_mesh:
            mesh_valid = t.mesh_valid
            gt_verts_raw = t.verts_cam.to(dt) * _MM_PER_M  # (B, 2, Vg, 3) mm, camera frame
            gt_verts = gt_verts_raw
            if p.missing_mesh == "zero_gt":
                # A hand without a NeuralAnnot fit has an all-zero GT mesh in the official InterHand26M.evaluate.
                gt_verts = torch.where(mesh_valid[:, :, None, None], gt_verts, 0.0)
            gt_mesh_joints = regress_joints(gt_verts, self._on("gt", device))  # (B, 2, 21, 3)
        else:
            mesh_valid = no
            self._missing.setdefault("mpvpe_mm", "the dataset provides no ground-truth meshes")

        # ---- joints: MPJPE and PA-MPJPE --------------------------------------------------------------------------
        joint_err = torch.zeros(b, 42, dtype=dt, device=device)
        joint_counted = torch.zeros(b, 42, dtype=torch.bool, device=device)
        pa_err = torch.zeros_like(joint_err)
        pa_counted = torch.zeros_like(joint_counted)
        missing_fit = no
        joints_ready, why = self._joint_inputs_available(t)
        if joints_ready:
            if p.gt_joints == "mesh_regressed":
                gt_joints, gt_hand_ok = gt_mesh_joints, mesh_valid
            else:
                gt_joints = t.joints_cam.to(dt).reshape(b, 2, NUM_JOINTS, 3) * _MM_PER_M  # (B, 2, 21, 3)
                gt_hand_ok = torch.ones(b, 2, dtype=torch.bool, device=device)
            if p.pred_joints == "mesh_regressed":
                pred_joints = pred_mesh_joints
            else:
                pred_joints = torch.stack([prediction.right.joints_cam, prediction.left.joints_cam], 1)
                pred_joints = pred_joints.to(dt) * _MM_PER_M  # (B, 2, 21, 3)
            scale = bone_length(gt_joints) / bone_length(pred_joints) if p.scale_to_gt_bone else None  # (B, 2)
            pred_aligned = align_root_and_scale(pred_joints, pred_joints, p.root_index, scale)
            gt_aligned = align_root_and_scale(gt_joints, gt_joints, p.root_index)
            errors = point_errors(pred_aligned, gt_aligned)  # (B, 2, 21)

            mask = self._joint_mask(t)  # (B, 2, 21) bool
            scorable_hand = mask.any(-1)  # (B, 2)
            if p.gt_joints == "mesh_regressed":
                missing_fit = scorable_hand & ~mesh_valid
                if p.missing_mesh == "exclude":
                    mask = mask & mesh_valid[:, :, None]
            joint_err = errors.reshape(b, 42)
            joint_counted = mask.reshape(b, 42)

            # PA-MPJPE (not in the official code): per hand, on the scored joints of hands with a real GT.
            weights = mask & gt_hand_ok[:, :, None]  # (B, 2, 21)
            enough = weights.sum(-1) >= 3  # (B, 2)
            aligned = procrustes_align(pred_joints, gt_joints, weights.to(dt))  # (B, 2, 21, 3)
            pa_err = point_errors(aligned, gt_joints).reshape(b, 42)
            pa_counted = (weights & enough[:, :, None]).reshape(b, 42)
        else:
            self._missing.setdefault("mpjpe_mm", why)
            self._missing.setdefault("pa_mpjpe_mm", why)

        # ---- vertices: MPVPE -------------------------------------------------------------------------------------
        vert_err = torch.zeros(b, 2, dtype=dt, device=device)
        vert_counted = no
        if has_mesh:
            if gt_verts.shape[2] != pred_verts.shape[2]:
                self._missing.setdefault(
                    "mpvpe_mm",
                    f"the prediction has {pred_verts.shape[2]} vertices per hand and the ground truth "
                    f"{gt_verts.shape[2]}: MPVPE needs the same mesh topology (evaluate a MANO model)",
                )
            else:
                # Vertices follow the joints' alignment: the same root joint (regressed from each mesh) and scale.
                scale = bone_length(gt_mesh_joints) / bone_length(pred_mesh_joints) if p.scale_to_gt_bone else None
                pv = align_root_and_scale(pred_verts, pred_mesh_joints, p.root_index, scale)
                gv = align_root_and_scale(gt_verts, gt_mesh_joints, p.root_index)
                vert_err = mean_vertex_error(pv, gv)  # (B, 2)
                vert_counted = mesh_valid

        # ---- MRRPE -----------------------------------------------------------------------------------------------
        mrrpe = torch.zeros(b, dtype=dt, device=device)
        mrrpe_counted = torch.zeros(b, dtype=torch.bool, device=device)
        rel_pred = prediction.rel_trans.to(dt) * _MM_PER_M  # (B, 3)
        if self.dataset == "hic":
            # InterWild's HIC evaluator: GT wrists regressed from the GT meshes, interacting images only. We also
            # require both meshes (InterWild would compare against a zero mesh's wrist otherwise).
            if has_mesh:
                raw_joints = regress_joints(gt_verts_raw, self._on("gt", device))  # (B, 2, 21, 3)
                rel_gt = raw_joints[:, 1, 0] - raw_joints[:, 0, 0]  # (B, 3)
                mrrpe = relative_root_error(rel_pred, rel_gt)
                mrrpe_counted = interacting & mesh_valid.all(-1)
            else:
                self._missing.setdefault("mrrpe_mm", "the dataset provides no ground-truth meshes")
        elif t.rel_trans is not None and t.rel_trans_valid is not None:
            # Annotated wrists (InterWild's InterHand26M.evaluate): every image with both wrists valid.
            rel_gt = t.rel_trans.to(dt) * _MM_PER_M
            mrrpe = relative_root_error(rel_pred, rel_gt)
            mrrpe_counted = t.rel_trans_valid
            if t.joint_trunc_ih26m is not None:
                mrrpe_counted = (
                    mrrpe_counted & t.joint_trunc_ih26m[:, IH26M_WRIST] & t.joint_trunc_ih26m[:, 21 + IH26M_WRIST]
                )
        else:
            self._missing.setdefault(
                "mrrpe_mm",
                f"the batch has no {BATCH_KEYS['rel_trans']!r}/{BATCH_KEYS['rel_trans_valid']!r} ground truth",
            )

        # ---- 2D joints in the input crop (image-conditioned learning shows here first; docs/eval.md) ------------
        joint2d_err = torch.zeros(b, 42, dtype=dt, device=device)
        joint2d_counted = torch.zeros(b, 42, dtype=torch.bool, device=device)
        why2d = self._joints2d_unavailable(prediction, t)
        if why2d is None:
            pred_hm = torch.cat([prediction.right.joints_hm, prediction.left.joints_hm], 1).to(dt)  # (B, 42, 3)
            joint2d_err = joint_errors_2d(pred_hm, t.joints_hm.to(dt), self.crop_px_per_hm)  # (B, 42) px
            joint2d_counted = t.joints_valid_2d
        else:
            self._missing.setdefault("joints2d_err_px", why2d)

        # ---- pose difference (Figure 9) --------------------------------------------------------------------------
        pose_diff = torch.zeros(b, dtype=dt, device=device)
        pose_valid = torch.zeros(b, dtype=torch.bool, device=device)
        if t.mano_pose is not None and t.mesh_valid is not None:
            fingers = t.mano_pose[:, :, 3:].to(dt)  # (B, 2, 45)
            if not self.gt_pose_includes_mean:
                fingers = fingers + self._on("mean", device)[None]
            pose_diff = pose_difference_deg(fingers[:, 0], fingers[:, 1])
            pose_valid = t.mesh_valid.all(-1)

        if t.annot_id is not None:
            annot_id = t.annot_id.cpu().numpy().astype(np.int64)
        else:
            # Without annotation ids, samples are numbered in arrival order (single process only, see compute()).
            annot_id = np.arange(self._next_id, self._next_id + b, dtype=np.int64)
            self._numbered_locally = True
        self._next_id += b

        def host(x: Tensor, dtype: Any) -> np.ndarray:
            return x.detach().cpu().numpy().astype(dtype, copy=False)

        f = np.float32
        return Records(
            annot_id=annot_id,
            hand_type=host(t.hand_type, np.int8),
            seq_id=host(t.seq_id, np.int64) if t.seq_id is not None else np.full(b, -1, np.int64),
            joint_err=host(joint_err, f),
            joint_counted=host(joint_counted, bool),
            pa_err=host(pa_err, f),
            pa_counted=host(pa_counted, bool),
            vert_err=host(vert_err, f),
            vert_counted=host(vert_counted, bool),
            mrrpe=host(mrrpe, f),
            mrrpe_counted=host(mrrpe_counted, bool),
            missing_fit=host(missing_fit, bool),
            pose_diff=host(pose_diff, f),
            pose_diff_valid=host(pose_valid, bool),
            joint2d_err=host(joint2d_err, f),
            joint2d_counted=host(joint2d_counted, bool),
        )

    def _joints2d_unavailable(self, prediction: TwoHandPrediction, t: EvalTargets) -> str | None:
        """Why the 2D joint error cannot be computed for this batch, or None when it can."""
        if self.crop_px_per_hm is None:
            return "the evaluator was not given the input-crop and heatmap sizes (crop_px_per_hm)"
        if t.joints_hm is None or t.joints_valid_2d is None:
            return (
                f"the batch has no annotated 2D joints {BATCH_KEYS['joints_hm']!r}/{BATCH_KEYS['joints_valid_2d']!r}"
            )
        if prediction.right.joints_hm is None or prediction.left.joints_hm is None:
            return "the prediction has no 2D joints (joints_hm)"
        return None

    def _joint_inputs_available(self, t: EvalTargets) -> tuple[bool, str]:
        if self.dataset == "hic":
            return False, "HIC has no joint annotations (InterWild's HIC protocol reports MPVPE and MRRPE only)"
        if t.joint_trunc_ih26m is None:
            return False, f"the batch has no {BATCH_KEYS['joint_trunc']!r} joint mask"
        if self.protocol.gt_joints == "mesh_regressed" and t.verts_cam is None:
            return False, "the protocol regresses GT joints from GT meshes, and the batch has none"
        if self.protocol.gt_joints == "annotated" and (t.joints_cam is None or t.joints_valid is None):
            return (
                False,
                f"the batch has no annotated joints {BATCH_KEYS['joints_cam']!r}/{BATCH_KEYS['joints_valid']!r}",
            )
        return True, ""

    def _joint_mask(self, t: EvalTargets) -> Tensor:
        """``(B, 2, 21)`` which joint slots (wrist-first) are scored, before the missing-fit rule."""
        b = t.batch_size
        trunc = t.joint_trunc_ih26m.reshape(b, 2, NUM_JOINTS)  # InterHand2.6M order per hand
        if self.protocol.joint_mask == "ih26m_order_unremapped":
            # The official InterHand26M.evaluate indexes the IH2.6M-order mask with wrist-first joint indices,
            # so slot j (wrist-first) is scored when IH2.6M joint j is valid.
            mask = trunc
        else:
            mask = trunc[:, :, list(IH26M_TO_JOINTS_21)]  # (B, 2, 21) now wrist-first
        if self.protocol.joint_mask_uses_3d_validity:
            mask = mask & t.joints_valid.reshape(b, 2, NUM_JOINTS)
        return mask

    # ------------------------------------------------------------------------------------------------------------
    # reduction

    def gathered_records(self) -> tuple[Records, int]:
        """All ranks' records, de-duplicated by ``annot_id``; returns the records and the number of dropped rows."""
        parts = self._gather(Records.concat(self._parts))
        if len(parts) > 1 and self._numbered_locally:
            raise InvalidInputError(
                f"distributed evaluation needs {BATCH_KEYS['annot_id']!r} in every batch to drop the samples a "
                "DistributedSampler repeats; the dataset does not provide it"
            )
        return deduplicate(Records.concat(parts))

    def compute(self) -> EvalResult:
        """Reduce everything accumulated (on all ranks) into an :class:`EvalResult`."""
        records, dropped = self.gathered_records()
        return reduce_records(
            records,
            self.protocol,
            dataset=self.dataset,
            subset=self.subset,
            missing=dict(self._missing),
            duplicates_dropped=dropped,
            sequence_names=self.sequence_names,
            notes=self._notes,
            gt_hand_model=self.gt_hand_model,
        )


# ----------------------------------------------------------------------------------------------------------------
# reduction of records to results


_CATEGORY_WORDS = {
    "all": "images",
    "single": "single-hand images",
    "interacting": "interacting-hand images",
    "right": "images",
    "left": "images",
}
_WHAT = {
    "mpjpe_mm": "scored joint",
    "pa_mpjpe_mm": "hand with 3+ scored joints and a ground truth",
    "mpvpe_mm": "ground-truth mesh for the scored hand",
    "mrrpe_mm": "pair of valid wrists",
    "joints2d_err_px": "joint with a valid 2D annotation",
}


def _category_image_counts(hand_type: np.ndarray, group: np.ndarray, num_groups: int) -> dict[str, np.ndarray]:
    single = hand_type != 2
    return {
        "all": np.bincount(group, minlength=num_groups),
        "single": np.bincount(group[single], minlength=num_groups),
        "interacting": np.bincount(group[~single], minlength=num_groups),
        "right": np.bincount(group, minlength=num_groups),
        "left": np.bincount(group, minlength=num_groups),
    }


def _metric_values(
    metric: str,
    reduced: Mapping[str, Reduced],
    images: Mapping[str, np.ndarray],
    g: int,
    missing: Mapping[str, str],
    subset: str,
    official_nan_note: bool,
    scope: str | None = None,
    slot_notes: bool = True,
) -> dict[str, MetricValue]:
    """``{category: MetricValue}`` of group ``g``; ``scope`` names where an empty category found nothing."""
    scope = scope or f"the evaluated set (subset {subset})"
    out: dict[str, MetricValue] = {}
    for category, red in reduced.items():
        count = int(red.count[g])
        value = float(red.value[g]) if count > 0 and np.isfinite(red.value[g]) else None
        note = None
        if value is None:
            n_images = int(images[category][g])
            if count > 0:
                # A NaN/inf error is a broken prediction, not an empty category: say so instead of averaging it away.
                reason = (
                    f"{count} contributing entries include non-finite errors (the prediction holds NaN/inf, or a "
                    "zero-length wrist-to-Middle_1 bone under GT bone-length scaling)"
                )
            elif metric in missing:
                reason = missing[metric]
            elif n_images == 0:
                reason = f"no {_CATEGORY_WORDS[category]} in {scope}"
            else:
                hand = f" {category}-hand" if category in ("right", "left") else ""
                reason = f"{n_images} {_CATEGORY_WORDS[category]}, none with a{hand} {_WHAT[metric]}"
                if metric == "mpjpe_mm" and hand:
                    reason = f"{n_images} images, none with a scored {category}-hand joint"
                elif metric == "joints2d_err_px" and hand:
                    reason = f"{n_images} images, none with a valid 2D {category}-hand joint"
            if official_nan_note:
                reason += "; the official print_eval_result would print NaN here"
            out[category] = MetricValue(None, count, reason=reason, unit=metric_unit(metric))
            continue
        if slot_notes and red.empty_slots[g] > 0:
            note = (
                f"{int(red.empty_slots[g])} joint slot(s) had no sample and were left out of the mean of slot means"
                + ("; the official print_eval_result would print NaN" if official_nan_note else "")
            )
        out[category] = MetricValue(value, count, note=note, unit=metric_unit(metric))
    return out


def _mpvpe_entries(r: Records, rule: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-category ``(values, sample index)`` entries of MPVPE under the protocol's rule for interacting images."""
    n = len(r)
    idx = np.arange(n)
    ht = r.hand_type.astype(np.int64)
    single = ht != 2
    # single-hand images: the annotated hand, when it has a GT mesh (official, InterWild)
    hand = np.clip(ht, 0, 1)
    sh_ok = single & r.vert_counted[idx, hand]
    sh_val = r.vert_err[idx, hand]
    ih = ~single
    entries_val = [sh_val[sh_ok]]
    entries_idx = [idx[sh_ok]]
    by_hand: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"right": [], "left": []}
    for h, name in enumerate(("right", "left")):
        ok = sh_ok & (ht == h)
        by_hand[name].append((r.vert_err[ok, h], idx[ok]))
    if rule == "mean_of_both_hands":
        both = ih & r.vert_counted.all(axis=1)
        entries_val.append(r.vert_err[both].astype(np.float64).mean(axis=1))
        entries_idx.append(idx[both])
        for h, name in enumerate(("right", "left")):
            by_hand[name].append((r.vert_err[both, h], idx[both]))
    else:  # per_hand
        for h, name in enumerate(("right", "left")):
            ok = ih & r.vert_counted[:, h]
            entries_val.append(r.vert_err[ok, h])
            entries_idx.append(idx[ok])
            by_hand[name].append((r.vert_err[ok, h], idx[ok]))
    vals = np.concatenate(entries_val).astype(np.float64)
    sidx = np.concatenate(entries_idx)
    out = {"all": (vals, sidx), "single": (vals[single[sidx]], sidx[single[sidx]])}
    out["interacting"] = (vals[~single[sidx]], sidx[~single[sidx]])
    for name, parts in by_hand.items():
        out[name] = (np.concatenate([p[0] for p in parts]).astype(np.float64), np.concatenate([p[1] for p in parts]))
    return out


def _reduce_all(r: Records, protocol: Protocol, group: np.ndarray, num_groups: int) -> dict[str, dict[str, Reduced]]:
    interacting = r.hand_type == 2
    reduced: dict[str, dict[str, Reduced]] = {}
    mode = protocol.mpjpe_aggregation
    reduced["mpjpe_mm"] = reduce_joint_errors(r.joint_err, r.joint_counted, interacting, group, num_groups, mode)
    reduced["pa_mpjpe_mm"] = reduce_joint_errors(r.pa_err, r.pa_counted, interacting, group, num_groups, mode)
    vp = _mpvpe_entries(r, protocol.mpvpe_interacting)
    reduced["mpvpe_mm"] = {c: reduce_values(v, group[i], num_groups) for c, (v, i) in vp.items()}
    m = r.mrrpe_counted
    reduced["mrrpe_mm"] = {
        "all": reduce_values(r.mrrpe[m], group[m], num_groups),
        "single": reduce_values(r.mrrpe[m & ~interacting], group[m & ~interacting], num_groups),
        "interacting": reduce_values(r.mrrpe[m & interacting], group[m & interacting], num_groups),
    }
    # 2D: each image's mean over its valid joints, then over images, under every protocol (not an official metric).
    reduced["joints2d_err_px"] = reduce_joint_errors(
        r.joint2d_err, r.joint2d_counted, interacting, group, num_groups, "sample_weighted"
    )
    return reduced


def reduce_records(
    records: Records,
    protocol: Protocol,
    *,
    dataset: str,
    subset: str,
    missing: Mapping[str, str] | None = None,
    duplicates_dropped: int = 0,
    sequence_names: Sequence[str] | None = None,
    notes: Sequence[str] = (),
    gt_hand_model: str = "mano",
) -> EvalResult:
    """Turn de-duplicated per-sample records into an :class:`EvalResult` (overall, per sequence, Figure 9).

    Args:
        records: per-sample records (no duplicates).
        protocol: the protocol they were scored under (decides the aggregation).
        dataset: dataset name, recorded.
        subset: subset label, recorded.
        missing: ``{metric: reason}`` for metrics the inputs could not support.
        duplicates_dropped: recorded.
        sequence_names: names of the sequence ids (the dataset's ``seq_names``); ids are shown otherwise.
        notes: extra notes to report.
        gt_hand_model: the ground truth's hand model, recorded.
    """
    missing = dict(missing or {})
    r = records
    n = len(r)
    official = protocol.name == "official"
    zeros = np.zeros(n, dtype=np.int64)
    reduced = _reduce_all(r, protocol, zeros, 1)
    images = _category_image_counts(r.hand_type, zeros, 1)
    metrics = {
        name: _metric_values(name, cats, images, 0, missing, subset, official and name in ("mpjpe_mm", "mpvpe_mm"))
        for name, cats in reduced.items()
    }
    metrics = {k: metrics[k] for k in METRIC_ORDER}  # the order in which results print
    single = r.hand_type != 2
    counts = {
        "all": n,
        "single": int(single.sum()),
        "interacting": int((~single).sum()),
        "right": int((r.hand_type == 0).sum()),
        "left": int((r.hand_type == 1).sum()),
    }

    per_joint = None
    if protocol.mpjpe_aggregation == "per_joint_mean":
        per_joint = {}
        for cat in ("single", "interacting"):
            slots = reduced["mpjpe_mm"][cat].slot_means[0]
            per_joint[cat] = [None if not np.isfinite(v) else float(v) for v in slots]

    notes = _notes(r, protocol, dataset, subset, missing) + list(notes)

    # per sequence
    per_sequence: list[SequenceResult] = []
    figure9: list[dict[str, Any]] = []
    has_seq = r.seq_id >= 0
    if has_seq.any():
        if not has_seq.all():
            notes.append(
                f"{int((~has_seq).sum())} sample(s) without a sequence id are left out of per-sequence results"
            )
        uniq, codes = np.unique(r.seq_id[has_seq], return_inverse=True)
        r_seq = r.select(np.flatnonzero(has_seq))
        num_groups = len(uniq)
        seq_reduced = _reduce_all(r_seq, protocol, codes, num_groups)
        seq_images = _category_image_counts(r_seq.hand_type, codes, num_groups)
        pose_ok = r_seq.pose_diff_valid & (r_seq.hand_type == 2)
        pose_sum = np.bincount(
            codes[pose_ok], weights=r_seq.pose_diff[pose_ok].astype(np.float64), minlength=num_groups
        )
        pose_cnt = np.bincount(codes[pose_ok], minlength=num_groups)
        names = [_sequence_name(int(i), sequence_names) for i in uniq]
        for g, name in enumerate(names):
            seq_metrics = {}
            for metric in METRIC_ORDER:
                cats = {c: v for c, v in seq_reduced[metric].items() if c in _SEQ_CATEGORIES}
                seq_metrics[metric] = _metric_values(
                    metric, cats, seq_images, g, missing, subset, False, scope="this sequence", slot_notes=False
                )
            pose = float(pose_sum[g] / pose_cnt[g]) if pose_cnt[g] else None
            per_sequence.append(
                SequenceResult(
                    sequence=name,
                    seq_id=int(uniq[g]),
                    num_samples=int(seq_images["all"][g]),
                    num_interacting=int(seq_images["interacting"][g]),
                    pose_difference_deg=pose,
                    metrics=seq_metrics,
                )
            )
            mpjpe_ih = seq_metrics["mpjpe_mm"]["interacting"]
            if pose is not None and mpjpe_ih.value_mm is not None:
                figure9.append(
                    {
                        "sequence": name,
                        "pose_difference_deg": pose,
                        "mpjpe_interacting_mm": mpjpe_ih.value_mm,
                        "mpvpe_interacting_mm": seq_metrics["mpvpe_mm"]["interacting"].value_mm,
                        "num_images": int(pose_cnt[g]),
                    }
                )
    elif n:
        notes.append("the batches carried no sequence ids: no per-sequence results or Figure 9 analysis")

    return EvalResult(
        protocol=protocol,
        dataset=dataset,
        subset=subset,
        num_samples=n,
        num_duplicates_dropped=duplicates_dropped,
        sample_counts=counts,
        metrics=metrics,
        per_joint_mpjpe_mm=per_joint,
        per_sequence=per_sequence,
        figure9=figure9,
        notes=notes,
        gt_hand_model=gt_hand_model,
    )


def _sequence_name(seq_id: int, names: Sequence[str] | None) -> str:
    if names is not None and 0 <= seq_id < len(names):
        return str(names[seq_id])
    return f"sequence {seq_id}"


def _notes(r: Records, protocol: Protocol, dataset: str, subset: str, missing: Mapping[str, str]) -> list[str]:
    notes: list[str] = []
    if dataset == "interhand26m" and subset != protocol.ih26m_subset:
        notes.append(
            f"evaluated subset {subset!r} differs from the {protocol.name} preset's {protocol.ih26m_subset!r}: "
            "numbers are not comparable with papers that use this preset"
        )
    if protocol.gt_joints == "mesh_regressed":
        hands = int(r.missing_fit.sum())
        if hands:
            if protocol.missing_mesh == "zero_gt":
                notes.append(
                    f"{hands} hand(s) with valid joints but no NeuralAnnot fit were scored 0 mm per joint, as the "
                    "official evaluator does (it scores a hand without a fit against an all-zero mesh, so the "
                    "prediction is scaled to 0): MPJPE is biased low"
                )
            else:
                notes.append(f"{hands} hand(s) with valid joints but no NeuralAnnot fit were not scored")
    if protocol.name == "official":
        notes.append("MRRPE, PA-MPJPE and the 2D joint error are not computed by the official code; they are extras")
    if "joints2d_err_px" not in missing:
        notes.append(JOINTS2D_DEFINITION)
    for metric, why in missing.items():
        notes.append(f"{metric}: {why}")
    return notes
