"""Each loss term against values computed by hand on tiny crafted tensors (official ``common/nets/loss.py``)."""

import pytest
import torch

from eanet.losses import DEFAULT_LOSS_WEIGHTS, LOSS_TERMS, compute_losses, masked_l1, total_loss
from eanet.structures import HandPrediction, TwoHandPrediction

B, V = 2, 5  # batch of two, a 5-vertex "hand" is enough for the vertex term


def zero_hand() -> HandPrediction:
    z = torch.zeros
    return HandPrediction(
        root_pose_6d=z(B, 6),
        hand_pose_6d=z(B, 90),
        root_pose_aa=z(B, 3),
        hand_pose_aa=z(B, 45),
        pose_rotmat=z(B, 16, 3, 3),
        betas=z(B, 10),
        cam=z(B, 3),
        joints_hm=z(B, 21, 3),
        joints_cam=z(B, 21, 3),
        verts_cam=z(B, V, 3),
        root_model=z(B, 3),
        joints_proj_hm=z(B, 21, 2),
    )


def zero_pred() -> TwoHandPrediction:
    return TwoHandPrediction(right=zero_hand(), left=zero_hand(), rel_trans=torch.zeros(B, 3))


def zero_batch() -> dict[str, torch.Tensor]:
    """All targets zero, every mask 1, shapes as ``eanet.data.sample`` documents (after collation)."""
    z, o = torch.zeros, torch.ones
    return {
        "rel_trans": z(B, 3),
        "rel_trans_valid": o(B),
        "mano_pose_aa": z(B, 2, 48),
        "mano_pose_valid": o(B, 2),
        "mano_betas": z(B, 2, 10),
        "mano_betas_valid": o(B, 2),
        "joints_cam": z(B, 42, 3),
        "joints_valid": o(B, 42),
        "mano_joints_cam": z(B, 42, 3),
        "mano_joints_valid": o(B, 42),
        "joints_hm": z(B, 42, 3),
        "joints_trunc": o(B, 42),
        "mano_joints_hm": z(B, 42, 3),
        "mano_joints_trunc": o(B, 42),
        "is_3d": o(B),
        "mano_verts_cam": z(B, 2, V, 3),
        "mano_root_cam": z(B, 2, 3),
        "mano_valid": o(B, 2),
    }


def only(losses, term):
    """All other terms are exactly zero for the crafted inputs; return the one under test."""
    for k, v in losses.items():
        if k != term:
            assert v.item() == 0.0, f"{k} should be 0, got {v.item()}"
    return losses[term].item()


def test_terms_weights_and_default_vertex_off():
    losses = compute_losses(zero_pred(), zero_batch())
    assert list(losses) == [t for t in LOSS_TERMS if t != "verts_cam"]
    assert DEFAULT_LOSS_WEIGHTS == {
        "rel_trans": 1,
        "mano_pose": 1,
        "mano_betas": 1,
        "joints_cam": 10,
        "mano_joints_cam": 10,
        "joints_hm": 1,
        "mano_joints_hm": 1,
        "joints_proj": 1,
        "verts_cam": 0,
    }


def test_rel_trans():
    pred, batch = zero_pred(), zero_batch()
    pred.rel_trans[0] = torch.tensor([1.0, -2.0, 3.0])
    pred.rel_trans[1] = torch.tensor([5.0, 5.0, 5.0])
    batch["rel_trans_valid"][1] = 0  # the second sample is masked out but still counts in the mean
    # |1|+|-2|+|3| = 6 over 2 x 3 elements
    assert only(compute_losses(pred, batch), "rel_trans") == pytest.approx(1.0)


def test_mano_pose_masked_per_hand():
    pred, batch = zero_pred(), zero_batch()
    pred.right.root_pose_aa[0, 0] = 0.5
    pred.left.hand_pose_aa[0, 7] = 4.0  # left hand of sample 0 has no fit
    batch["mano_pose_valid"][0, 1] = 0
    batch["mano_pose_aa"][1, 0, 47] = -0.25  # target of the right hand's last finger coordinate, sample 1
    # (0.5 + 0.25) over 2 x 96 elements
    assert only(compute_losses(pred, batch), "mano_pose") == pytest.approx(0.75 / 192)


def test_mano_betas():
    pred, batch = zero_pred(), zero_batch()
    pred.right.betas[0] = 1.0  # ten ones
    pred.left.betas[1, 3] = -2.0
    # 10 + 2 = 12 over 2 x 20
    assert only(compute_losses(pred, batch), "mano_betas") == pytest.approx(0.3)


def test_joints_cam_weight_10_and_is_3d():
    pred, batch = zero_pred(), zero_batch()
    pred.right.joints_cam[0, 1] = torch.tensor([0.01, 0.02, 0.03])
    pred.left.joints_cam[0, 20] = torch.tensor([0.1, 0.0, 0.0])
    pred.right.joints_cam[1, 1] = torch.tensor([1.0, 1.0, 1.0])  # sample 1 has no 3D annotation
    batch["is_3d"][1] = 0
    # The mano_joints_cam target is zero too, so make that term's mask 0 to isolate joints_cam.
    batch["mano_joints_valid"][:] = 0
    batch["joints_hm"][:] = 0
    # (0.06 + 0.1) over 2 x 42 x 3 = 252 elements, times 10
    assert only(compute_losses(pred, batch), "joints_cam") == pytest.approx(10 * 0.16 / 252)


def test_mano_joints_cam_uses_fitted_target():
    pred, batch = zero_pred(), zero_batch()
    batch["joints_valid"][:] = 0  # isolate from joints_cam (same prediction) and joints_proj
    batch["mano_joints_cam"][1, 21 + 4] = torch.tensor([0.0, -0.3, 0.0])  # left hand, joint 4, sample 1
    batch["mano_joints_cam"][0, 2] = torch.tensor([9.0, 9.0, 9.0])
    batch["mano_joints_valid"][0, 2] = 0
    # 0.3 over 252, times 10
    assert only(compute_losses(pred, batch), "mano_joints_cam") == pytest.approx(10 * 0.3 / 252)


def test_joints_hm_z_counts_only_with_3d():
    pred, batch = zero_pred(), zero_batch()
    batch["joints_valid"][:] = 0  # isolate from joints_proj (same target) and joints_cam
    batch["mano_joints_trunc"][:] = 0  # isolate from mano_joints_hm (same prediction)
    pred.right.joints_hm[0, 0] = torch.tensor([1.0, 2.0, 3.0])  # 3D sample: all three count
    pred.left.joints_hm[1, 5] = torch.tensor([1.0, 1.0, 7.0])  # 2D-only sample: z does not count
    batch["is_3d"][1] = 0
    pred.left.joints_hm[0, 6] = torch.tensor([4.0, 4.0, 4.0])  # truncated joint
    batch["joints_trunc"][0, 21 + 6] = 0
    # (1 + 2 + 3) + (1 + 1) = 8 over 252
    assert only(compute_losses(pred, batch), "joints_hm") == pytest.approx(8 / 252)


def test_mano_joints_hm():
    pred, batch = zero_pred(), zero_batch()
    batch["joints_trunc"][:] = 0
    batch["joints_valid"][:] = 0
    batch["mano_joints_hm"][0, 41] = torch.tensor([0.5, 0.5, 0.5])
    # 1.5 over 252
    assert only(compute_losses(pred, batch), "mano_joints_hm") == pytest.approx(1.5 / 252)


def test_joints_proj_against_xy_of_joints_hm():
    pred, batch = zero_pred(), zero_batch()
    batch["joints_trunc"][:] = 0  # isolate from joints_hm
    batch["is_3d"][:] = 0  # isolate from joints_cam (prediction and target are zero anyway)
    pred.right.joints_proj_hm[0, 3] = torch.tensor([2.0, -1.0])
    batch["joints_hm"][0, 3] = torch.tensor([0.0, 0.0, 5.0])  # z is not part of the projection loss
    pred.left.joints_proj_hm[1, 0] = torch.tensor([3.0, 3.0])
    batch["joints_valid"][1, 21] = 0
    # |2| + |-1| = 3 over 2 x 42 x 2 = 168
    assert only(compute_losses(pred, batch), "joints_proj") == pytest.approx(3 / 168)


def test_vertex_term_when_enabled_is_wrist_relative():
    pred, batch = zero_pred(), zero_batch()
    batch["mano_root_cam"][0, 0] = torch.tensor([0.0, 0.0, 1.0])
    batch["mano_verts_cam"][0, 0] = torch.tensor([0.0, 0.0, 1.0])  # all 5 right vertices at the wrist: error 0
    batch["mano_verts_cam"][1, 1, 2] = torch.tensor([0.2, 0.0, 0.0])  # left hand, vertex 2, sample 1
    batch["mano_verts_cam"][0, 1, 0] = torch.tensor([7.0, 7.0, 7.0])
    batch["mano_valid"][0, 1] = 0
    losses = compute_losses(pred, batch, {"verts_cam": 2.0})
    # 0.2 over 2 x 2 x 5 x 3 = 60 elements, times 2
    assert only(losses, "verts_cam") == pytest.approx(2 * 0.2 / 60)


def test_weights_scale_terms_and_zero_drops_them():
    pred, batch = zero_pred(), zero_batch()
    pred.rel_trans[0, 0] = 6.0
    assert compute_losses(pred, batch, {"rel_trans": 3.0})["rel_trans"].item() == pytest.approx(3.0)
    assert "rel_trans" not in compute_losses(pred, batch, {"rel_trans": 0.0})
    with pytest.raises(KeyError, match="mesh"):
        compute_losses(pred, batch, {"mesh": 1.0})


def test_total_is_plain_sum():
    pred, batch = zero_pred(), zero_batch()
    pred.rel_trans[0, 0] = 6.0
    pred.right.betas[0] = 2.0
    losses = compute_losses(pred, batch)
    assert total_loss(losses).item() == pytest.approx(1.0 + 0.5)


def test_mask_layouts_agree():
    """(B, 42), (B, 42, 1), (B, 2, 21) and per-coordinate (B, 42, 3) masks give the same loss."""
    torch.manual_seed(0)
    pred, target = torch.randn(B, 2, 21, 3), torch.randn(B, 42, 3)
    valid = (torch.rand(B, 42) > 0.5).float()
    ref = masked_l1(pred, target, valid).mean()
    for v in (valid[..., None], valid.view(B, 2, 21), valid[..., None].expand(B, 42, 3)):
        assert masked_l1(pred, target, v).mean().item() == pytest.approx(ref.item(), abs=0, rel=1e-6)
    with pytest.raises(ValueError, match="mask"):
        masked_l1(pred, target, torch.ones(B, 5))


def test_nan_in_masked_target_is_harmless_but_nan_in_valid_prediction_is_not_hidden():
    pred, batch = zero_pred(), zero_batch()
    pred.right.betas.requires_grad_(True)
    batch["mano_betas"][1, 0] = float("nan")  # placeholder of a hand without a fit
    batch["mano_betas_valid"][1, 0] = 0
    loss = compute_losses(pred, batch)["mano_betas"]
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(pred.right.betas.grad).all()
    pred2 = zero_pred()
    pred2.left.betas[0, 0] = float("nan")  # a diverged prediction at a valid element
    assert not torch.isfinite(total_loss(compute_losses(pred2, zero_batch())))


def test_matches_official_formula_on_random_inputs():
    """The official CoordLoss/ParamLoss layout: two-hand tensors concatenated along joints/params."""
    torch.manual_seed(1)
    pred = zero_pred()
    for _, hand in pred.hands():
        for name in ("root_pose_aa", "hand_pose_aa", "betas", "joints_hm", "joints_cam", "joints_proj_hm"):
            getattr(hand, name).copy_(torch.randn_like(getattr(hand, name)))
    pred.rel_trans.copy_(torch.randn(B, 3))
    batch = {
        k: (torch.randn_like(v) if "valid" not in k and "trunc" not in k and k != "is_3d" else v)
        for k, v in zero_batch().items()
    }
    for k in ("rel_trans_valid", "mano_pose_valid", "mano_betas_valid", "joints_valid", "mano_joints_valid",
              "joints_trunc", "mano_joints_trunc", "is_3d"):  # fmt: skip
        batch[k] = (torch.rand_like(batch[k]) > 0.3).float()
    ours = compute_losses(pred, batch)

    # official-layout tensors
    rh, lh = pred.right, pred.left
    mano_pose = torch.cat([rh.root_pose_aa, rh.hand_pose_aa, lh.root_pose_aa, lh.hand_pose_aa], 1)  # (B, 96)
    joint_cam = torch.cat([rh.joints_cam, lh.joints_cam], 1)  # (B, 42, 3)
    joint_img = torch.cat([rh.joints_hm, lh.joints_hm], 1)
    joint_proj = torch.cat([rh.joints_proj_hm, lh.joints_proj_hm], 1)
    is_3d = batch["is_3d"]

    def coord(out, gt, valid, is_3d_=None):
        loss = (out - gt).abs() * valid
        if is_3d_ is not None:
            loss = torch.cat([loss[:, :, :2], loss[:, :, 2:] * is_3d_[:, None, None]], 2)
        return loss.mean()

    expected = {
        "rel_trans": coord(pred.rel_trans[:, None], batch["rel_trans"][:, None], batch["rel_trans_valid"][:, None, None]),
        "mano_pose": ((mano_pose - batch["mano_pose_aa"].reshape(B, 96)).abs()
                      * batch["mano_pose_valid"].repeat_interleave(48, 1)).mean(),
        "mano_betas": ((torch.cat([rh.betas, lh.betas], 1) - batch["mano_betas"].reshape(B, 20)).abs()
                       * batch["mano_betas_valid"].repeat_interleave(10, 1)).mean(),
        "joints_cam": 10 * coord(joint_cam, batch["joints_cam"], batch["joints_valid"][..., None] * is_3d[:, None, None]),
        "mano_joints_cam": 10 * coord(joint_cam, batch["mano_joints_cam"], batch["mano_joints_valid"][..., None]),
        "joints_hm": coord(joint_img, batch["joints_hm"], batch["joints_trunc"][..., None], is_3d),
        "mano_joints_hm": coord(joint_img, batch["mano_joints_hm"], batch["mano_joints_trunc"][..., None]),
        "joints_proj": coord(joint_proj, batch["joints_hm"][:, :, :2], batch["joints_valid"][..., None]),
    }  # fmt: skip
    assert set(ours) == set(expected)
    for k in expected:
        assert ours[k].item() == pytest.approx(expected[k].item(), rel=1e-6), k


def test_missing_target_names_the_key():
    batch = zero_batch()
    del batch["mano_joints_hm"]
    with pytest.raises(KeyError, match="mano_joints_hm"):
        compute_losses(zero_pred(), batch)
