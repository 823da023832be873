"""Named poses, anatomical joint frames and limits, and the pose/shape prior (eanet.hand_model.poses)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eanet.hand_model import HandModelLayer
from eanet.hand_model.poses import (
    JOINT_LIMITS_DEG,
    NAMED_POSE_ANGLES_DEG,
    NAMED_POSES,
    angles_to_pose,
    clip_to_limits,
    joint_frames,
    mirror_pose,
    pose_to_angles,
    relative_to_mean,
    sample_betas,
    sample_hand_pose,
)

REQUIRED_POSES = ("flat", "relaxed", "fist", "point", "victory", "pinch", "spread", "thumbs_up")  # used by data/render


def within_limits(angles: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    return (angles >= JOINT_LIMITS_DEG[..., 0] - tol) & (angles <= JOINT_LIMITS_DEG[..., 1] + tol)


def test_named_poses_exist_and_are_well_formed():
    assert set(REQUIRED_POSES) <= set(NAMED_POSES)
    for name, pose in NAMED_POSES.items():
        assert pose.shape == (45,) and pose.dtype == np.float32 and np.isfinite(pose).all(), name
    assert not NAMED_POSES["flat"].any()
    # Distinct postures, not copies of one another.
    names = list(NAMED_POSES)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert np.abs(NAMED_POSES[a] - NAMED_POSES[b]).max() > 0.1, (a, b)


def test_named_poses_are_within_joint_limits():
    for name, angles in NAMED_POSE_ANGLES_DEG.items():
        assert within_limits(angles).all(), name
        assert within_limits(pose_to_angles(NAMED_POSES[name])).all(), name


def test_limits_are_ordered_and_anatomical():
    lo, hi = JOINT_LIMITS_DEG[..., 0], JOINT_LIMITS_DEG[..., 1]
    assert (lo < hi).all()
    flexion_max = hi[:, 0]
    assert (flexion_max >= 50).all() and (flexion_max <= 110).all()  # no joint folds past ~110 degrees
    assert (lo[:, 0] >= -25).all()  # hyperextension is limited: fingers never bend far backwards


def test_joint_frames_are_rotations_following_mano_axes():
    frames = joint_frames()
    assert frames.shape == (15, 3, 3)
    np.testing.assert_allclose(frames @ np.swapaxes(frames, 1, 2), np.broadcast_to(np.eye(3), (15, 3, 3)), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(frames), 1.0, atol=1e-12)
    # Long fingers (joints 0-11): flexion about ~+z, bone along ~-x, abduction about ~+y (MANO's right hand).
    for j in range(12):
        assert frames[j][:, 0] @ np.array([0, 0, 1.0]) > 0.95
        assert frames[j][:, 2] @ np.array([-1.0, 0, 0]) > 0.95
        assert frames[j][:, 1] @ np.array([0, 1.0, 0]) > 0.95
    # Thumb: points radially (+z) and distally (-x); flexion axis has a positive x part, as in MANO's mean thumb.
    for j in range(12, 15):
        assert frames[j][2, 2] > 0.3 and frames[j][0, 2] < -0.5
        assert frames[j][0, 0] > 0.2


def test_angles_round_trip():
    rng = np.random.default_rng(0)
    lo, hi = JOINT_LIMITS_DEG[..., 0], JOINT_LIMITS_DEG[..., 1]
    angles = rng.uniform(lo, hi, size=(8, 15, 3))
    np.testing.assert_allclose(pose_to_angles(angles_to_pose(angles)), angles, atol=1e-9)


def test_pure_flexion_rotates_about_the_flexion_axis():
    angles = np.zeros((15, 3))
    angles[1, 0] = 90.0  # Index_2 (PIP)
    pose = angles_to_pose(angles).reshape(15, 3)
    np.testing.assert_allclose(pose[1], np.pi / 2 * joint_frames()[1][:, 0], atol=1e-12)
    assert not np.delete(pose, 1, axis=0).any()


def test_mirror_pose_is_an_involution_and_flips_y_z():
    pose = NAMED_POSES["point"]
    np.testing.assert_array_equal(mirror_pose(mirror_pose(pose)), pose)
    np.testing.assert_array_equal(mirror_pose(pose).reshape(15, 3), pose.reshape(15, 3) * np.array([1, -1, -1]))


def test_clip_to_limits():
    angles = np.full((15, 3), 500.0)
    np.testing.assert_array_equal(clip_to_limits(angles), JOINT_LIMITS_DEG[..., 1])


def test_sample_hand_pose_is_deterministic_plausible_and_varied():
    a = sample_hand_pose(np.random.default_rng(7), 256)
    b = sample_hand_pose(np.random.default_rng(7), 256)
    assert a.shape == (256, 45) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    angles = pose_to_angles(a.astype(np.float64))
    assert within_limits(angles, tol=1e-3).all()  # float32 storage
    flexion = angles[..., 0]
    assert flexion.std(axis=0).min() > 5.0  # every joint varies
    # Open and closed hands both occur.
    mean_curl = flexion[:, [0, 1, 3, 4, 6, 7, 9, 10]].mean(1)
    assert mean_curl.min() < 20 and mean_curl.max() > 70


def test_sample_hand_pose_options():
    rng = np.random.default_rng(1)
    left = sample_hand_pose(np.random.default_rng(2), 4, side="left")
    right = sample_hand_pose(np.random.default_rng(2), 4)
    np.testing.assert_array_equal(left, mirror_pose(right))
    open_hands = sample_hand_pose(rng, 64, curl_range=(0.0, 0.1), independent_fingers=0.0, noise_deg=0.0)
    flexion = pose_to_angles(open_hands.astype(np.float64))[..., [0, 1, 3, 4, 6, 7, 9, 10], 0]  # MCPs and PIPs
    assert flexion.mean() < 10 and flexion.max() < 40
    with pytest.raises(ValueError, match="side"):
        sample_hand_pose(rng, 1, side="both")


def test_sample_betas():
    betas = sample_betas(np.random.default_rng(0), 1000)
    assert betas.shape == (1000, 10) and betas.dtype == np.float32
    assert np.abs(betas).max() <= 2.5
    assert 0.8 < betas.std() < 1.1
    np.testing.assert_array_equal(betas, sample_betas(np.random.default_rng(0), 1000))


def test_relative_to_mean_matches_flat_hand_mean(random_hand_data):
    """A flat_hand_mean=False layer given relative_to_mean(pose) poses exactly like a flat_hand_mean=True one."""
    absolute = HandModelLayer(random_hand_data, flat_hand_mean=True, dtype=torch.float64)
    relative = HandModelLayer(random_hand_data, flat_hand_mean=False, dtype=torch.float64)
    pose = NAMED_POSES["fist"].astype(np.float64)[None]
    zeros, betas = torch.zeros(1, 3, dtype=torch.float64), torch.zeros(1, 10, dtype=torch.float64)
    a = absolute(zeros, torch.tensor(pose), betas)
    r = relative(zeros, torch.tensor(relative_to_mean(pose, random_hand_data.hands_mean)), betas)
    torch.testing.assert_close(a.verts, r.verts, atol=1e-9, rtol=0)


@pytest.mark.mano_assets
def test_mano_shares_the_pose_conventions(mano_dir):
    """MANO's own mean hand reads as a mildly curled hand in these frames, and the named fist closes MANO's hand."""
    from eanet.hand_model import load_hand_model_data

    mano = load_hand_model_data("mano", "right", mano_dir)
    mean_angles = pose_to_angles(mano.hands_mean)
    long_finger_flexion = mean_angles[:12, 0]
    assert (long_finger_flexion > -10).all() and long_finger_flexion.mean() > 10

    layer = HandModelLayer(mano, flat_hand_mean=True, dtype=torch.float64)
    zeros, betas = torch.zeros(1, 3, dtype=torch.float64), torch.zeros(1, 10, dtype=torch.float64)
    flat = layer(zeros, torch.zeros(1, 45, dtype=torch.float64), betas).joints[0].numpy()
    fist = layer(zeros, torch.tensor(NAMED_POSES["fist"], dtype=torch.float64)[None], betas).joints[0].numpy()
    for tip, mcp in ((8, 5), (12, 9), (16, 13), (20, 17)):  # wrist-first order: long fingertips and knuckles
        assert np.linalg.norm(fist[tip] - flat[0]) < 0.75 * np.linalg.norm(flat[tip] - flat[0])
        assert fist[tip, 1] < flat[mcp, 1]  # towards the palm (-y)
