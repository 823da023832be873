"""The InterHand2.6M training/testing pipeline on a tiny release written by ``release_fixture``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from eanet.data.augment import AugmentConfig, AugmentParams, process_bbox, union_bbox
from eanet.data.collate import Collator, ManoTargetBuilder, batch_size
from eanet.data.interhand26m import InterHand26M
from eanet.data.release import IH26M_TO_OURS_42, release_paths
from eanet.data.sample import HAND_MODEL_TARGET_KEYS, SAMPLE_FIELDS, SkipCounter, check_sample
from eanet.errors import MissingFileError

IN = 128  # small crops keep the tests fast
HM = (8, 8, 8)


def make(root, hand_pair, split="train", **kw):
    kw.setdefault("input_size", (IN, IN))
    kw.setdefault("index_dir", root / f".idx-{split}")
    return InterHand26M(root, split, hand_pair, **kw)


def crop_colour(sample, joint):
    """Mean RGB of the 3x3 crop pixels around joint ``joint``'s heatmap position."""
    x, y = sample["joints_hm"][joint, :2] * IN / HM[2]
    xi, yi = int(round(x)), int(round(y))
    patch = sample["img"][:, max(0, yi - 1) : yi + 2, max(0, xi - 1) : xi + 2]
    return patch.reshape(3, -1).mean(1)


def hands_land_on_discs(sample) -> int:
    """Check every valid in-crop joint sits on a disc of its hand's colour; returns how many were checked."""
    flipped = bool(sample["do_flip"])
    checked = 0
    for j in range(42):
        x, y = sample["joints_hm"][j, :2]
        if not sample["joints_valid"][j] or not (0.3 < x < HM[2] - 0.3 and 0.3 < y < HM[1] - 0.3):
            continue
        r, g, _ = crop_colour(sample, j)
        right_slot = j < 21
        # After a flip the right slot holds the image's mirrored left hand, drawn in green (as the official flip).
        expect_red = right_slot != flipped
        assert (r > g + 0.3) if expect_red else (g > r + 0.3), (j, flipped, r, g)
        checked += 1
    return checked


def test_sample_follows_the_contract(tiny_release_dir, hand_pair, hand_layers):
    ds = make(tiny_release_dir, hand_pair, train=True, augment=AugmentConfig())
    assert len(ds) == 24
    sample = ds[3]
    assert sample.pop("_skipped") == []
    check_sample(sample)
    assert sample["img"].shape == (3, IN, IN) and 0 <= sample["img"].min() and sample["img"].max() <= 1
    batch = Collator(ManoTargetBuilder(*hand_layers, input_size=(IN, IN)))([ds[i] for i in range(4)])
    assert set(SAMPLE_FIELDS) | set(HAND_MODEL_TARGET_KEYS) | {"skipped"} == set(batch)
    assert batch["mano_verts_cam"].shape == (4, 2, 778, 3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_2d_joints_land_on_the_hands_in_the_crop(tiny_release_dir, hand_pair, seed):
    ds = make(tiny_release_dir, hand_pair, train=True, augment=AugmentConfig(), seed=seed)
    checked = sum(hands_land_on_discs(ds[i]) for i in range(len(ds)))
    flips = sum(bool(ds[i]["do_flip"]) for i in range(len(ds)))
    assert checked > 300 and 0 < flips < len(ds)


@pytest.mark.parametrize("bug", [False, True])
def test_no_augmentation_crops_hold_the_joints(tiny_release_dir, hand_pair, bug):
    ds = make(tiny_release_dir, hand_pair, official_union_bbox_bug=bug)
    for i in range(len(ds)):
        s = ds.load_sample(i)
        assert hands_land_on_discs(s) > 0
        np.testing.assert_allclose(s["aug_rotmat"], np.eye(3), atol=1e-7)
        if not bug:  # with the fix every valid joint of every hand is inside the crop
            inside = (s["joints_hm"][:, :2] >= 0).all(1) & (s["joints_hm"][:, :2] < 8).all(1)
            assert inside[s["joints_valid"] > 0].all()


def test_union_bbox_bug_is_reproducible_and_fixed_by_default():
    right = np.array([[100.0, 100.0, 50.0, 50.0]], np.float32)
    left = np.array([[40.0, 60.0, 50.0, 50.0]], np.float32)  # starts left of and above the right box
    np.testing.assert_allclose(union_bbox(right, left), [[40, 60, 110, 90]])
    np.testing.assert_allclose(union_bbox(right, left, official_bug=True), [[40, 60, 50, 50]])  # too small
    box, ok = process_bbox(np.array([[10.0, 20.0, 30.0, 60.0]]), 334, 512)
    assert ok[0]
    np.testing.assert_allclose(box, [[-12.375, 12.625, 73.75, 73.75]], atol=1e-4)  # clip (w-1), square, x1.25


def test_flip_swaps_hands_and_mirrors_everything(tiny_release_dir, hand_pair, hand_layers):
    ds = make(tiny_release_dir, hand_pair, train=True, augment=AugmentConfig())
    builder = Collator(ManoTargetBuilder(*hand_layers, input_size=(IN, IN)))
    swap = np.r_[21:42, 0:21]
    interacting = [i for i in range(len(ds)) if ds.load_sample(i)["hand_type"] == 2]
    i = next(i for i in interacting if ds.load_sample(i)["mano_valid"].all())
    a = ds.load_sample(i, AugmentParams())
    b = ds.load_sample(i, AugmentParams(do_flip=True))
    np.testing.assert_allclose(b["joints_cam"], a["joints_cam"][swap] * [-1, 1, 1], atol=1e-6)
    np.testing.assert_allclose(b["joints_hm"][:, 0], HM[2] - a["joints_hm"][swap, 0], atol=1e-4)
    np.testing.assert_allclose(b["joints_hm"][:, 1:], a["joints_hm"][swap, 1:], atol=1e-4)
    np.testing.assert_array_equal(b["joints_valid"], a["joints_valid"][swap])
    np.testing.assert_allclose(b["rel_trans"], a["rel_trans"] * [1, -1, -1], atol=1e-6)
    np.testing.assert_allclose(b["mano_pose_aa"], (a["mano_pose_aa"].reshape(2, 16, 3) * [1, -1, -1])[::-1].reshape(
        2, 48), atol=1e-5)  # fmt: skip
    np.testing.assert_array_equal(b["mano_betas"], a["mano_betas"][::-1])
    assert hands_land_on_discs(b) > 0
    ba, bb = builder([a]), builder([b])
    np.testing.assert_allclose(bb["mano_joints_cam"][0], ba["mano_joints_cam"][0][swap] * torch.tensor([-1, 1, 1.0]),
                               atol=1e-5)  # fmt: skip
    np.testing.assert_allclose(bb["mano_joints_hm"][0, :, 0], HM[2] - ba["mano_joints_hm"][0][swap, 0], atol=1e-3)
    np.testing.assert_allclose(bb["mano_verts_cam"][0], ba["mano_verts_cam"][0].flip(0) * torch.tensor([-1, 1, 1.0]),
                               atol=1e-5)  # fmt: skip
    # the mirrored target pose, run through the other side's (mirror-image) model, gives the mirrored joints
    right, _ = hand_layers
    p = torch.tensor(b["mano_pose_aa"][0:1])
    out = right(p[:, :3], p[:, 3:], torch.tensor(b["mano_geom_betas"][0:1]))
    rel = out.joints[0] - out.joints[0, :1]
    np.testing.assert_allclose(rel.numpy(), bb["mano_joints_cam"][0, :21].numpy(), atol=1e-5)


def test_rotation_augmentation_rotates_3d_targets_about_the_optical_axis(tiny_release_dir, hand_pair, hand_layers):
    ds = make(tiny_release_dir, hand_pair, train=True, augment=AugmentConfig())
    builder = Collator(ManoTargetBuilder(*hand_layers, input_size=(IN, IN)))
    a = ds.load_sample(5, AugmentParams())
    b = ds.load_sample(5, AugmentParams(rot_deg=30.0, scale=1.1))
    c, s = np.cos(np.deg2rad(-30)), np.sin(np.deg2rad(-30))
    rz = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    np.testing.assert_allclose(b["joints_cam"], a["joints_cam"] @ rz.T, atol=1e-6)
    np.testing.assert_allclose(b["rel_trans"], rz @ a["rel_trans"], atol=1e-6)
    np.testing.assert_allclose(b["joints_hm"][:, 2], a["joints_hm"][:, 2], atol=1e-5)
    ba, bb = builder([a]), builder([b])
    np.testing.assert_allclose(bb["mano_joints_cam"][0], ba["mano_joints_cam"][0] @ torch.tensor(rz.T).float(),
                               atol=1e-5)  # fmt: skip
    assert hands_land_on_discs(b) > 0


def test_hand_model_targets_match_the_camera_frame_mesh(tiny_release_dir, hand_pair, hand_layers):
    """No augmentation: the batched targets equal the world mesh moved by the camera, projected into the crop."""
    ds = make(tiny_release_dir, hand_pair)
    collate = Collator(ManoTargetBuilder(*hand_layers, input_size=(IN, IN)))
    index = ds.index
    for i in (0, 6, 9):
        s = ds.load_sample(i)
        batch = collate([dict(s)])
        row = int(ds.rows[i])
        m = int(index.annotations["mano_row"][row])
        for h, layer in enumerate(hand_layers):
            if not s["mano_valid"][h]:
                assert batch["mano_joints_valid"][0, 21 * h : 21 * h + 21].sum() == 0
                assert batch["mano_verts_cam"][0, h].abs().sum() == 0
                continue
            t = lambda k, m=m, h=h: torch.tensor(np.asarray(index.mano[k][m][h])[None])  # noqa: E731
            pose = t("pose")
            out = layer(pose[:, :3], pose[:, 3:], t("shape"), t("trans"))
            joints_cam = out.joints[0].double().numpy() @ s["cam_rot"].T.astype(np.float64) + s["cam_trans"]
            np.testing.assert_allclose(batch["mano_root_cam"][0, h].numpy(), joints_cam[0], atol=2e-5)
            np.testing.assert_allclose(batch["mano_joints_cam"][0, 21 * h : 21 * h + 21].numpy(),
                                       joints_cam - joints_cam[:1], atol=2e-5)  # fmt: skip
            uv = joints_cam[:, :2] / joints_cam[:, 2:] * s["focal"] + s["princpt"]
            uv = uv @ s["img2bb_trans"][:, :2].T + s["img2bb_trans"][:, 2]
            np.testing.assert_allclose(batch["mano_joints_hm"][0, 21 * h : 21 * h + 21, :2].numpy(), uv / IN * 8,
                                       atol=1e-3)  # fmt: skip


def test_masks_for_missing_wrist_and_missing_hand_parameters(tiny_release_dir, hand_pair):
    ds = make(tiny_release_dir, hand_pair)
    data = json.loads(release_paths(tiny_release_dir, "train").joint_3d.read_text())
    bad_left = [i for i in range(len(ds)) if ds.load_sample(i)["frame_idx"] == 18 and ds.load_sample(i)["capture"] == 0]
    assert bad_left and data["0"]["18"]["joint_valid"][41] == 0
    for i in bad_left:
        s = ds.load_sample(i)
        assert s["joints_valid"][21:].sum() == 0 and s["joints_trunc"][21:].sum() == 0
        assert s["joints_valid"][:21].sum() == 21 and s["rel_trans_valid"] == 0
        assert s["mano_valid"].tolist() == [1.0, 0.0] and s["mano_pose_aa"][1].sum() == 0
    no_mano = [i for i in range(len(ds)) if ds.load_sample(i)["capture"] == 1 and ds.load_sample(i)["frame_idx"] == 18]
    for i in no_mano:
        s = ds.load_sample(i)
        assert s["mano_valid"].sum() == 0 and s["mano_pose_valid"].sum() == 0 and s["mano_betas_valid"].sum() == 0
    right_only = ds.load_sample(0)
    assert right_only["hand_type"] == 0 and right_only["joints_valid"][21:].sum() == 0
    assert right_only["mano_valid"].tolist() == [1.0, 0.0]
    # the release order keeps the wrist at 20/41; ours at 0/21
    np.testing.assert_array_equal(right_only["joints_valid"], right_only["joints_valid_2d_ih26m"][IH26M_TO_OURS_42] *
                                  right_only["joints_valid"])  # fmt: skip


def test_large_betas_become_the_mean_shape_but_stay_valid(tiny_release_dir, hand_pair):
    ds = make(tiny_release_dir, hand_pair)
    clamped = [ds.load_sample(i) for i in range(len(ds)) if ds.load_sample(i)["frame_idx"] == 12]
    assert clamped
    for s in clamped:
        assert (np.abs(s["mano_geom_betas"]) > 3).any(1).all()
        assert s["mano_betas"].sum() == 0 and s["mano_betas_valid"].all()
    kept = make(tiny_release_dir, hand_pair, betas_clamp=None, index_dir=tiny_release_dir / ".idx-train")
    i = next(i for i in range(len(kept)) if kept.load_sample(i)["frame_idx"] == 12)
    np.testing.assert_array_equal(kept.load_sample(i)["mano_betas"], kept.load_sample(i)["mano_geom_betas"])


def test_subsets_through_the_id_list(fresh_release, hand_pair):
    data = json.loads(release_paths(fresh_release, "train").data.read_text())
    ids = [a["id"] for a in data["annotations"]]
    with pytest.raises(MissingFileError, match="aid_human_annot_train.txt"):
        make(fresh_release, hand_pair, subset="H")
    (fresh_release / "aid_human_annot_train.txt").write_text("\n".join(str(i) for i in ids[::3]) + "\n")
    h = make(fresh_release, hand_pair, subset="H")
    m = make(fresh_release, hand_pair, subset="M")
    hm = make(fresh_release, hand_pair, subset="HM")
    got_h = {int(h.index.annotations["id"][r]) for r in h.rows}
    got_m = {int(m.index.annotations["id"][r]) for r in m.rows}
    assert got_h == set(ids[::3]) and got_m == set(ids) - set(ids[::3]) and len(hm) == len(ids)


def test_rootnet_boxes_are_used_verbatim_in_testing(fresh_release, hand_pair):
    data = json.loads(release_paths(fresh_release, "test").data.read_text())
    gt = make(fresh_release, hand_pair, split="test")
    boxes = {a["id"]: [10.0 + k, 20.0, 200.0, 210.0] for k, a in enumerate(data["annotations"][1:])}
    rootnet = [{"annot_id": i, "bbox": b, "abs_depth": [700.0, 710.0]} for i, b in boxes.items()]
    path = fresh_release / "rootnet.json"
    path.write_text(json.dumps(rootnet))
    with pytest.raises(MissingFileError, match="rootnet_interhand2.6m_output_test.json"):
        make(fresh_release, hand_pair, split="test", bbox_source="rootnet")
    ds = make(fresh_release, hand_pair, split="test", bbox_source="rootnet", rootnet_path=str(path))
    assert len(ds) == len(gt) - 1  # the annotation without a RootNet box is left out (and counted)
    assert ds.filter_counts["skipped_no_rootnet_bbox"] == 1
    for i in range(len(ds)):
        s = ds[i]
        np.testing.assert_allclose(s["bbox"], boxes[int(s["annot_id"])])
        assert not s["do_flip"] and s["rot_deg"] == 0


def test_missing_and_corrupt_images_are_skipped_counted_and_reported(fresh_release, hand_pair, caplog):
    train = make(fresh_release, hand_pair, train=True, augment=AugmentConfig())
    test = make(fresh_release, hand_pair)
    train.image_path(2).unlink()
    data = train.image_path(4).read_bytes()
    train.image_path(4).write_bytes(data[: len(data) // 2])  # truncated JPEG (OpenCV would decode it silently)
    train.image_path(6).write_bytes(b"not an image at all")
    collate = Collator()
    batch = collate([train[i] for i in range(8)])
    assert batch_size(batch) == 8  # replaced by the next readable samples
    assert sorted((s.index, s.reason) for s in batch["skipped"]) == [(2, "missing"), (4, "truncated"), (6, "corrupt")]
    assert batch["index"].tolist() == [0, 1, 3, 3, 5, 5, 7, 7]
    batch = collate([test[i] for i in range(8)])
    assert batch_size(batch) == 5 and 2 not in batch["index"].tolist()  # dropped, never duplicated in testing
    counter = SkipCounter()
    counter.update(batch["skipped"])
    with caplog.at_level("WARNING"):
        text = counter.report("epoch 3")
    assert "skipped 3 sample(s)" in text and "1 missing" in text and str(train.image_path(2)) in caplog.text
    assert len(counter) == 0
    loader = torch.utils.data.DataLoader(test, batch_size=4, collate_fn=collate)
    assert sum(batch_size(b) for b in loader) == len(test) - 3


def test_augmentation_is_deterministic_per_seed_epoch_and_index(tiny_release_dir, hand_pair):
    ds = make(tiny_release_dir, hand_pair, train=True, augment=AugmentConfig(), seed=5)
    a, b = ds.augmentation(3), ds.augmentation(3)
    assert a == b and a != ds.augmentation(4)
    ds.set_epoch(1)
    assert ds.augmentation(3) != a


def test_dataset_pickles_without_copying_the_sample_list(tiny_release_dir, hand_pair):
    import pickle

    ds = make(tiny_release_dir, hand_pair, train=True, augment=AugmentConfig())
    ds.load_sample(0)  # maps some columns
    blob = pickle.dumps(ds)
    assert len(blob) < 200_000  # hand-model pivots and the header, not arrays
    clone = pickle.loads(blob)
    np.testing.assert_array_equal(clone.load_sample(5, AugmentParams())["joints_hm"],
                                  ds.load_sample(5, AugmentParams())["joints_hm"])  # fmt: skip
