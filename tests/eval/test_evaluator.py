"""Every preset against hand-computed cases, the official quirks on crafted cases, empty subsets, DDP de-duplication."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from eanet.errors import InvalidInputError
from eanet.eval.evaluator import Evaluator, Records
from eanet.eval.protocols import INTAGHAND, INTERWILD, OFFICIAL

D_M = torch.tensor([0.003, 0.004, 0.0], dtype=torch.float64)  # a 5 mm offset
WRIST_V, MIDDLE_MCP_V = 0, 4  # one-hot regressor: wrist = vertex 0, Middle_1 (MANO-16 joint 4) = vertex 4


def evaluate(kit, protocol, pred, batch, **kwargs):
    ev = Evaluator(protocol, kit.regressors(), **kwargs)
    ev.update(pred, batch)
    return ev.compute()


def right_only_trunc(b: int) -> torch.Tensor:
    trunc = torch.ones(b, 42)
    trunc[:, 21:] = 0
    return trunc


def test_known_offset_official_and_intaghand(kit):
    # sample 0: single right hand; sample 1: interacting. Every vertex except the wrist and Middle_1 moves 5 mm, so
    # after Middle_1 rooting (bone length unchanged -> scale 1) 19 of 21 joints are off by 5 mm.
    gt = kit.gt_verts(2)
    pred_verts = gt + D_M
    pred_verts[:, :, [WRIST_V, MIDDLE_MCP_V]] = gt[:, :, [WRIST_V, MIDDLE_MCP_V]]
    trunc = torch.ones(2, 42)
    trunc[0, 21:] = 0  # the single right-hand image has no left joints
    rel_gt = torch.tensor([[0.1, 0.0, 0.02], [0.12, -0.01, 0.0]])
    pred = kit.prediction(pred_verts, rel_trans=rel_gt.double() + D_M)
    batch = kit.batch(gt, [0, 2], trunc_ih26m=trunc, rel_trans=rel_gt)
    per_joint = 19 * 5.0 / 21
    per_vertex = (kit.V - 2) * 5.0 / kit.V

    off = evaluate(kit, "official", pred, batch)
    assert off.value("mpjpe_mm", "single") == pytest.approx(per_joint, abs=1e-4)
    assert off.value("mpjpe_mm", "interacting") == pytest.approx(per_joint, abs=1e-4)
    assert off.value("mpjpe_mm", "all") == pytest.approx(per_joint, abs=1e-4)
    # the left single-hand slots are empty: the official print_eval_result would print NaN for "single"
    assert "NaN" in off.metrics["mpjpe_mm"]["single"].note
    for cat in ("single", "interacting", "all"):
        assert off.value("mpvpe_mm", cat) == pytest.approx(per_vertex, abs=1e-4)
    assert off.value("mrrpe_mm", "interacting") == pytest.approx(5.0, abs=1e-4)
    assert off.metrics["mrrpe_mm"]["single"].value_mm is None  # the single image has no valid left wrist

    ig = evaluate(kit, "intaghand", pred, batch)
    for cat in ("single", "interacting", "all", "right", "left"):
        assert ig.value("mpjpe_mm", cat) == pytest.approx(per_joint, abs=1e-4)
    assert ig.metrics["mpjpe_mm"]["single"].note is None
    assert ig.value("mpvpe_mm", "all") == pytest.approx(per_vertex, abs=1e-4)


def test_translation_is_removed_by_root_alignment(kit):
    gt = kit.gt_verts(3)
    pred = kit.prediction(gt + torch.tensor([0.2, -0.1, 0.05], dtype=torch.float64))
    batch = kit.batch(gt, [0, 1, 2])
    for name in ("official", "intaghand", "interwild"):
        res = evaluate(kit, name, pred, batch)
        assert res.value("mpjpe_mm") == pytest.approx(0.0, abs=1e-4), name
        assert res.value("mpvpe_mm") == pytest.approx(0.0, abs=1e-4), name
        assert res.value("pa_mpjpe_mm") == pytest.approx(0.0, abs=1e-4), name


def test_known_offset_interwild_uses_annotated_joints_and_wrist(kit):
    gt = kit.gt_verts(2, seed=1)
    gt_joints = kit.regress(gt)  # annotated joints (absolute)
    pred_joints = gt_joints + D_M
    pred_joints[:, :, 0] = gt_joints[:, :, 0]  # wrist exact -> 20 of 21 joints off by 5 mm
    pred_verts = gt + D_M
    pred_verts[:, :, WRIST_V] = gt[:, :, WRIST_V]
    pred = kit.prediction(pred_verts, joints=pred_joints)
    joints_cam = (gt_joints - gt_joints[:, :, :1]).reshape(2, 42, 3)
    batch = kit.batch(gt, [2, 2], joints_cam=joints_cam)
    res = evaluate(kit, "interwild", pred, batch)
    assert res.value("mpjpe_mm", "interacting") == pytest.approx(20 * 5.0 / 21, abs=1e-4)
    # MPVPE: wrist-rooted, each interacting hand is its own entry (2 samples x 2 hands)
    assert res.value("mpvpe_mm", "interacting") == pytest.approx((kit.V - 1) * 5.0 / kit.V, abs=1e-4)
    assert res.metrics["mpvpe_mm"]["interacting"].count == 4
    assert res.metrics["mpvpe_mm"]["single"].value_mm is None
    assert "no single-hand images" in res.metrics["mpvpe_mm"]["single"].reason


def test_gt_bone_scale_alignment_undoes_uniform_scale(kit):
    gt = kit.gt_verts(2, seed=2)
    root = gt[:, :, MIDDLE_MCP_V : MIDDLE_MCP_V + 1]
    s = 1.3
    pred_verts = root + s * (gt - root)
    pred = kit.prediction(pred_verts)
    batch = kit.batch(gt, [2, 2])
    for name in ("official", "intaghand"):
        res = evaluate(kit, name, pred, batch)
        assert res.value("mpjpe_mm") == pytest.approx(0.0, abs=1e-4)
        assert res.value("mpvpe_mm") == pytest.approx(0.0, abs=1e-4)
    # no scale alignment under interwild: wrist-relative joint j is off by (s - 1) |gt_j - gt_wrist|
    res = evaluate(kit, "interwild", pred, batch)
    gj = kit.regress(gt, tips=(745, 317, 445, 556, 673)) * 1000
    expected = ((s - 1) * torch.linalg.norm(gj - gj[:, :, :1], dim=-1)).reshape(2, 42).mean(0).mean().item()
    assert res.value("mpjpe_mm") == pytest.approx(expected, rel=1e-5)
    assert res.value("pa_mpjpe_mm") == pytest.approx(0.0, abs=1e-4)  # Procrustes removes scale too


def test_official_mask_order_quirk_on_partially_valid_hand(kit):
    # One single right-hand image. Valid (InterHand2.6M order): Thumb_4..Thumb_1, Index_4 (0-4) and the wrist (20).
    # Only Index_4 (wrist-first joint 8, tip vertex 317) is wrong, by 5 mm.
    gt = kit.gt_verts(1, seed=3)
    pred_verts = gt.clone()
    pred_verts[:, 0, kit.joint_vertex(8)] += D_M
    trunc = torch.zeros(1, 42)
    trunc[0, [0, 1, 2, 3, 4, 20]] = 1
    pred = kit.prediction(pred_verts)
    batch = kit.batch(gt, [0], trunc_ih26m=trunc)
    # official: slots 0-4 and 20 of the wrist-FIRST order are scored (wrist, thumb 1-4, pinky tip): all exact
    off = evaluate(kit, "official", pred, batch)
    assert off.value("mpjpe_mm", "single") == pytest.approx(0.0, abs=1e-4)
    assert off.per_joint_mpjpe_mm["single"][8] is None and off.per_joint_mpjpe_mm["single"][20] is not None
    # intaghand remaps the mask: wrist, thumb 1-4 and Index_4 are scored -> one 5 mm error among 6 joints
    ig = evaluate(kit, "intaghand", pred, batch)
    assert ig.value("mpjpe_mm", "single") == pytest.approx(5.0 / 6, abs=1e-4)
    # a fully valid hand is not affected by the quirk
    full = kit.batch(gt, [0], trunc_ih26m=right_only_trunc(1))
    a = evaluate(kit, "official", pred, full).value("mpjpe_mm", "single")
    b = evaluate(kit, "intaghand", pred, full).value("mpjpe_mm", "single")
    assert a == pytest.approx(5.0 / 21, abs=1e-4) and b == pytest.approx(5.0 / 21, abs=1e-4)


def test_frames_without_mano_score_zero_in_official_and_are_excluded_in_intaghand(kit):
    gt = kit.gt_verts(1, seed=4)
    pred_verts = gt + D_M
    pred_verts[:, :, [WRIST_V, MIDDLE_MCP_V]] = gt[:, :, [WRIST_V, MIDDLE_MCP_V]]
    pred = kit.prediction(pred_verts)
    batch = kit.batch(gt, [2], mano_valid=torch.tensor([[1.0, 0.0]]))  # no NeuralAnnot fit for the left hand
    off = evaluate(kit, "official", pred, batch)
    # right slots 19/21 * 5 mm, left slots exactly 0 mm -> mean of the 42 IH slot means
    assert off.value("mpjpe_mm", "interacting") == pytest.approx(19 * 5.0 / 42, abs=1e-4)
    assert off.value("mpjpe_mm", "left") == 0.0
    assert any("scored 0 mm" in n for n in off.notes)
    # MPVPE of an interacting image needs both fits in the official code
    assert off.metrics["mpvpe_mm"]["interacting"].value_mm is None
    ig = evaluate(kit, "intaghand", pred, batch)
    assert ig.value("mpjpe_mm", "interacting") == pytest.approx(19 * 5.0 / 21, abs=1e-4)
    assert ig.metrics["mpjpe_mm"]["left"].value_mm is None
    assert any("not scored" in n for n in ig.notes)
    # InterWild counts each fitted hand of an interacting image on its own
    iw = evaluate(kit, "interwild", pred, batch)
    assert iw.metrics["mpvpe_mm"]["interacting"].count == 1


def test_mrrpe_known_offset_and_validity(kit):
    gt = kit.gt_verts(3, seed=5)
    rel_gt = torch.tensor([[0.1, 0.0, 0.0], [0.0, 0.1, 0.0], [0.0, 0.0, 0.1]])
    offsets = torch.tensor([[0.0, 0.006, 0.008], [0.012, 0.0, 0.0], [1.0, 1.0, 1.0]], dtype=torch.float64)
    pred = kit.prediction(gt.clone(), rel_trans=rel_gt.double() + offsets)
    valid = torch.tensor([1.0, 1.0, 0.0])  # the third has an invalid wrist: its 1.7 m error must not count
    batch = kit.batch(gt, [2, 2, 2], rel_trans=rel_gt, rel_trans_valid=valid)
    for name in ("official", "intaghand", "interwild"):
        res = evaluate(kit, name, pred, batch)
        assert res.value("mrrpe_mm", "interacting") == pytest.approx((10.0 + 12.0) / 2, abs=1e-4)
        assert res.metrics["mrrpe_mm"]["interacting"].count == 2


def test_hic_mpvpe_and_mrrpe_from_meshes(kit):
    gt = kit.gt_verts(2, seed=6)
    roots = gt[:, :, WRIST_V]
    rel_gt = roots[:, 1] - roots[:, 0]
    pred = kit.prediction(gt + D_M, rel_trans=rel_gt + torch.tensor([0.0, 0.0, 0.012], dtype=torch.float64))
    batch = {
        "hand_type": torch.tensor([2, 0]),
        "annot_id": torch.tensor([1, 2]),
        "mano_verts_cam": gt.float(),
        "mano_valid": torch.tensor([[1.0, 1.0], [1.0, 0.0]]),
    }
    res = evaluate(kit, "interwild", pred, batch, dataset="hic")
    assert res.subset == "all"
    assert res.value("mrrpe_mm", "all") == pytest.approx(12.0, abs=1e-3)
    assert res.metrics["mrrpe_mm"]["all"].count == 1  # only the interacting image
    assert res.value("mpvpe_mm", "all") == pytest.approx(0.0, abs=1e-3)
    assert res.metrics["mpvpe_mm"]["all"].count == 3  # 2 interacting hands + 1 single
    assert res.metrics["mpjpe_mm"]["all"].value_mm is None
    assert "HIC" in res.metrics["mpjpe_mm"]["all"].reason


def test_empty_category_is_null_with_reason_never_nan_or_zero(kit):
    gt = kit.gt_verts(2, seed=7)
    pred = kit.prediction(gt + D_M)
    batch = kit.batch(gt, [0, 1], mano_valid=torch.zeros(2, 2))  # single hands only, and no fits
    for name in ("official", "intaghand", "interwild"):
        res = evaluate(kit, name, pred, batch)
        for metric in ("mpjpe_mm", "mpvpe_mm", "mrrpe_mm"):
            v = res.metrics[metric]["interacting"]
            assert v.value_mm is None and v.count == 0
            assert "no interacting-hand images" in v.reason
        mpvpe = res.metrics["mpvpe_mm"]["single"]
        assert mpvpe.value_mm is None and "none with a ground-truth mesh" in mpvpe.reason
        text = json.dumps(res.to_dict(), allow_nan=False)  # raises on NaN
        assert '"value_mm": null' in text
    official = evaluate(kit, "official", pred, batch)
    assert "NaN" in official.metrics["mpvpe_mm"]["single"].reason  # what the official code would print
    empty = Evaluator("official", kit.regressors()).compute()
    assert empty.num_samples == 0
    assert all(v.value_mm is None and v.reason for cats in empty.metrics.values() for v in cats.values())


def test_ddp_gather_drops_padded_duplicates(kit):
    gt = kit.gt_verts(5, seed=8)
    g = torch.Generator().manual_seed(1)
    pred = kit.prediction(gt + 0.004 * torch.randn(gt.shape, generator=g, dtype=torch.float64))
    batch = kit.batch(gt, [0, 1, 2, 2, 2], annot_id=[10, 11, 12, 13, 14], trunc_ih26m=None)

    def sub(idx):
        pb = kit.prediction(
            (gt + 0.004 * torch.randn(gt.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64))[idx]
        )
        bb = {k: v[idx] for k, v in batch.items()}
        return pb, bb

    single = Evaluator("official", kit.regressors())
    single.update(pred, batch)
    expected = single.compute()

    # rank 0 gets samples 0, 2, 4; rank 1 gets 1, 3 and pads with sample 0 again (DistributedSampler)
    rank0, rank1 = Evaluator("official", kit.regressors()), Evaluator("official", kit.regressors())
    rank0.update(*sub([0, 2, 4]))
    rank1.update(*sub([1, 3, 0]))
    parts = [Records.concat(rank0._parts), Records.concat(rank1._parts)]
    merged = Evaluator("official", kit.regressors(), gather=lambda local: parts)
    result = merged.compute()
    assert result.num_samples == 5 and result.num_duplicates_dropped == 1
    for metric, cats in expected.metrics.items():
        for cat, v in cats.items():
            got = result.metrics[metric][cat].value_mm
            assert (got is None) == (v.value_mm is None)
            if got is not None:
                assert got == pytest.approx(v.value_mm, abs=1e-6), (metric, cat)


def test_ddp_without_annot_ids_is_refused(kit):
    gt = kit.gt_verts(2)
    batch = kit.batch(gt, [2, 2])
    del batch["annot_id"]
    ev = Evaluator("official", kit.regressors(), gather=lambda local: [local, local])
    ev.update(kit.prediction(gt), batch)
    with pytest.raises(InvalidInputError, match="annot_id"):
        ev.compute()


def test_per_sequence_results_and_figure9(kit):
    b = 4
    gt = kit.gt_verts(b, seed=9)
    pred_verts = gt + D_M
    pred_verts[:, :, [WRIST_V, MIDDLE_MCP_V]] = gt[:, :, [WRIST_V, MIDDLE_MCP_V]]
    pred_verts[2:] = gt[2:]  # sequence 1 is predicted exactly
    pose = torch.zeros(b, 2, 48)
    pose[2:, 0, 3] = 0.9  # sequence 1: the right index knuckle bends, the left does not
    batch = kit.batch(gt, [2, 2, 2, 2], seq_id=[0, 0, 1, 1], mano_pose=pose)
    ev = Evaluator("intaghand", kit.regressors(), sequence_names=["seq_a", "seq_b"])
    ev.update(kit.prediction(pred_verts), batch)
    res = ev.compute()
    names = [s.sequence for s in res.per_sequence]
    assert names == ["seq_a", "seq_b"]
    a, b_ = res.per_sequence
    assert a.metrics["mpjpe_mm"]["interacting"].value_mm == pytest.approx(19 * 5.0 / 21, abs=1e-4)
    assert b_.metrics["mpjpe_mm"]["interacting"].value_mm == pytest.approx(0.0, abs=1e-4)
    # mean hand poses are mirror images in the one-hot test model, so seq_a's hands are exact mirrors
    assert a.pose_difference_deg == pytest.approx(0.0, abs=1e-3)
    assert b_.pose_difference_deg > 1.0
    assert [f["sequence"] for f in res.figure9] == ["seq_a", "seq_b"]
    assert res.figure9[1]["mpjpe_interacting_mm"] == pytest.approx(0.0, abs=1e-4)


def test_batch_shape_errors_are_clear(kit):
    gt = kit.gt_verts(2)
    batch = kit.batch(gt, [2, 2])
    batch["joints_valid_2d_ih26m"] = torch.ones(2, 21)
    ev = Evaluator("official", kit.regressors())
    with pytest.raises(InvalidInputError, match="joints_valid_2d_ih26m"):
        ev.update(kit.prediction(gt), batch)
    batch = kit.batch(gt, [2, 5])
    with pytest.raises(InvalidInputError, match="hand_type"):
        ev.update(kit.prediction(gt), batch)


def test_summary_starts_with_signature(kit):
    gt = kit.gt_verts(2)
    res = evaluate(kit, "interwild", kit.prediction(gt), kit.batch(gt, [0, 2]))
    lines = res.summary_lines()
    assert lines[0] == INTERWILD.signature()
    assert any(line.startswith("MPJPE (mm): all ") for line in lines)
    assert OFFICIAL.signature() != INTAGHAND.signature()
    assert np.isfinite(res.value("mpjpe_mm"))


def test_non_finite_prediction_is_reported_not_averaged(kit):
    gt = kit.gt_verts(2, seed=10)
    pred_verts = gt.clone()
    pred_verts[1, 0, 7] = float("nan")
    res = evaluate(kit, "intaghand", kit.prediction(pred_verts), kit.batch(gt, [2, 2]))
    value = res.metrics["mpjpe_mm"]["all"]
    assert value.value_mm is None and "non-finite" in value.reason
    json.dumps(res.to_dict(), allow_nan=False)
