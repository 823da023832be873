"""The 2D joint error in input-crop pixels (``joints2d_err_px``): hand-computed cases, validity, empty categories,
its place in the printed block and the JSON file."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from eanet.eval.evaluator import JOINTS2D_DEFINITION, Evaluator
from eanet.eval.metrics import heatmap_to_crop_scale, joint_errors_2d

CROP = (96, 128)  # (H, W) input crop
HEATMAP = (8, 3, 4)  # (D, h, w): 32 px per heatmap unit in x and y
SCALE = heatmap_to_crop_scale(CROP, HEATMAP)


def test_heatmap_to_crop_scale_is_input_over_heatmap_size():
    assert heatmap_to_crop_scale((96, 128), (8, 3, 4)) == (32.0, 32.0)
    assert heatmap_to_crop_scale((256, 256), (8, 8, 8)) == (32.0, 32.0)
    assert heatmap_to_crop_scale((64, 128), (8, 4, 2)) == (64.0, 16.0)
    with pytest.raises(ValueError):
        heatmap_to_crop_scale((0, 96), (8, 3, 3))


def test_joint_errors_2d_known_offset_ignores_depth():
    gt = torch.rand(2, 21, 3)
    pred = gt.clone()
    pred[..., 0] += 3 / 64  # 3 px at 64 px per unit in x
    pred[..., 1] += 4 / 16  # 4 px at 16 px per unit in y
    pred[..., 2] += 5.0  # depth bins do not count
    err = joint_errors_2d(pred, gt, (64.0, 16.0))
    assert err.shape == (2, 21)
    torch.testing.assert_close(err, torch.full((2, 21), 5.0), atol=1e-5, rtol=0)


def _with_hm(pred, joints_hm: torch.Tensor):
    """``pred`` with ``joints_hm`` ``(B, 42, 3)`` (right then left)."""
    right = dataclasses.replace(pred.right, joints_hm=joints_hm[:, :21])
    left = dataclasses.replace(pred.left, joints_hm=joints_hm[:, 21:])
    return dataclasses.replace(pred, right=right, left=left)


def _case(kit, hand_type, valid_2d, offset_px):
    """A batch with annotated 2D joints and a prediction whose 2D joints are off by ``offset_px`` ``(B, 42, 2)``."""
    b = len(hand_type)
    gt_verts = kit.gt_verts(b)
    batch = kit.batch(gt_verts, hand_type)
    gt_hm = torch.rand(b, 42, 3, generator=torch.Generator().manual_seed(1)) * torch.tensor([4.0, 3.0, 8.0])
    batch["joints_hm"] = gt_hm
    batch["joints_valid_2d"] = torch.as_tensor(valid_2d, dtype=torch.float32)
    pred_hm = gt_hm.clone()
    pred_hm[..., :2] += torch.as_tensor(offset_px, dtype=torch.float32) / torch.tensor(SCALE)
    return _with_hm(kit.prediction(gt_verts), pred_hm), batch


def _evaluate(kit, pred, batch, protocol="intaghand", crop_px_per_hm=SCALE):
    ev = Evaluator(protocol, kit.regressors(), crop_px_per_hm=crop_px_per_hm)
    ev.update(pred, batch)
    return ev.compute()


@pytest.mark.parametrize("protocol", ["official", "intaghand", "interwild"])
def test_known_pixel_offset_gives_known_error_under_every_protocol(kit, protocol):
    # Sample 0: single right hand (left joints invalid, and their 2D prediction is far off); sample 1: interacting.
    valid = torch.ones(2, 42)
    valid[0, 21:] = 0
    offset = torch.zeros(2, 42, 2)
    offset[:, :, 0], offset[:, :, 1] = 3.0, 4.0  # 5 px everywhere...
    offset[0, 21:] = 500.0  # ...except the invalid joints, which must not count
    pred, batch = _case(kit, [0, 2], valid, offset)
    result = _evaluate(kit, pred, batch, protocol)
    values = result.metrics["joints2d_err_px"]
    for category in ("all", "single", "interacting", "right", "left"):
        assert values[category].value_mm == pytest.approx(5.0, abs=1e-4), category
        assert values[category].unit == "px"
    assert values["all"].count == 2 and values["left"].count == 1  # the single right image has no left joints
    assert result.scalars()["joints2d_err_px_all"] == pytest.approx(5.0, abs=1e-4)


def test_error_is_each_images_mean_then_the_mean_over_images(kit):
    # Image 0 (right hand): one valid joint, 10 px off. Image 1 (left hand): two valid joints, 2 and 4 px off.
    valid = torch.zeros(2, 42)
    valid[0, 3] = 1
    valid[1, [21, 30]] = 1
    offset = torch.zeros(2, 42, 2)
    offset[0, 3, 0] = 10.0
    offset[1, 21, 1] = 2.0
    offset[1, 30, 0] = 4.0
    offset[0, 4] = 99.0  # invalid
    pred, batch = _case(kit, [0, 1], valid, offset)
    values = _evaluate(kit, pred, batch).metrics["joints2d_err_px"]
    assert values["all"].value_mm == pytest.approx((10.0 + 3.0) / 2, abs=1e-4)
    assert values["right"].value_mm == pytest.approx(10.0, abs=1e-4)
    assert values["left"].value_mm == pytest.approx(3.0, abs=1e-4)


def test_empty_category_is_null_with_a_reason_not_nan_or_zero(kit):
    valid = torch.ones(2, 42)
    valid[:, 21:] = 0  # right hands only
    pred, batch = _case(kit, [0, 0], valid, torch.ones(2, 42, 2))
    result = _evaluate(kit, pred, batch)
    values = result.metrics["joints2d_err_px"]
    assert values["interacting"].value_mm is None and "no interacting-hand images" in values["interacting"].reason
    assert values["left"].value_mm is None and "left-hand" in values["left"].reason
    assert values["right"].value_mm == pytest.approx(2**0.5, abs=1e-4)
    payload = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert payload["metrics"]["joints2d_err_px"]["interacting"]["value_px"] is None
    assert payload["metrics"]["joints2d_err_px"]["right"]["value_px"] == pytest.approx(2**0.5, abs=1e-4)
    assert "value_mm" in payload["metrics"]["mpjpe_mm"]["all"]  # 3D metrics keep their unit


def test_printed_block_names_the_unit_and_the_definition(kit):
    pred, batch = _case(kit, [2], torch.ones(1, 42), torch.zeros(1, 42, 2))
    lines = _evaluate(kit, pred, batch).summary_lines()
    assert any(line.startswith("2D joint error (px): all 0.00") for line in lines)
    assert any(line.startswith("MPJPE (mm):") for line in lines)
    assert f"note: {JOINTS2D_DEFINITION}" in lines


def test_without_sizes_or_2d_ground_truth_the_metric_is_empty_with_the_reason(kit):
    pred, batch = _case(kit, [2], torch.ones(1, 42), torch.zeros(1, 42, 2))
    result = _evaluate(kit, pred, batch, crop_px_per_hm=None)
    assert result.value("joints2d_err_px") is None
    assert "crop" in result.metrics["joints2d_err_px"]["all"].reason
    del batch["joints_hm"]
    result = _evaluate(kit, pred, batch)
    assert result.value("joints2d_err_px") is None and "joints_hm" in result.metrics["joints2d_err_px"]["all"].reason
    assert result.value("mpjpe_mm") is not None  # the 3D metrics do not depend on it
    assert JOINTS2D_DEFINITION not in result.notes


def test_per_sequence_results_carry_the_2d_error(kit):
    pred, batch = _case(kit, [0, 2], torch.ones(2, 42), torch.full((2, 42, 2), 0.6))
    batch["seq_id"] = torch.tensor([0, 1])
    result = _evaluate(kit, pred, batch)
    assert [s.metrics["joints2d_err_px"]["all"].value_mm for s in result.per_sequence] == pytest.approx(
        [0.6 * 2**0.5] * 2, abs=1e-4
    )
