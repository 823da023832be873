"""Hand-model parameters world -> camera: the exact, mesh-free route reproduces the world mesh in the camera frame."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eanet.data.mano_params import RootPivot, mirror_pose, rotate_root_pose, world_to_camera
from eanet.hand_model.layer import HandModelLayer


def _random_camera(rng):
    q = np.linalg.qr(rng.standard_normal((3, 3)))[0]
    q *= np.sign(np.linalg.det(q))
    return q, rng.standard_normal(3) * 0.5


def _run(layer, pose, betas, trans):
    t = lambda x: torch.tensor(np.asarray(x)[None], dtype=torch.float64)  # noqa: E731
    out = layer(t(pose[:3]), t(pose[3:]), t(betas), t(trans))
    return out.verts[0].numpy(), out.joints[0].numpy()


@pytest.mark.parametrize("side", ["right", "left"])
def test_world_to_camera_reproduces_world_joints(make_random_hand_data, side):
    data = make_random_hand_data(side, seed=11)
    layer = HandModelLayer(data, dtype=torch.float64)
    pivot = RootPivot.from_data(data)
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(5):
        pose = rng.standard_normal(48) * 0.5
        betas = rng.standard_normal(10)
        trans = rng.standard_normal(3) * 0.3
        cam_rot, cam_trans = _random_camera(rng)
        verts_w, joints_w = _run(layer, pose, betas, trans)
        pose_c, trans_c = world_to_camera(pose, betas, trans, cam_rot, cam_trans, pivot)
        verts_c, joints_c = _run(layer, pose_c, betas, trans_c)
        np.testing.assert_array_equal(pose_c[3:], pose[3:])
        worst = max(worst, np.abs(joints_w @ cam_rot.T + cam_trans - joints_c).max())
        assert np.abs(verts_w @ cam_rot.T + cam_trans - verts_c).max() < 1e-5
    assert worst < 1e-5


def test_official_route_is_not_exact(make_random_hand_data):
    """The official placement (InterWild ``get_mano_data``: regressed wrist as pivot) differs by the pose blend shapes;
    ours is exact."""
    data = make_random_hand_data("right", seed=11)
    layer = HandModelLayer(data, dtype=torch.float64)
    rng = np.random.default_rng(3)
    pose, betas, trans = rng.standard_normal(48) * 0.5, rng.standard_normal(10), rng.standard_normal(3) * 0.3
    cam_rot, cam_trans = _random_camera(rng)
    _, joints_w = _run(layer, pose, betas, trans)
    pose_r = pose.copy()
    pose_r[:3] = rotate_root_pose(cam_rot, pose[:3])
    _, joints = _run(layer, pose_r, betas, trans)
    root = joints[0]
    official = joints - root + cam_rot @ root + cam_trans
    assert np.abs(official - (joints_w @ cam_rot.T + cam_trans)).max() > 1e-5


def test_mirror_pose_is_an_involution():
    pose = np.arange(48, dtype=float)
    m = mirror_pose(pose)
    assert np.all(m.reshape(16, 3)[:, 0] == pose.reshape(16, 3)[:, 0])
    assert np.all(m.reshape(16, 3)[:, 1:] == -pose.reshape(16, 3)[:, 1:])
    np.testing.assert_array_equal(mirror_pose(m), pose)
