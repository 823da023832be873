"""Training losses: the official code's eight masked L1 terms, plus the optional vertex term.

The official terms are those of ``Model.forward`` (``main/model.py:76-86``) and ``common/nets/loss.py``.

Every term is an L1 distance multiplied by a validity mask, reduced with ``.mean()`` over **all** elements of the
per-element tensor (masked-out zeros included), then multiplied by its weight. The total loss is the plain sum of the
returned terms. Weights (official release, and the authors' list in jkpark0825/EANet#2):

=================  ==================================  =============================  ==========================  ==
key                prediction                          target (batch key)             mask                        w
=================  ==================================  =============================  ==========================  ==
rel_trans          ``pred.rel_trans``                  ``rel_trans``                  ``rel_trans_valid``          1
mano_pose          root + finger axis-angle, 2x48      ``mano_pose_aa``               ``mano_pose_valid``          1
mano_betas         betas, 2x10                         ``mano_betas``                 ``mano_betas_valid``         1
joints_cam         hand-model joints, wrist-relative   ``joints_cam`` (annotated)     ``joints_valid * is_3d``    10
mano_joints_cam    hand-model joints, wrist-relative   ``mano_joints_cam`` (fitted)   ``mano_joints_valid``       10
joints_hm          2.5D heatmap joints                 ``joints_hm``                  ``joints_trunc`` (z: is_3d)  1
mano_joints_hm     2.5D heatmap joints                 ``mano_joints_hm``             ``mano_joints_trunc``        1
joints_proj        weak-perspective x, y               ``joints_hm[..., :2]``         ``joints_valid``             1
verts_cam          hand-model vertices, wrist-rel.     ``mano_verts_cam - root``      ``mano_valid``               0
=================  ==================================  =============================  ==========================  ==

The vertex term is the "mesh" loss of the authors' list in issue #2, which the released code does not have: it is
off (weight 0, not computed) unless its weight is set.

Non-finite values: the official code replaces every NaN of the per-element loss by 0 ("prevent NaN loss"). Here a
masked-out element is exactly 0 whatever its prediction or target hold (so NaN/inf placeholders in invalid targets
neither reach the loss nor its gradient), but a NaN at a *valid* element is kept: it makes the loss non-finite, and
the trainer skips and counts that step instead of silently training on a zeroed term. Whenever the
official loss is finite, the two give identical values.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from eanet.structures import TwoHandPrediction

__all__ = ["DEFAULT_LOSS_WEIGHTS", "LOSS_TERMS", "masked_l1", "compute_losses", "total_loss"]

#: Loss terms in the official order, with the official weights; ``verts_cam`` is the optional vertex term.
DEFAULT_LOSS_WEIGHTS: dict[str, float] = {
    "rel_trans": 1.0,
    "mano_pose": 1.0,
    "mano_betas": 1.0,
    "joints_cam": 10.0,
    "mano_joints_cam": 10.0,
    "joints_hm": 1.0,
    "mano_joints_hm": 1.0,
    "joints_proj": 1.0,
    "verts_cam": 0.0,
}
LOSS_TERMS: tuple[str, ...] = tuple(DEFAULT_LOSS_WEIGHTS)


def _broadcast_mask(valid: Tensor, shape: torch.Size, name: str) -> Tensor:
    """View a validity mask so that it broadcasts against a per-element loss of ``shape``.

    The mask may carry fewer trailing dimensions than the loss (one flag per sample, per hand, per joint, ...) and may
    flatten leading ones (``(B, 42)`` for a ``(B, 2, 21, 3)`` loss): the first ``k`` loss dimensions whose product
    matches the mask's size per sample are kept and the rest become broadcast axes.
    """
    batch = shape[0]
    per_sample = valid.numel() // max(batch, 1)
    if valid.shape[:1] != shape[:1] or per_sample * batch != valid.numel():
        raise ValueError(f"mask {name!r} of shape {tuple(valid.shape)} does not match a loss of shape {tuple(shape)}")
    size = 1
    for k in range(1, len(shape) + 1):
        if size == per_sample:
            return valid.reshape(batch, *shape[1:k], *([1] * (len(shape) - k)))
        if k < len(shape):
            size *= shape[k]
    raise ValueError(f"mask {name!r} of shape {tuple(valid.shape)} does not match a loss of shape {tuple(shape)}")


def masked_l1(pred: Tensor, target: Tensor, valid: Tensor, name: str = "loss") -> Tensor:
    """Per-element masked L1, ``|pred - target| * valid``, exactly zero where ``valid == 0``.

    Args:
        pred: ``(B, ...)`` prediction.
        target: target with as many elements as ``pred`` (reshaped to ``pred.shape``).
        valid: mask broadcastable after :func:`_broadcast_mask` (0/1 or weights), any float or bool dtype.
        name: the term's name, for error messages.

    Returns:
        ``pred.shape`` per-element loss (reduce it with ``.mean()``).
    """
    if target.numel() != pred.numel():
        raise ValueError(f"{name}: target of shape {tuple(target.shape)} does not match prediction {tuple(pred.shape)}")
    target = target.reshape(pred.shape).to(pred.dtype)
    valid = _broadcast_mask(valid, pred.shape, name).to(pred.dtype)
    keep = valid != 0
    # where() before abs(): a NaN/inf placeholder in a masked-out target gets a zero gradient, not NaN.
    diff = torch.where(keep, pred - target, torch.zeros((), dtype=pred.dtype, device=pred.device))
    return diff.abs() * valid


def _two_hands(pred: TwoHandPrediction, attr: str) -> Tensor:
    """Stack one field of both hands on a hand axis: ``(B, 2, ...)``, right first (the official ``th`` order)."""
    return torch.stack([getattr(pred.right, attr), getattr(pred.left, attr)], dim=1)  # (B, 2, ...)


def _require(batch: Mapping[str, Tensor], key: str, term: str) -> Tensor:
    if key not in batch:
        raise KeyError(
            f"loss term {term!r} needs batch[{key!r}], which the data pipeline did not provide; "
            f"set train.loss_weights.{term}=0 to turn the term off"
        )
    return batch[key]


def compute_losses(
    pred: TwoHandPrediction,
    batch: Mapping[str, Tensor],
    weights: Mapping[str, float] | None = None,
) -> dict[str, Tensor]:
    """The weighted loss terms of one batch. Terms whose weight is 0 are not computed.

    Args:
        pred: network output for ``B`` images.
        batch: collated samples (see ``eanet.data.sample``): targets ``rel_trans (B, 3)``, ``mano_pose_aa (B, 96)``
            or ``(B, 2, 48)``, ``mano_betas (B, 20)`` or ``(B, 2, 10)``, ``joints_cam``/``mano_joints_cam``/
            ``joints_hm``/``mano_joints_hm`` ``(B, 42, 3)`` or ``(B, 2, 21, 3)`` (wrist-first order, right hand
            first), masks of the same leading shape with
            fewer trailing axes, and ``is_3d (B,)``. The vertex term also needs ``mano_verts_cam (B, 2, V, 3)`` and
            ``mano_root_cam (B, 2, 3)`` (absolute camera frame; the target is made wrist-relative) and
            ``mano_valid (B, 2)``.
        weights: per-term weights; missing keys take :data:`DEFAULT_LOSS_WEIGHTS`. Unknown keys are errors.

    Returns:
        ``{term: scalar}``, already multiplied by its weight, in :data:`LOSS_TERMS` order.
    """
    w = dict(DEFAULT_LOSS_WEIGHTS)
    if weights is not None:
        unknown = sorted(set(weights) - set(w))
        if unknown:
            raise KeyError(f"unknown loss term(s) {unknown}; known terms: {list(LOSS_TERMS)}")
        w.update({k: float(v) for k, v in weights.items()})
    batch_size = pred.rel_trans.shape[0]
    losses: dict[str, Tensor] = {}

    def add(term: str, per_element_fn) -> None:
        if w[term] == 0.0:
            return
        losses[term] = per_element_fn().mean() * w[term]

    is_3d = None
    if any(w[t] != 0.0 for t in ("joints_cam", "joints_hm")):
        is_3d = _require(batch, "is_3d", "joints_cam").reshape(batch_size).to(pred.rel_trans.dtype)  # (B,)

    def rel_trans() -> Tensor:
        return masked_l1(
            pred.rel_trans[:, None, :],  # (B, 1, 3)
            _require(batch, "rel_trans", "rel_trans"),
            _require(batch, "rel_trans_valid", "rel_trans"),
            "rel_trans",
        )

    def mano_pose() -> Tensor:
        pose = torch.stack([pred.right.pose_aa, pred.left.pose_aa], dim=1)  # (B, 2, 48)
        return masked_l1(
            pose,
            _require(batch, "mano_pose_aa", "mano_pose"),
            _require(batch, "mano_pose_valid", "mano_pose"),
            "mano_pose",
        )

    def mano_betas() -> Tensor:
        return masked_l1(
            _two_hands(pred, "betas"),  # (B, 2, 10)
            _require(batch, "mano_betas", "mano_betas"),
            _require(batch, "mano_betas_valid", "mano_betas"),
            "mano_betas",
        )

    def joints_cam() -> Tensor:
        joints = _two_hands(pred, "joints_cam")  # (B, 2, 21, 3)
        valid = _broadcast_mask(_require(batch, "joints_valid", "joints_cam"), joints.shape, "joints_valid")
        valid = valid.to(joints.dtype) * is_3d.view(-1, 1, 1, 1)  # (B, 2, 21, 1|3)
        return masked_l1(joints, _require(batch, "joints_cam", "joints_cam"), valid, "joints_cam")

    def mano_joints_cam() -> Tensor:
        return masked_l1(
            _two_hands(pred, "joints_cam"),  # (B, 2, 21, 3)
            _require(batch, "mano_joints_cam", "mano_joints_cam"),
            _require(batch, "mano_joints_valid", "mano_joints_cam"),
            "mano_joints_cam",
        )

    def joints_hm() -> Tensor:
        joints = _two_hands(pred, "joints_hm")  # (B, 2, 21, 3)
        per = masked_l1(joints, _require(batch, "joints_hm", "joints_hm"), _require(batch, "joints_trunc", "joints_hm"))
        # The depth coordinate only counts for samples with 3D annotation (official CoordLoss ``is_3D``).
        z_scale = torch.stack([torch.ones_like(is_3d), torch.ones_like(is_3d), is_3d], dim=1)  # (B, 3)
        return per * z_scale.view(-1, 1, 1, 3)

    def mano_joints_hm() -> Tensor:
        return masked_l1(
            _two_hands(pred, "joints_hm"),  # (B, 2, 21, 3)
            _require(batch, "mano_joints_hm", "mano_joints_hm"),
            _require(batch, "mano_joints_trunc", "mano_joints_hm"),
            "mano_joints_hm",
        )

    def joints_proj() -> Tensor:
        proj = _two_hands(pred, "joints_proj_hm")  # (B, 2, 21, 2)
        target = _require(batch, "joints_hm", "joints_proj").reshape(batch_size, 2, -1, 3)[..., :2]  # (B, 2, 21, 2)
        return masked_l1(proj, target, _require(batch, "joints_valid", "joints_proj"), "joints_proj")

    def verts_cam() -> Tensor:
        verts = _two_hands(pred, "verts_cam")  # (B, 2, V, 3)
        # The target mesh is absolute in the camera frame; the prediction is wrist-relative.
        root = _require(batch, "mano_root_cam", "verts_cam").reshape(batch_size, 2, 1, 3)  # (B, 2, 1, 3)
        target = _require(batch, "mano_verts_cam", "verts_cam").reshape(verts.shape) - root  # (B, 2, V, 3)
        return masked_l1(verts, target, _require(batch, "mano_valid", "verts_cam"), "verts_cam")

    for term, fn in (
        ("rel_trans", rel_trans),
        ("mano_pose", mano_pose),
        ("mano_betas", mano_betas),
        ("joints_cam", joints_cam),
        ("mano_joints_cam", mano_joints_cam),
        ("joints_hm", joints_hm),
        ("mano_joints_hm", mano_joints_hm),
        ("joints_proj", joints_proj),
        ("verts_cam", verts_cam),
    ):
        add(term, fn)
    return losses


def total_loss(losses: Mapping[str, Tensor]) -> Tensor:
    """Plain sum of the (already weighted) terms, as the official training loop."""
    if not losses:
        raise ValueError("no loss terms: every weight is 0")
    return torch.stack(list(losses.values())).sum()
