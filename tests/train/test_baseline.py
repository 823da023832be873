"""The mean-pose baseline (``eanet.train.baseline``): the image-blind predictor a trained model must beat."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from eanet.geometry import axis_angle_to_rotmat, rotmat_to_axis_angle


def test_mean_rotation_of_symmetric_spread_is_the_centre():
    from eanet.train.baseline import mean_rotation

    centre = axis_angle_to_rotmat(torch.tensor([[0.3, -0.2, 0.5]], dtype=torch.float64))[0]
    offsets = torch.tensor([[0.4, 0, 0], [-0.4, 0, 0], [0, 0.7, 0], [0, -0.7, 0]], dtype=torch.float64)
    rots = centre @ axis_angle_to_rotmat(offsets)  # (4, 3, 3): pairs of opposite turns about the centre
    mean = mean_rotation(rots)
    assert torch.allclose(mean, centre, atol=1e-9)
    assert math.isclose(torch.det(mean).item(), 1.0, abs_tol=1e-9)


class _Samples(torch.utils.data.Dataset):
    """Right hands turned by +-0.5 rad about x around a common root; left hands always the identity."""

    def __init__(self) -> None:
        self.items = []
        for k in range(6):
            pose = np.zeros((2, 48), dtype=np.float32)
            pose[0, 0] = 0.5 if k % 2 else -0.5
            pose[0, 3:] = 0.1 * k  # finger rotations that average to 0.25 each
            self.items.append(
                {
                    "mano_pose_aa": pose,
                    "mano_betas": np.full((2, 10), float(k), dtype=np.float32),
                    "mano_valid": np.array([1.0, 1.0 if k < 3 else 0.0], dtype=np.float32),
                    "rel_trans": np.array([0.1 * k, 0.0, 0.0], dtype=np.float32),
                    "rel_trans_valid": np.float32(1.0 if k < 3 else 0.0),
                }
            )

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def test_mean_training_pose_averages_valid_hands_only():
    from eanet.train.baseline import mean_training_pose

    mean = mean_training_pose(_Samples())
    assert mean.counts == (6, 3)
    assert torch.allclose(mean.pose_rotmat[0, 0], torch.eye(3), atol=1e-6)  # +-0.5 about x cancel out
    fingers = rotmat_to_axis_angle(mean.pose_rotmat[0, 1:])  # (15, 3)
    assert torch.allclose(fingers, torch.full_like(fingers, 0.25), atol=2e-3)  # near the arithmetic mean
    assert torch.allclose(mean.betas[0], torch.full((10,), 2.5)) and torch.allclose(mean.betas[1], torch.ones(10))
    assert torch.allclose(mean.rel_trans, torch.tensor([0.1, 0.0, 0.0]))


def test_mean_pose_model_predicts_the_mean_for_every_image():
    from eanet.config import load_config
    from eanet.model import build_model
    from eanet.train.baseline import MeanPose, MeanPoseModel

    cfg = load_config("small-synthetic", ["model.input_size=[64,64]"])
    network = build_model(cfg.model, cfg.hand_model)
    root = axis_angle_to_rotmat(torch.tensor([[0.2, 1.0, -0.4], [0.0, 0.0, 2.0]]))  # (2, 3, 3)
    pose_rotmat = torch.eye(3).repeat(2, 16, 1, 1)
    pose_rotmat[:, 0] = root
    mean = MeanPose(pose_rotmat, torch.zeros(2, 10), torch.tensor([0.1, 0.0, 0.0]), (1, 1))
    blind = MeanPoseModel(network, mean).eval()
    with torch.no_grad():
        pred = blind(torch.rand(3, 3, 64, 64))
    assert pred.right.verts_cam.shape == (3, network.hand_models["right"].num_verts, 3)
    assert torch.allclose(pred.right.verts_cam[0], pred.right.verts_cam[2])  # the image does not matter
    assert torch.allclose(axis_angle_to_rotmat(pred.left.root_pose_aa), root[1].expand(3, 3, 3), atol=1e-5)
    assert torch.allclose(pred.rel_trans, torch.tensor([[0.1, 0.0, 0.0]] * 3))
    assert list(blind.state_dict()) == [k for k in blind.state_dict() if k.startswith("network.")]  # no extra state


def test_no_valid_hand_is_an_error():
    from eanet.train.baseline import mean_training_pose

    data = _Samples()
    for item in data.items:
        item["mano_valid"] = np.array([1.0, 0.0], dtype=np.float32)
    with pytest.raises(ValueError, match="left"):
        mean_training_pose(data)


# ---- the 2D analogue: the training set's mean 2D joints (eanet.train.build) ---------------------------------------


class _Joints2D:
    """Three samples whose 2D joints are hand-picked; joint 0 is valid in two of them, joint 41 in none."""

    def __init__(self) -> None:
        self.items = []
        for i, x in enumerate((1.0, 2.0, 6.0)):
            hm = np.full((42, 3), x, dtype=np.float32)
            valid = np.ones(42, dtype=np.float32)
            valid[41] = 0
            if i == 2:
                valid[0] = 0  # its joint 0 (x = 6) must not count
            self.items.append({"joints_hm": hm, "joints_valid_2d": valid})
        self.items.append({"skipped": True})  # an unreadable sample's record

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


def test_mean_training_joints_hm_averages_valid_joints_per_slot():
    from eanet.train.baseline import mean_training_joints_hm

    mean = mean_training_joints_hm(_Joints2D())
    assert mean.shape == (42, 3)
    assert torch.allclose(mean[0], torch.full((3,), 1.5))  # (1 + 2) / 2: the third sample's joint 0 is invalid
    assert torch.allclose(mean[1:41], torch.full((40, 3), 3.0))  # (1 + 2 + 6) / 3
    # a slot nothing annotates: the mean over all annotated joints, a finite value
    assert torch.isfinite(mean[41]).all() and 1.5 <= float(mean[41, 0]) <= 3.0


def test_mean_training_joints_hm_without_valid_joints_is_an_error():
    from eanet.train.baseline import mean_training_joints_hm

    data = _Joints2D()
    for item in data.items[:3]:
        item["joints_valid_2d"][:] = 0
    with pytest.raises(ValueError, match="2D"):
        mean_training_joints_hm(data)


def test_mean_joints_2d_model_predicts_the_mean_2d_joints_and_keeps_the_3d_mean():
    from eanet.config import load_config
    from eanet.model import build_model
    from eanet.train.baseline import MeanJoints2DModel, MeanPose, MeanPoseModel

    cfg = load_config("small-synthetic", ["model.input_size=[64,64]"])
    network = build_model(cfg.model, cfg.hand_model)
    mean = MeanPose(torch.eye(3).repeat(2, 16, 1, 1), torch.zeros(2, 10), torch.tensor([0.1, 0.0, 0.0]), (1, 1))
    blind = MeanPoseModel(network, mean).eval()
    joints_hm = torch.rand(42, 3)
    model = MeanJoints2DModel(blind, joints_hm).eval()
    img = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        pred, ref = model(img), blind(img)
    assert torch.equal(pred.right.joints_hm, joints_hm[:21].expand(2, 21, 3))
    assert torch.equal(pred.left.joints_hm, joints_hm[21:].expand(2, 21, 3))
    assert torch.equal(pred.right.verts_cam, ref.right.verts_cam) and torch.equal(pred.rel_trans, ref.rel_trans)
    assert model.hand_models is network.hand_models
    assert all(k.startswith("blind.network.") for k in model.state_dict())  # the mean is not saved state
