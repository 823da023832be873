"""The "mean pose" baseline: what a network that ignores the image would score.

A held-out error that halves during training says little on its own: a randomly initialised network predicts
nonsense, and predicting the *training set's average hand* may already halve it. This module builds that
image-blind predictor, so a run can report ``before -> after`` next to ``mean-pose baseline`` and a reader can see
whether the model learned from the pixels (docs/train.md).

The average is taken over the training split without augmentation, per hand: the camera-frame root rotation and
each of the 15 finger rotations as chordal L2 means (the rotation nearest, in Frobenius norm, to the average
matrix), the mean shape, and the mean relative translation of the two wrists. :class:`MeanPoseModel` returns it
for every image, through the network's own hand-model path (``EANet.hand_prediction``), so the evaluator scores
it exactly as it scores the network.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from eanet.geometry import axis_angle_to_rotmat, rotmat_to_rot6d
from eanet.hand_model.skeleton import HANDS, NUM_JOINTS
from eanet.model.heads import HandRegression
from eanet.structures import TwoHandPrediction

__all__ = [
    "MeanPose",
    "mean_training_pose",
    "MeanPoseModel",
    "mean_rotation",
    "mean_training_joints_hm",
    "MeanJoints2DModel",
]

logger = logging.getLogger(__name__)


@dataclass
class MeanPose:
    """Average training targets, right hand first.

    Attributes:
        pose_rotmat: ``(2, 16, 3, 3)`` root (camera frame) then finger rotations (relative to the mean hand).
        betas: ``(2, 10)`` shape.
        rel_trans: ``(3,)`` left wrist minus right wrist, camera frame, metres.
        counts: ``(2,)`` hands averaged per side.
    """

    pose_rotmat: Tensor
    betas: Tensor
    rel_trans: Tensor
    counts: tuple[int, int]


def mean_rotation(rotmats: Tensor) -> Tensor:
    """Chordal L2 mean of rotations: the rotation nearest to their average matrix.

    Args:
        rotmats: ``(N, ..., 3, 3)``, ``N >= 1``.

    Returns:
        ``(..., 3, 3)`` proper rotations (determinant +1).
    """
    avg = rotmats.mean(dim=0)  # (..., 3, 3)
    u, _, vh = torch.linalg.svd(avg)
    det = torch.det(u @ vh)  # (...,)
    fix = torch.ones_like(u[..., 0, :])  # (..., 3)
    fix[..., 2] = det
    return u @ torch.diag_embed(fix) @ vh  # (..., 3, 3)


def mean_training_pose(dataset, max_samples: int | None = None) -> MeanPose:
    """Average the hand-model targets of ``dataset`` (an ``eanet.data`` dataset built without augmentation).

    Args:
        dataset: map-style dataset of sample dicts with ``mano_pose_aa`` ``(2, 48)``, ``mano_betas`` ``(2, 10)``,
            ``mano_valid`` ``(2,)``, ``rel_trans`` ``(3,)`` and ``rel_trans_valid`` ``()``.
        max_samples: average over at most this many samples, evenly spaced (None: all).

    Raises:
        ValueError: when a hand has no valid target at all.
    """
    n = len(dataset)
    step = 1 if max_samples is None or max_samples >= n else n / max_samples
    indices = sorted({int(i * step) for i in range(n if step == 1 else max_samples)})
    rots: list[list[Tensor]] = [[], []]
    betas: list[list[Tensor]] = [[], []]
    rel: list[Tensor] = []
    for i in indices:
        sample = dataset[i]
        if "mano_pose_aa" not in sample:  # an unreadable sample's skip record
            continue
        pose = torch.as_tensor(sample["mano_pose_aa"], dtype=torch.float64).reshape(2, 16, 3)  # (2, 16, 3)
        valid = torch.as_tensor(sample["mano_valid"]).reshape(2)
        for h in range(2):
            if valid[h] > 0:
                rots[h].append(axis_angle_to_rotmat(pose[h]))  # (16, 3, 3)
                betas[h].append(torch.as_tensor(sample["mano_betas"], dtype=torch.float64).reshape(2, 10)[h])
        if float(sample["rel_trans_valid"]) > 0:
            rel.append(torch.as_tensor(sample["rel_trans"], dtype=torch.float64).reshape(3))
    for h, side in enumerate(HANDS):
        if not rots[h]:
            raise ValueError(f"no valid {side}-hand target among {len(indices)} training samples: no mean pose")
    pose_rotmat = torch.stack([mean_rotation(torch.stack(r)) for r in rots])  # (2, 16, 3, 3)
    mean_betas = torch.stack([torch.stack(b).mean(0) for b in betas])  # (2, 10)
    rel_trans = torch.stack(rel).mean(0) if rel else torch.zeros(3, dtype=torch.float64)  # (3,)
    return MeanPose(pose_rotmat.float(), mean_betas.float(), rel_trans.float(), (len(rots[0]), len(rots[1])))


class MeanPoseModel(nn.Module):
    """Predicts :class:`MeanPose` for every image, through ``network``'s hand-model path.

    Args:
        network: an :class:`eanet.model.EANet` (only its ``hand_models`` and ``hand_prediction`` are used).
        mean: the pose to predict.
    """

    def __init__(self, network: nn.Module, mean: MeanPose) -> None:
        super().__init__()
        self.network = network
        self.hand_models = network.hand_models
        self.register_buffer("root_pose_6d", rotmat_to_rot6d(mean.pose_rotmat[:, 0]), persistent=False)  # (2, 6)
        hand_6d = rotmat_to_rot6d(mean.pose_rotmat[:, 1:])  # (2, 15, 6)
        self.register_buffer("hand_pose_6d", hand_6d.reshape(2, 90), persistent=False)  # (2, 90)
        self.register_buffer("betas", mean.betas.clone(), persistent=False)  # (2, 10)
        self.register_buffer("rel_trans", mean.rel_trans.clone(), persistent=False)  # (3,)

    def forward(self, img: Tensor) -> TwoHandPrediction:
        B = img.shape[0]
        hands = {}
        for h, side in enumerate(HANDS):
            reg = HandRegression(
                root_pose_6d=self.root_pose_6d[h].expand(B, 6),
                hand_pose_6d=self.hand_pose_6d[h].expand(B, 90),
                betas=self.betas[h].expand(B, 10),
                cam=img.new_zeros(B, 3),
            )
            hands[side] = self.network.hand_prediction(side, reg, img.new_zeros(B, 21, 3))
        return TwoHandPrediction(right=hands["right"], left=hands["left"], rel_trans=self.rel_trans.expand(B, 3))


def mean_training_joints_hm(dataset, max_samples: int | None = None) -> Tensor:
    """The training set's mean annotated 2D joint positions in the crop (the image-blind 2D prediction).

    Per joint slot, the mean of ``joints_hm`` (heatmap units) over the samples whose 2D annotation is valid
    (``joints_valid_2d``); the depth column is averaged the same way. A slot no sample annotates gets the mean of
    the annotated slots (it is never scored against a valid joint in training data either).

    Args:
        dataset: map-style ``eanet.data`` dataset (built without augmentation).
        max_samples: at most this many samples, evenly spaced (None: all).

    Returns:
        ``(42, 3)`` float32, right hand's 21 wrist-first joints then the left's.

    Raises:
        ValueError: no sample has a valid 2D joint.
    """
    n = len(dataset)
    count = n if max_samples is None or max_samples >= n else max_samples
    indices = sorted({int(i * n / count) for i in range(count)})
    sums = torch.zeros(42, 3, dtype=torch.float64)
    counts = torch.zeros(42, dtype=torch.float64)
    for i in indices:
        sample = dataset[i]
        if "joints_hm" not in sample or "joints_valid_2d" not in sample:  # an unreadable sample's skip record
            continue
        valid = torch.as_tensor(sample["joints_valid_2d"], dtype=torch.float64).reshape(42)  # (42,)
        sums += torch.as_tensor(sample["joints_hm"], dtype=torch.float64).reshape(42, 3) * valid[:, None]
        counts += valid
    if counts.sum() == 0:
        raise ValueError(f"no valid 2D joint among {len(indices)} training samples: no mean 2D pose")
    seen = counts > 0
    mean = torch.empty(42, 3, dtype=torch.float64)
    mean[seen] = sums[seen] / counts[seen, None]
    mean[~seen] = (sums[seen].sum(0) / counts[seen].sum())[None]
    return mean.float()


class MeanJoints2DModel(nn.Module):
    """An image-blind model (:class:`eanet.train.baseline.MeanPoseModel`) whose 2D joints are the training set's
    mean 2D joints (:func:`mean_training_joints_hm`): the 2D analogue of the mean-pose baseline.

    Args:
        blind: the mean-pose model (its 3D outputs are kept).
        joints_hm: ``(42, 3)`` mean joints in heatmap units, right then left.
    """

    def __init__(self, blind: nn.Module, joints_hm: Tensor) -> None:
        super().__init__()
        self.blind = blind
        self.hand_models = blind.hand_models
        self.register_buffer("joints_hm", joints_hm.clone(), persistent=False)  # (42, 3)

    def forward(self, img: Tensor) -> TwoHandPrediction:
        import dataclasses

        pred = self.blind(img)
        b = img.shape[0]
        right = self.joints_hm[:NUM_JOINTS].expand(b, NUM_JOINTS, 3)  # (B, 21, 3)
        left = self.joints_hm[NUM_JOINTS:].expand(b, NUM_JOINTS, 3)  # (B, 21, 3)
        return dataclasses.replace(
            pred,
            right=dataclasses.replace(pred.right, joints_hm=right),
            left=dataclasses.replace(pred.left, joints_hm=left),
        )
