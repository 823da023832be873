"""Protocol presets, the result's JSON file, the pose difference of Figure 9 and its plot."""

from __future__ import annotations

import hashlib
import json
import math

import pytest
import torch

from eanet.errors import InvalidInputError
from eanet.eval.pose_difference import geodesic_angle, plot_error_vs_pose_difference, pose_difference_deg
from eanet.eval.protocols import INTAGHAND, INTERWILD, OFFICIAL, PROTOCOLS, Protocol, get_protocol
from eanet.eval.result import EvalResult, MetricValue, write_result_json
from eanet.geometry import axis_angle_to_rotmat, mirror_axis_angle


def test_presets_spell_out_their_choices():
    assert set(PROTOCOLS) == {"official", "intaghand", "interwild"}
    sig = OFFICIAL.signature()
    for part in ("protocol=official", "root=middle_mcp(J9)", "scale=gt_bone_length(J0-J9)", "not remapped",
                 "no_gt_mesh=scored_0mm", "mpjpe=per_joint_mean", "ih26m_subset=H+M"):  # fmt: skip
        assert part in sig, part
    assert "[remapped]" in INTAGHAND.signature() and "no_gt_mesh=excluded" in INTAGHAND.signature()
    assert "mpjpe=sample_weighted" in INTAGHAND.signature()
    iw = INTERWILD.signature()
    assert "root=wrist(J0)" in iw and "scale=none" in iw and "annotated" in iw and "ih26m_subset=H" in iw
    assert len({p.signature() for p in PROTOCOLS.values()}) == 3
    assert OFFICIAL.to_dict()["signature"] == sig
    assert OFFICIAL.root_index == 9 and INTERWILD.root_index == 0


def test_unknown_protocol_and_impossible_combination():
    with pytest.raises(InvalidInputError, match="official, intaghand, interwild"):
        get_protocol("intag")
    with pytest.raises(ValueError, match="mesh-regressed"):
        Protocol(name="bad", root="wrist", scale_to_gt_bone=False, gt_joints="annotated", pred_joints="model",
                 joint_mask="ih26m_order_unremapped", joint_mask_uses_3d_validity=True, missing_mesh="exclude",
                 mpjpe_aggregation="per_joint_mean", mpvpe_interacting="per_hand", ih26m_subset="H")  # fmt: skip


def test_metric_value_refuses_nan_and_silent_emptiness():
    with pytest.raises(ValueError):
        MetricValue(float("nan"), 3)
    with pytest.raises(ValueError):
        MetricValue(None, 0)
    assert MetricValue(None, 0, reason="nothing").to_dict() == {"value_mm": None, "count": 0, "reason": "nothing"}


def test_json_records_protocol_checkpoint_and_config(tmp_path):
    ckpt = tmp_path / "model.safetensors"
    ckpt.write_bytes(b"weights")
    result = EvalResult(
        protocol=INTERWILD,
        dataset="interhand26m",
        subset="H",
        num_samples=2,
        num_duplicates_dropped=1,
        sample_counts={"all": 2, "single": 2, "interacting": 0, "right": 1, "left": 1},
        metrics={"mpjpe_mm": {"all": MetricValue(7.5, 2), "interacting": MetricValue(None, 0, reason="no images")}},
        notes=["a note"],
    )
    path = write_result_json(result, tmp_path / "out" / "r.json", checkpoint=ckpt, config={"eval": {"x": 1}},
                             extra={"device": "cpu"})  # fmt: skip
    payload = json.loads(path.read_text())
    assert payload["protocol"]["signature"] == INTERWILD.signature()
    assert payload["protocol"]["root"] == "wrist"
    assert payload["checkpoint"] == {"path": str(ckpt.resolve()), "sha256": hashlib.sha256(b"weights").hexdigest()}
    assert payload["config"] == {"eval": {"x": 1}} and payload["run"] == {"device": "cpu"}
    assert payload["subset"] == "H" and payload["num_duplicates_dropped"] == 1
    assert payload["metrics"]["mpjpe_mm"]["interacting"] == {"value_mm": None, "count": 0, "reason": "no images"}
    assert payload["eanet_version"] and payload["format"] == "eanet-eval"
    assert result.scalars() == {"mpjpe_all": 7.5}


def test_geodesic_angle_and_pose_difference():
    rot = axis_angle_to_rotmat(torch.tensor([[0.0, 0.0, 0.7]], dtype=torch.float64))
    ident = torch.eye(3, dtype=torch.float64)[None]
    assert geodesic_angle(ident, rot).item() == pytest.approx(0.7)
    assert geodesic_angle(rot, rot).item() == pytest.approx(0.0, abs=1e-7)

    g = torch.Generator().manual_seed(0)
    right = torch.randn(4, 45, generator=g, dtype=torch.float64) * 0.4
    left = mirror_axis_angle(right.reshape(4, 15, 3)).reshape(4, 45)  # the exact mirror image
    assert torch.allclose(pose_difference_deg(right, left), torch.zeros(4, dtype=torch.float64), atol=1e-5)
    flat_r = torch.zeros(1, 45, dtype=torch.float64)
    flat_l = torch.zeros(1, 45, dtype=torch.float64)
    flat_l[0, 3] = math.radians(30.0)  # one of 15 joints bent by 30 deg
    assert pose_difference_deg(flat_r, flat_l).item() == pytest.approx(2.0)


def test_figure9_plot_writes_png(tmp_path):
    path = plot_error_vs_pose_difference(
        ["a", "b", "c"], [5.0, 12.0, 30.0], [9.0, 9.5, 10.5], tmp_path / "fig" / "f9.png", footnote="signature"
    )
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
