"""The contract between the data pipeline, the losses and evaluation: what one sample and one batch hold.

A training/testing dataset (:class:`eanet.data.interhand26m.InterHand26M`, :class:`eanet.data.hic.HIC`) returns one
``dict[str, np.ndarray | scalar]`` per sample; :class:`eanet.data.collate.Collator` stacks samples into a batch of
``torch.Tensor`` with a leading batch dimension ``B`` and adds the hand-model geometry targets (``mano_joints_*``,
``mano_verts_cam``, ``mano_root_cam``) in one batched hand-model pass (see "Hand-model targets" below).

Conventions (the project's, see :mod:`eanet.structures`):

* Two-hand arrays stack the **right hand first** (joints 0-20, hand index 0) then the **left** (21-41, index 1),
  each in the **wrist-first** order :data:`eanet.hand_model.skeleton.JOINTS_21`. The dataset's own order
  (InterHand2.6M: tip first, wrist last) is converted once, in :mod:`eanet.data.release`; the only array kept in the
  dataset's order is ``joints_valid_2d_ih26m`` (for reproducing the official ``InterHand26M.evaluate``).
* "right"/"left" always mean the hand *as it appears in the returned image*: after a horizontal flip the image's
  left hand is the original right hand mirrored, and it sits in the right slot.
* Units: metres for every 3D quantity, pixels for ``_img`` and crop quantities, heatmap units for ``_hm``
  (x, y in ``[0, heatmap_w)``/``[0, heatmap_h)`` output-grid pixels, ``z`` in depth bins ``[0, D)``:
  ``z_hm = (z_rootrel_m / (bbox_3d_size / 2) + 1) / 2 * D`` with ``bbox_3d_size = 0.3``).
* ``_cam`` quantities live in the **augmented camera frame**: the camera frame of the release (OpenCV: x right,
  y down, z forward), mirrored in x when ``do_flip`` and rotated about the optical axis by ``-rot_deg`` (the 3D
  rotation augmentation). ``aug_rotmat`` is that linear map. With augmentation off (test mode,
  every evaluation) it is the identity and ``_cam`` is the release's camera frame.
* Masks are float32 0/1 arrays (multiply them into losses); ids and indices are int64; flags bool.
* Invalid entries hold finite placeholders (zeros, or the release's value) that a mask always excludes: nothing
  unmasked is ever a made-up zero.

Per-sample keys of the InterHand2.6M dataset (shapes without the batch dimension):

Input
    ``img`` (3, H, W) float32, RGB in [0, 1]; no mean/std normalisation (as the official code).

InterHand2.6M joint targets (annotated 3D joints)
    ``joints_hm`` (42, 3): joints in heatmap units (x, y from the crop, z = wrist-relative depth in bins).
    ``joints_cam`` (42, 3) m: joints relative to their hand's wrist, augmented camera frame.
    ``joints_root_cam`` (2, 3) m: absolute wrist positions (right, left), augmented camera frame.
    ``rel_trans`` (3,) m: left wrist minus right wrist (``joints_root_cam[1] - joints_root_cam[0]``).
    ``joints_valid`` (42,): 3D validity from ``joint_3d.json`` ANDed with the hand's wrist validity.
    ``joints_trunc`` (42,): ``joints_valid`` and inside the heatmap volume ``[0, w) x [0, h) x [0, D)`` (the official
        ``joint_trunc``, computed from the 3D validity as the official loader does).
    ``joints_valid_2d`` (42,): the data JSON's ``joint_valid`` (annotated and inside the image) ANDed with the wrist.
    ``joints_valid_2d_ih26m`` (42,): the same in the InterHand2.6M order (tip first, wrist at 20/41). The official
        evaluator (``InterHand26M.evaluate``) applies this mask, in this order, to wrist-first predictions; an
        evaluator that reproduces the official numbers uses it, a correct one uses ``joints_valid_2d``.
    ``rel_trans_valid`` (): both wrists valid in 3D.
    ``joints_gt_cam`` (42, 3) m: the annotated joints, absolute, in the augmented camera frame (for the wrist-rooted
        protocol; ``joints_cam`` is this minus ``joints_root_cam``).

Hand-model (NeuralAnnot MANO) parameter targets
    ``mano_pose_aa`` (2, 48): root rotation (3, augmented camera frame) then 15 finger rotations (45), axis-angle,
        relative to the mean hand (``flat_hand_mean=False``). After a flip every joint's axis-angle is mirrored
        ``(x, -y, -z)`` and the hands are swapped.
    ``mano_betas`` (2, 10): shape; set to 0 when any ``|beta| > betas_clamp`` (3, official) while staying valid.
    ``mano_valid`` (2,): 1 when the frame has a NeuralAnnot fit for that hand.
    ``mano_pose_valid`` (2,), ``mano_betas_valid`` (2,): equal to ``mano_valid`` (kept separate for the losses).

Hand-model geometry inputs (what the batched pass in the collator / on the device needs)
    ``mano_geom_pose_aa`` (2, 48): the slot's hand before augmentation: root rotation in the release's camera frame.
    ``mano_geom_betas`` (2, 10): its unclamped betas.
    ``mano_geom_trans_cam`` (2, 3) m: translation such that ``hand_model[side](pose, betas, transl)`` gives the hand in
        the release's camera frame *exactly* (computed without a mesh; :func:`eanet.data.mano_params.world_to_camera`).
    ``mano_geom_side`` (2,) int64: which hand model produced the slot's hand (0 right, 1 left): the other one
        after a flip.
    ``aug_rotmat`` (3, 3): the map from the release's camera frame to the augmented frame (``diag(-1, 1, 1)`` for a
        flip, then the rotation about z by ``-rot_deg``).

Hand-model targets (added per batch by :class:`eanet.data.collate.ManoTargetBuilder`)
    ``mano_joints_cam`` (42, 3) m: joints regressed from the mesh (the hand model's training fingertips; for MANO
        vertices 745/317/**445**/556/673, ``skeleton.MANO_TIP_VERTICES_TRAIN``; for another model its
        ``HandModelLayer.tip_vertices``), wrist-relative, augmented camera frame. Zero where ``mano_valid`` is 0.
    ``mano_joints_hm`` (42, 3): the same in heatmap units (projected with the camera, flipped, cropped).
    ``mano_joints_valid`` (42,): ``mano_valid`` per joint.
    ``mano_joints_trunc`` (42,): valid and inside the heatmap volume.
    ``mano_root_cam`` (2, 3) m: the hand model's wrist (joint 0 of the regressed joints), absolute, augmented frame.
    ``mano_verts_cam`` (2, V, 3) m: vertices, absolute, augmented camera frame (V from the hand model: 778 for
        MANO). At test time this is the NeuralAnnot mesh in the camera frame that the official evaluation compares
        against. (The official loader returns this mesh un-augmented but hand-swapped under flip; it never uses it
        in training.)

Evaluation and bookkeeping meta
    ``is_3d`` (): 1.0 (InterHand2.6M has 3D annotations for every sample).
    ``hand_type`` () int64: 0 right, 1 left, 2 interacting (right/left swapped under flip).
    ``hand_type_valid`` (): the release's ``hand_type_valid``.
    ``index`` () int64: position in the dataset (stable; evaluation aligns outputs with it).
    ``annot_id``, ``image_id``, ``capture``, ``frame_idx`` () int64: the release's ids.
    ``seq_id``, ``camera_id`` () int64: indices into ``dataset.seq_names`` / ``dataset.camera_names``.
    ``bbox`` (4,) float32: the crop box ``(x, y, w, h)`` in original-image pixels, before the scale augmentation.
    ``img2bb_trans``, ``bb2img_trans`` (2, 3): affine maps between the (flipped, when ``do_flip``) original image
        and the crop of size ``input_size``.
    ``do_flip`` () bool; ``rot_deg`` (), ``scale`` (), ``color_scale`` (3,): the augmentation drawn.
    ``focal`` (2,), ``princpt`` (2,) pixels; ``cam_rot`` (3, 3) world-to-camera rotation, ``cam_trans`` (3,) m, so
        ``X_cam = cam_rot @ X_world + cam_trans`` (the release's ``campos`` is mm and a camera centre).
    ``img_shape`` (2,) int64: original image (height, width).

The HIC dataset (test only) returns the subset that makes sense without 3D joints: ``img``, ``mano_verts_cam``
(2, 778, 3) absolute camera frame from the PLY meshes (the evaluator regresses the wrists from them), ``mano_valid``,
``hand_type``, ``hand_type_valid``, ``index``, ``annot_id``, ``image_id``, ``bbox``,
``img2bb_trans``, ``bb2img_trans``, ``do_flip``, ``rot_deg``, ``scale``, ``color_scale``, ``focal``, ``princpt``,
``img_shape``. See :data:`HIC_SAMPLE_KEYS`.

The batch: a ``dict[str, Tensor]`` with the keys above plus ``"skipped"``, a ``list[SkippedSample]`` of samples that
could not be read (missing or corrupt image). In training mode the dataset replaced each of them with the next
readable sample (so batches keep their size); in test mode they are dropped and the batch is smaller (it may even
hold ``"skipped"`` only). :class:`SkipCounter` accumulates them for the end-of-epoch report.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "FieldSpec",
    "SAMPLE_FIELDS",
    "HAND_MODEL_TARGET_KEYS",
    "HIC_SAMPLE_KEYS",
    "SkippedSample",
    "SkipCounter",
    "check_sample",
    "HAND_TYPES",
]

logger = logging.getLogger(__name__)

#: ``hand_type`` values in order of their integer code.
HAND_TYPES: tuple[str, str, str] = ("right", "left", "interacting")


@dataclass(frozen=True)
class FieldSpec:
    """Shape (``"V"`` = hand-model vertices, ``"H"``/``"W"`` = input size), dtype kind and a one-line meaning."""

    shape: tuple[int | str, ...]
    dtype: str  # "float32" | "int64" | "bool"
    doc: str


_F, _I, _B = "float32", "int64", "bool"

#: Every key of an InterHand2.6M training/testing sample, as returned by the dataset (before collation).
SAMPLE_FIELDS: dict[str, FieldSpec] = {
    "img": FieldSpec((3, "H", "W"), _F, "RGB crop in [0, 1]"),
    "joints_hm": FieldSpec((42, 3), _F, "IH2.6M joints, heatmap units"),
    "joints_cam": FieldSpec((42, 3), _F, "IH2.6M joints, wrist-relative, m"),
    "joints_root_cam": FieldSpec((2, 3), _F, "wrists, absolute, m"),
    "joints_gt_cam": FieldSpec((42, 3), _F, "IH2.6M joints, absolute, m"),
    "rel_trans": FieldSpec((3,), _F, "left wrist - right wrist, m"),
    "joints_valid": FieldSpec((42,), _F, "3D validity and wrist"),
    "joints_trunc": FieldSpec((42,), _F, "joints_valid and inside the heatmap volume"),
    "joints_valid_2d": FieldSpec((42,), _F, "data-JSON validity and wrist"),
    "joints_valid_2d_ih26m": FieldSpec((42,), _F, "joints_valid_2d in the IH2.6M order"),
    "rel_trans_valid": FieldSpec((), _F, "both wrists valid"),
    "mano_pose_aa": FieldSpec((2, 48), _F, "hand-model pose target, augmented camera frame"),
    "mano_betas": FieldSpec((2, 10), _F, "hand-model shape target (clamped)"),
    "mano_valid": FieldSpec((2,), _F, "NeuralAnnot fit present"),
    "mano_pose_valid": FieldSpec((2,), _F, "= mano_valid"),
    "mano_betas_valid": FieldSpec((2,), _F, "= mano_valid"),
    "mano_geom_pose_aa": FieldSpec((2, 48), _F, "source-hand pose, release camera frame"),
    "mano_geom_betas": FieldSpec((2, 10), _F, "source-hand betas, unclamped"),
    "mano_geom_trans_cam": FieldSpec((2, 3), _F, "source-hand translation, release camera frame, m"),
    "mano_geom_side": FieldSpec((2,), _I, "hand model of the source hand (0 right, 1 left)"),
    "aug_rotmat": FieldSpec((3, 3), _F, "release camera frame -> augmented frame"),
    "is_3d": FieldSpec((), _F, "1.0"),
    "hand_type": FieldSpec((), _I, "0 right, 1 left, 2 interacting"),
    "hand_type_valid": FieldSpec((), _F, "release hand_type_valid"),
    "index": FieldSpec((), _I, "dataset index"),
    "annot_id": FieldSpec((), _I, "annotation id"),
    "image_id": FieldSpec((), _I, "image id"),
    "capture": FieldSpec((), _I, "capture id"),
    "frame_idx": FieldSpec((), _I, "frame index"),
    "seq_id": FieldSpec((), _I, "index into dataset.seq_names"),
    "camera_id": FieldSpec((), _I, "index into dataset.camera_names"),
    "bbox": FieldSpec((4,), _F, "crop box xywh, original image px"),
    "img2bb_trans": FieldSpec((2, 3), _F, "(flipped) image -> crop"),
    "bb2img_trans": FieldSpec((2, 3), _F, "crop -> (flipped) image"),
    "do_flip": FieldSpec((), _B, "horizontal flip applied"),
    "rot_deg": FieldSpec((), _F, "in-plane rotation, degrees"),
    "scale": FieldSpec((), _F, "crop scale factor"),
    "color_scale": FieldSpec((3,), _F, "per-channel colour factor"),
    "focal": FieldSpec((2,), _F, "px"),
    "princpt": FieldSpec((2,), _F, "px"),
    "cam_rot": FieldSpec((3, 3), _F, "world -> camera rotation"),
    "cam_trans": FieldSpec((3,), _F, "world -> camera translation, m"),
    "img_shape": FieldSpec((2,), _I, "original (height, width)"),
}

#: Keys the batched hand-model pass adds (:class:`eanet.data.collate.ManoTargetBuilder`).
HAND_MODEL_TARGET_KEYS: dict[str, FieldSpec] = {
    "mano_joints_cam": FieldSpec((42, 3), _F, "hand-model joints, wrist-relative, m"),
    "mano_joints_hm": FieldSpec((42, 3), _F, "hand-model joints, heatmap units"),
    "mano_joints_valid": FieldSpec((42,), _F, "mano_valid per joint"),
    "mano_joints_trunc": FieldSpec((42,), _F, "valid and inside the heatmap volume"),
    "mano_root_cam": FieldSpec((2, 3), _F, "hand-model wrists, absolute, m"),
    "mano_verts_cam": FieldSpec((2, "V", 3), _F, "hand-model vertices, absolute, m"),
}

#: Keys of a HIC sample (a subset of the above, ``mano_verts_cam`` read from the PLY meshes with V = 778).
HIC_SAMPLE_KEYS: tuple[str, ...] = (
    "img", "mano_verts_cam", "mano_valid", "hand_type", "hand_type_valid", "index", "annot_id", "image_id",
    "bbox", "img2bb_trans", "bb2img_trans", "do_flip", "rot_deg", "scale", "color_scale", "focal", "princpt",
    "img_shape",
)  # fmt: skip


@dataclass(frozen=True)
class SkippedSample:
    """A sample whose image could not be used. Picklable, so it travels from data-loader workers in the batch."""

    index: int
    path: str
    reason: str  # "missing" | "corrupt" | "truncated" | ...


class SkipCounter:
    """Counts skipped samples over an epoch (the training loop feeds it ``batch["skipped"]``) and reports them.

    A two-day run must not die on one bad file, and must not hide it either: :meth:`report` logs the count by reason
    and the first few paths at WARNING level.
    """

    def __init__(self) -> None:
        self.items: list[SkippedSample] = []

    def update(self, skipped: Iterable[SkippedSample]) -> None:
        self.items.extend(skipped)

    def __len__(self) -> int:
        return len(self.items)

    def by_reason(self) -> dict[str, int]:
        return dict(Counter(s.reason for s in self.items))

    def report(self, what: str = "epoch", max_paths: int = 10) -> str:
        """Log and return a one-paragraph summary; then reset the counter."""
        if not self.items:
            return ""
        paths = sorted({s.path for s in self.items})
        reasons = ", ".join(f"{n} {r}" for r, n in sorted(self.by_reason().items()))
        text = f"{what}: skipped {len(self.items)} sample(s) with unreadable images ({reasons}); " + ", ".join(
            paths[:max_paths]
        )
        if len(paths) > max_paths:
            text += f", ... ({len(paths) - max_paths} more)"
        logger.warning("%s", text)
        self.items = []
        return text


def check_sample(sample: Mapping[str, Any], fields: Mapping[str, FieldSpec] = SAMPLE_FIELDS) -> None:
    """Raise ``AssertionError`` naming the key when a sample does not follow the contract (used in tests)."""
    for key, spec in fields.items():
        assert key in sample, f"sample lacks {key!r}"
        value = np.asarray(sample[key])
        assert value.ndim == len(spec.shape), f"{key}: expected {len(spec.shape)} dims, got shape {value.shape}"
        for got, want in zip(value.shape, spec.shape, strict=True):
            assert isinstance(want, str) or got == want, f"{key}: expected shape {spec.shape}, got {value.shape}"
        assert value.dtype == np.dtype(spec.dtype), f"{key}: expected {spec.dtype}, got {value.dtype}"
        if value.dtype.kind == "f":
            assert np.isfinite(value).all(), f"{key} holds non-finite values"
