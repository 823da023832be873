"""Pure metric functions against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from eanet.eval.aggregate import reduce_joint_errors, reduce_values
from eanet.eval.metrics import (
    align_root_and_scale,
    bone_length,
    joint_regressor_21,
    mean_vertex_error,
    point_errors,
    procrustes_align,
    regress_joints,
    relative_root_error,
)
from eanet.geometry import axis_angle_to_rotmat
from eanet.hand_model.skeleton import JOINTS_21, MANO_JOINTS_16


def test_joint_regressor_21_order_and_eval_tips():
    v = 778
    j16 = torch.zeros(16, v, dtype=torch.float64)
    j16[torch.arange(16), torch.arange(16)] = 1.0
    reg = joint_regressor_21(j16, (745, 317, 444, 556, 673))
    assert reg.shape == (21, v)
    verts = torch.zeros(1, v, 3, dtype=torch.float64)
    verts[0, :, 0] = torch.arange(v, dtype=torch.float64)  # x = vertex index
    joints = regress_joints(verts, reg)[0, :, 0].long().tolist()
    for j, name in enumerate(JOINTS_21):
        if name.endswith("_4"):
            tip = {"Thumb": 745, "Index": 317, "Middle": 444, "Ring": 556, "Pinky": 673}[name.split("_")[0]]
            assert joints[j] == tip, name
        else:
            assert MANO_JOINTS_16[joints[j]] == name


def test_regress_joints_per_hand_regressors():
    reg = torch.zeros(2, 21, 5, dtype=torch.float64)
    reg[0, :, 0] = 1.0  # right: every joint = vertex 0
    reg[1, :, 4] = 1.0  # left: every joint = vertex 4
    verts = torch.arange(2 * 5 * 3, dtype=torch.float64).reshape(1, 2, 5, 3)
    out = regress_joints(verts, reg)
    assert torch.equal(out[0, 0, 3], verts[0, 0, 0])
    assert torch.equal(out[0, 1, 7], verts[0, 1, 4])


def test_align_root_and_scale_and_bone_length():
    joints = torch.zeros(21, 3, dtype=torch.float64)
    joints[9] = torch.tensor([0.0, 3.0, 4.0])  # wrist at origin -> bone 5
    joints[5] = torch.tensor([1.0, 3.0, 4.0])
    assert bone_length(joints).item() == pytest.approx(5.0)
    out = align_root_and_scale(joints, joints, 9, torch.tensor(2.0, dtype=torch.float64))
    assert torch.allclose(out[5], torch.tensor([2.0, 0.0, 0.0], dtype=torch.float64))
    assert torch.allclose(out[0], torch.tensor([0.0, -6.0, -8.0], dtype=torch.float64))


def test_point_and_vertex_errors_known_offset():
    gt = torch.randn(4, 10, 3, dtype=torch.float64)
    pred = gt + torch.tensor([3.0, 4.0, 0.0], dtype=torch.float64)
    assert torch.allclose(point_errors(pred, gt), torch.full((4, 10), 5.0, dtype=torch.float64))
    pred[:, :5] = gt[:, :5]
    assert torch.allclose(mean_vertex_error(pred, gt), torch.full((4,), 2.5, dtype=torch.float64))


def test_procrustes_undoes_similarity_and_ignores_zero_weight_points():
    g = torch.Generator().manual_seed(0)
    gt = torch.randn(3, 21, 3, generator=g, dtype=torch.float64)
    rot = axis_angle_to_rotmat(torch.tensor([[0.3, -1.2, 0.5]], dtype=torch.float64))[0]
    pred = 1.7 * gt @ rot.T + torch.tensor([0.1, 2.0, -3.0], dtype=torch.float64)
    assert torch.allclose(procrustes_align(pred, gt), gt, atol=1e-9)
    outliers = pred.clone()
    outliers[:, :4] += 50.0
    weights = torch.ones(3, 21, dtype=torch.float64)
    weights[:, :4] = 0
    aligned = procrustes_align(outliers, gt, weights)
    assert torch.allclose(aligned[:, 4:], gt[:, 4:], atol=1e-9)


def test_procrustes_never_reflects():
    gt = torch.randn(2, 21, 3, dtype=torch.float64)
    mirrored = gt * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    aligned = procrustes_align(mirrored, gt)
    # a proper rotation cannot undo a mirror image, so an error must remain
    assert point_errors(aligned, gt).mean() > 0.1


def test_relative_root_error_known_offset():
    gt = torch.tensor([[0.1, 0.2, 0.3]], dtype=torch.float64)
    assert relative_root_error(gt + torch.tensor([0.0, 3.0, 4.0], dtype=torch.float64), gt).item() == pytest.approx(5.0)


def test_per_joint_mean_and_sample_weighted_differ_on_unbalanced_case():
    # sample A: single right hand, all 21 joints scored with error 1
    # sample B: single right hand, only joint 0 scored, error 10
    err = np.zeros((2, 42))
    counted = np.zeros((2, 42), bool)
    err[0, :21], counted[0, :21] = 1.0, True
    err[1, 0], counted[1, 0] = 10.0, True
    interacting = np.array([False, False])
    group = np.zeros(2, np.int64)
    pjm = reduce_joint_errors(err, counted, interacting, group, 1, "per_joint_mean")
    sw = reduce_joint_errors(err, counted, interacting, group, 1, "sample_weighted")
    # per joint: slot 0 = (1 + 10) / 2 = 5.5, slots 1-20 = 1 -> (5.5 + 20) / 21; left slots empty
    assert pjm["single"].value[0] == pytest.approx(25.5 / 21)
    assert pjm["single"].empty_slots[0] == 21
    # per sample: (1 + 10) / 2
    assert sw["single"].value[0] == pytest.approx(5.5)
    assert sw["single"].count[0] == 2
    assert math.isnan(pjm["interacting"].value[0]) and pjm["interacting"].count[0] == 0


def test_per_joint_mean_all_is_mean_of_84_slot_means():
    err = np.zeros((3, 42))
    counted = np.zeros((3, 42), bool)
    err[0, :21], counted[0, :21] = 1.0, True  # single right
    err[1, 21:], counted[1, 21:] = 2.0, True  # single left
    err[2, :], counted[2, :] = 3.0, True  # interacting
    interacting = np.array([False, False, True])
    group = np.zeros(3, np.int64)
    pjm = reduce_joint_errors(err, counted, interacting, group, 1, "per_joint_mean")
    assert pjm["all"].value[0] == pytest.approx((21 * 1 + 21 * 2 + 42 * 3) / 84)
    assert pjm["single"].value[0] == pytest.approx(1.5)
    assert pjm["right"].value[0] == pytest.approx((21 * 1 + 21 * 3) / 42)
    sw = reduce_joint_errors(err, counted, interacting, group, 1, "sample_weighted")
    assert sw["all"].value[0] == pytest.approx(2.0)
    assert sw["left"].value[0] == pytest.approx(2.5)  # left hand of samples 1 and 2


def test_grouped_reduction_matches_per_group_reduction():
    rng = np.random.default_rng(0)
    err = rng.random((50, 42))
    counted = rng.random((50, 42)) > 0.3
    interacting = rng.random(50) > 0.5
    group = rng.integers(0, 4, 50)
    for mode in ("per_joint_mean", "sample_weighted"):
        grouped = reduce_joint_errors(err, counted, interacting, group, 4, mode)
        for g in range(4):
            m = group == g
            alone = reduce_joint_errors(err[m], counted[m], interacting[m], np.zeros(m.sum(), np.int64), 1, mode)
            for cat in grouped:
                np.testing.assert_allclose(grouped[cat].value[g], alone[cat].value[0])
    vals = reduce_values(np.array([1.0, 2.0, 6.0]), np.array([0, 0, 2]), 3)
    np.testing.assert_allclose(vals.value, [1.5, np.nan, 6.0])
    assert vals.count.tolist() == [2, 0, 1]
