"""The synthetic dataset generator: a tiny InterHand2.6M-format set is generated on the fly and checked field by
field against the InterHand2.6M v1.0 release format, against pycocotools, the project's readers, the
rendered hand masks, and itself (determinism)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest

IMAGE_KEYS = {"id", "file_name", "width", "height", "capture", "subject", "seq_name", "camera", "frame_idx"}
ANN_KEYS = {"id", "image_id", "bbox", "joint_valid", "hand_type", "hand_type_valid"}
FILE_RE = re.compile(r"^Capture(\d+)/([^/]+)/cam(\d{6})/image(\d+)\.jpg$")
W, H = 96, 128
SPLITS = ("train", "val", "test")


def _config(**overrides):
    from eanet.synth.config import SynthConfig

    base = dict(
        num_frames=6,
        cameras=2,
        splits=SPLITS,
        seed=3,
        width=W,
        height=H,
        frames_per_sequence=1,
        sequences_per_capture=3,
        hic_frames=3,
        masks=True,
        grayscale_fraction=0.3,
        joint_dropout_fraction=0.3,
        missing_mano_fraction=0.2,
    )
    base.update(overrides)
    return SynthConfig(**base)


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory) -> Path:
    """A tiny dataset: 3 splits x 6 frames (one sequence of each kind) x 2 cameras, 96x128, HIC and masks."""
    from eanet.synth.generate import generate_synthetic_dataset

    root = tmp_path_factory.mktemp("synth")
    summary = generate_synthetic_dataset(_config(), root, progress=False)
    assert summary.images == {s: 12 for s in SPLITS} and summary.hic_images == 3
    return root


@pytest.fixture(scope="module")
def layers():
    from eanet.hand_model import build_hand_models
    from eanet.hand_model.config import HandModelConfig

    return build_hand_models(HandModelConfig(kind="open"))


def _load(root: Path, split: str, kind: str):
    return json.loads((root / "annotations" / split / f"InterHand2.6M_{split}_{kind}.json").read_text())


# ---------------------------------------------------------------------------------------------------------------
# Layout and fields


def test_layout_matches_the_release(synth_dir):
    for split in SPLITS:
        for kind in ("data", "camera", "joint_3d", "MANO_NeuralAnnot"):
            assert (synth_dir / "annotations" / split / f"InterHand2.6M_{split}_{kind}.json").is_file()
        data = _load(synth_dir, split, "data")
        for img in data["images"]:
            assert (synth_dir / "images" / split / img["file_name"]).is_file()
    assert not list(synth_dir.rglob("*.partial"))
    skeleton = (synth_dir / "annotations" / "skeleton.txt").read_text().splitlines()
    assert len(skeleton) == 43 and skeleton[0].startswith("#")
    assert skeleton[1] == "r_thumb4 0 1" and skeleton[21] == "r_wrist 20 -1" and skeleton[42] == "l_wrist 41 -1"
    assert skeleton[4] == "r_thumb1 3 20" and skeleton[25] == "l_thumb1 24 41"
    subjects = (synth_dir / "annotations" / "subject.txt").read_text().splitlines()
    assert len(subjects) == 1 + 2 * len(SPLITS)  # two captures per split, one subject each
    manifest = json.loads((synth_dir / "synthetic_manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["images"] == {s: 12 for s in SPLITS}


def test_data_json_fields_and_ids(synth_dir):
    for split in SPLITS:
        data = _load(synth_dir, split, "data")
        assert set(data) == {"images", "annotations"}
        images, anns = data["images"], data["annotations"]
        assert len(images) == len(anns) == 12
        assert len({i["id"] for i in images}) == 12 and len({a["id"] for a in anns}) == 12
        assert {a["image_id"] for a in anns} == {i["id"] for i in images}
        assert not {a["id"] for a in anns} & {i["id"] for i in images}  # distinct numbering catches mix-ups
        cameras = _load(synth_dir, split, "camera")
        joints = _load(synth_dir, split, "joint_3d")
        by_id = {i["id"]: i for i in images}
        for img in images:
            assert set(img) == IMAGE_KEYS
            assert (img["width"], img["height"]) == (W, H)
            m = FILE_RE.match(img["file_name"])
            assert m, img["file_name"]
            assert int(m[1]) == img["capture"] and m[2] == img["seq_name"] and m[3] == img["camera"]
            assert int(m[4]) == img["frame_idx"]
            assert isinstance(img["camera"], str) and img["camera"] in cameras[str(img["capture"])]["campos"]
            assert joints[str(img["capture"])][str(img["frame_idx"])]["seq"] == img["seq_name"]
        for ann in anns:
            assert set(ann) == ANN_KEYS
            img = by_id[ann["image_id"]]
            x, y, w, h = ann["bbox"]
            assert 0 <= x and 0 <= y and x + w <= W + 1e-6 and y + h <= H + 1e-6
            assert len(ann["joint_valid"]) == 42 and set(ann["joint_valid"]) <= {0, 1}
            assert ann["hand_type"] in ("right", "left", "interacting")
            expected = int(ann["hand_type"] != "interacting" or sum(ann["joint_valid"]) > 30)
            assert ann["hand_type_valid"] == expected
            assert ann["hand_type"] == joints[str(img["capture"])][str(img["frame_idx"])]["hand_type"]


def test_pycocotools_reads_every_split(synth_dir):
    from pycocotools.coco import COCO

    for split in SPLITS:
        coco = COCO(str(synth_dir / "annotations" / split / f"InterHand2.6M_{split}_data.json"))
        assert len(coco.getImgIds()) == 12
        img_id = coco.getImgIds()[0]
        assert len(coco.getAnnIds(imgIds=[img_id])) == 1


def test_camera_json(synth_dir):
    for split in SPLITS:
        cameras = _load(synth_dir, split, "camera")
        assert set(cameras) == {"0", "1"}
        for cap in cameras.values():
            assert set(cap) == {"campos", "camrot", "focal", "princpt"}
            names = set(cap["campos"])
            assert len(names) == 2 and all(set(cap[k]) == names for k in cap)
            for name in names:
                R = np.array(cap["camrot"][name])
                assert R.shape == (3, 3)
                np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-6)
                assert np.linalg.det(R) == pytest.approx(1.0, abs=1e-6)
                fx, fy = cap["focal"][name]
                assert 2.3 * H < fx < 2.6 * H and abs(fx - fy) < 0.01 * fx
                cx, cy = cap["princpt"][name]
                assert abs(cx - W / 2) < 0.05 * W and abs(cy - H / 2) < 0.05 * H


def test_grayscale_cameras_write_gray_images(synth_dir):
    import cv2

    seen = {"gray": 0, "color": 0}
    for split in SPLITS:
        for img in _load(synth_dir, split, "data")["images"]:
            pixels = cv2.imread(str(synth_dir / "images" / split / img["file_name"])).astype(int)
            spread = np.abs(pixels - pixels.mean(axis=2, keepdims=True)).max()
            if img["camera"].startswith("41"):
                assert spread <= 2, img["file_name"]  # JPEG keeps equal channels (up to rounding)
                seen["gray"] += 1
            else:
                seen["color"] += 1
    assert seen["color"] > 0


def test_joint_3d_and_mano_agree_with_the_hand_model(synth_dir, layers):
    import torch

    missing_frames = 0
    checked = 0
    for split in SPLITS:
        joints, mano = _load(synth_dir, split, "joint_3d"), _load(synth_dir, split, "MANO_NeuralAnnot")
        assert set(mano) <= set(joints)
        for cap, frames in joints.items():
            for frame, entry in frames.items():
                assert set(entry) == {"world_coord", "joint_valid", "hand_type", "seq"}
                world = np.array(entry["world_coord"])
                valid = np.array(entry["joint_valid"])
                assert world.shape == (42, 3) and valid.shape == (42,)
                if frame not in mano.get(cap, {}):
                    missing_frames += 1
                    continue
                params = mano[cap][frame]
                assert set(params) == {"right", "left"}
                for h, (side, layer) in enumerate(zip(("right", "left"), layers, strict=True)):
                    block = slice(21 * h, 21 * h + 21)
                    present = entry["hand_type"] in (side, "interacting")
                    if not present:
                        assert params[side] is None and not valid[block].any() and not world[block].any()
                        continue
                    if params[side] is None:
                        assert valid[20 + 21 * h] == 0  # only a hand without an annotated wrist loses its fit
                        continue
                    p = params[side]
                    assert set(p) == {"pose", "shape", "trans"}
                    assert (len(p["pose"]), len(p["shape"]), len(p["trans"])) == (48, 10, 3)
                    pose = torch.tensor([p["pose"]], dtype=torch.float64)
                    out = layer.to(torch.float64)(
                        pose[:, :3],
                        pose[:, 3:],
                        torch.tensor([p["shape"]], dtype=torch.float64),
                        transl=torch.tensor([p["trans"]], dtype=torch.float64),
                    )
                    # World joints (mm) are exactly the hand model's output with transl=trans (m), x1000.
                    np.testing.assert_allclose(out.joints_ih26m[0].numpy() * 1000, world[block], atol=1e-3)
                    checked += 1
    assert checked > 10 and missing_frames > 0


def test_world_to_camera_through_the_parameters(synth_dir, layers):
    """The reader's exact parameter route (eanet.data.mano_params) reproduces camera-frame joints to 1e-5 m."""
    import torch

    from eanet.data.mano_params import RootPivot, world_to_camera
    from eanet.data.release import camera_extrinsics
    from eanet.hand_model import load_hand_model_data

    pivots = [RootPivot.from_data(load_hand_model_data("open", s)) for s in ("right", "left")]
    data = _load(synth_dir, "test", "data")
    cameras, joints, mano = (_load(synth_dir, "test", k) for k in ("camera", "joint_3d", "MANO_NeuralAnnot"))
    checked = 0
    for img in data["images"]:
        cap, frame, name = str(img["capture"]), str(img["frame_idx"]), img["camera"]
        if frame not in mano.get(cap, {}):
            continue
        cam = cameras[cap]
        R, t = camera_extrinsics(np.array(cam["campos"][name]), np.array(cam["camrot"][name]))
        world = np.array(joints[cap][frame]["world_coord"]) / 1000.0
        for h, side in enumerate(("right", "left")):
            p = mano[cap][frame][side]
            if p is None:
                continue
            pose_cam, trans_cam = world_to_camera(
                np.array(p["pose"]), np.array(p["shape"]), np.array(p["trans"]), R, t, pivots[h]
            )
            pose_cam = torch.tensor(pose_cam[None])
            out = layers[h].to(torch.float64)(
                pose_cam[:, :3], pose_cam[:, 3:], torch.tensor([p["shape"]], dtype=torch.float64),
                transl=torch.tensor(trans_cam[None]),
            )  # fmt: skip
            expected = world[21 * h : 21 * h + 21] @ R.T + t
            np.testing.assert_allclose(out.joints_ih26m[0].numpy(), expected, atol=1e-5)
            checked += 1
    assert checked > 0


def test_truncation_flags_match_projections(synth_dir):
    truncated = 0
    for split in SPLITS:
        data = _load(synth_dir, split, "data")
        cameras, joints = _load(synth_dir, split, "camera"), _load(synth_dir, split, "joint_3d")
        anns = {a["image_id"]: a for a in data["annotations"]}
        for img in data["images"]:
            cam = cameras[str(img["capture"])]
            name = img["camera"]
            R, campos = np.array(cam["camrot"][name]), np.array(cam["campos"][name])
            entry = joints[str(img["capture"])][str(img["frame_idx"])]
            xyz = (np.array(entry["world_coord"]) - campos) @ R.T
            uv = xyz[:, :2] / xyz[:, 2:] * np.array(cam["focal"][name]) + np.array(cam["princpt"][name])
            inside = (xyz[:, 2] > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < W) & (uv[:, 1] >= 0) & (uv[:, 1] < H)
            expected = np.array(entry["joint_valid"], bool) & inside
            np.testing.assert_array_equal(np.array(anns[img["id"]]["joint_valid"], bool), expected)
            truncated += int((np.array(entry["joint_valid"], bool) & ~inside).any())
    assert truncated > 0  # small images: some hands leave the frame, so truncation is exercised


def test_projected_joints_fall_on_the_rendered_hands(synth_dir):
    import cv2

    on, total = 0, 0
    for split in SPLITS:
        data = _load(synth_dir, split, "data")
        cameras, joints = _load(synth_dir, split, "camera"), _load(synth_dir, split, "joint_3d")
        for img in data["images"]:
            mask = cv2.imread(str((synth_dir / "masks" / split / img["file_name"]).with_suffix(".png")), 0)
            assert mask.shape == (H, W) and set(np.unique(mask)) <= {0, 1, 2}
            entry = joints[str(img["capture"])][str(img["frame_idx"])]
            if entry["hand_type"] == "right":
                assert not (mask == 2).any()
            if entry["hand_type"] == "left":
                assert not (mask == 1).any()
            cam = cameras[str(img["capture"])]
            name = img["camera"]
            xyz = (np.array(entry["world_coord"]) - np.array(cam["campos"][name])) @ np.array(cam["camrot"][name]).T
            uv = xyz[:, :2] / xyz[:, 2:] * np.array(cam["focal"][name]) + np.array(cam["princpt"][name])
            dilated = cv2.dilate((mask > 0).astype(np.uint8), np.ones((5, 5), np.uint8))
            for j in range(42):
                u, v = np.round(uv[j]).astype(int)
                if entry["joint_valid"][j] and xyz[j, 2] > 0 and 0 <= u < W and 0 <= v < H:
                    total += 1
                    on += int(dilated[v, u] > 0)
    assert total > 100
    assert on / total > 0.97, f"{total - on} of {total} projected joints miss the rendered hands"


def test_human_annot_and_rootnet_files(synth_dir):
    for split in ("train", "test"):
        ids = [int(x) for x in (synth_dir / f"aid_human_annot_{split}.txt").read_text().split()]
        all_ids = {a["id"] for a in _load(synth_dir, split, "data")["annotations"]}
        assert set(ids) <= all_ids and len(ids) == len(set(ids))
    assert not (synth_dir / "aid_human_annot_val.txt").exists()  # val has no H subset in the release
    for split in ("val", "test"):
        rootnet = json.loads((synth_dir / "rootnet_output" / f"rootnet_interhand2.6m_output_{split}.json").read_text())
        anns = {a["id"]: a for a in _load(synth_dir, split, "data")["annotations"]}
        assert {r["annot_id"] for r in rootnet} == set(anns)
        for r in rootnet:
            assert set(r) == {"annot_id", "bbox", "abs_depth"}
            x, y, w, h = r["bbox"]
            assert w == pytest.approx(h) and w > 0
            assert len(r["abs_depth"]) == 2 and all(500 < d < 2500 for d in r["abs_depth"])


def test_hic_set(synth_dir, layers):
    from pycocotools.coco import COCO

    from eanet.data.hic import load_ply_vertices

    hic = synth_dir / "HIC"
    coco = COCO(str(hic / "HIC.json"))
    assert len(coco.imgs) == 3
    for ann in coco.anns.values():
        assert set(ann) == {"id", "image_id", "hand_type", "right_mano_path", "left_mano_path"}
        img = coco.imgs[ann["image_id"]]
        assert (img["width"], img["height"]) == (640, 480) and (hic / img["file_name"]).is_file()
        for side, layer in zip(("right", "left"), layers, strict=True):
            path = ann[f"{side}_mano_path"]
            assert (path is None) == (ann["hand_type"] not in (side, "interacting"))
            if path is None:
                continue
            from plyfile import PlyData

            ply = PlyData.read(str(hic / path))
            assert ply["vertex"].count == layer.num_verts and ply["face"].count == len(layer.faces)
            verts = load_ply_vertices(hic / path)
            assert 0.3 < verts[:, 2].mean() < 1.0  # camera frame, metres


def test_readers_load_the_synthetic_release(synth_dir, tmp_path):
    from eanet.data.hic import HIC
    from eanet.data.interhand26m import InterHand26M
    from eanet.hand_model import load_hand_model_data

    data = (load_hand_model_data("open", "right"), load_hand_model_data("open", "left"))
    for split in SPLITS:
        ds = InterHand26M(synth_dir, split, data, train=split == "train", index_cache_dir=tmp_path / "index")
        assert 0 < len(ds) <= 12
        sample = ds[0]
        assert sample["img"].shape == (3, 256, 256)
    rootnet = InterHand26M(synth_dir, "test", data, bbox_source="rootnet", index_cache_dir=tmp_path / "index")
    assert len(rootnet) > 0 and rootnet[0]["img"].shape == (3, 256, 256)
    hic = HIC(synth_dir / "HIC", num_verts=data[0].num_verts)
    assert len(hic) == 3 and hic[0]["mano_verts_cam"].shape == (2, data[0].num_verts, 3)


# ---------------------------------------------------------------------------------------------------------------
# Determinism and the command line


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    from eanet.synth.generate import generate_synthetic_dataset

    cfg = _config(num_frames=2, splits=("test",), hic_frames=1, masks=False, frames_per_sequence=2)
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate_synthetic_dataset(cfg, a, progress=False)
    generate_synthetic_dataset(cfg, b, progress=False)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert any(f.suffix == ".jpg" for f in files)
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    generate_synthetic_dataset(
        _config(num_frames=2, splits=("test",), hic_frames=0, masks=False, seed=4), c, progress=False
    )
    assert (a / "annotations/test/InterHand2.6M_test_joint_3d.json").read_bytes() != (
        c / "annotations/test/InterHand2.6M_test_joint_3d.json"
    ).read_bytes()


def test_cli_writes_a_dataset_and_refuses_to_clobber(tmp_path, capsys):
    from eanet.cli import main

    out = tmp_path / "cli"
    args = [
        "synth",
        "--out",
        str(out),
        "--num-frames",
        "1",
        "--cameras",
        "1",
        "--splits",
        "val",
        "--image-size",
        "64x80",
    ]
    assert main(args + ["--no-progress"]) == 0
    data = json.loads((out / "annotations/val/InterHand2.6M_val_data.json").read_text())
    assert (data["images"][0]["width"], data["images"][0]["height"]) == (64, 80)
    assert main(args) == 2  # exists: refuse
    assert "--overwrite" in capsys.readouterr().err
    assert main(args + ["--overwrite", "--no-progress"]) == 0
    foreign = tmp_path / "foreign"
    (foreign / "images" / "val").mkdir(parents=True)
    assert main(["synth", "--out", str(foreign), "--splits", "val", "--overwrite"]) == 2  # not ours: never delete
    assert (foreign / "images" / "val").is_dir()
    assert main(["synth", "--out", str(tmp_path / "x"), "--splits", "train,nope"]) == 2


# ---------------------------------------------------------------------------------------------------------------
# Building blocks


def test_writers_stream_valid_json(tmp_path):
    from eanet.synth.json_writer import CocoJsonWriter, NestedJsonWriter

    coco = CocoJsonWriter(tmp_path / "d.json")
    for i in range(3):
        coco.add_image({"id": i})
        coco.add_annotation({"id": 10 + i, "image_id": i})
    coco.close()
    assert json.loads((tmp_path / "d.json").read_text()) == {
        "images": [{"id": 0}, {"id": 1}, {"id": 2}],
        "annotations": [{"id": 10, "image_id": 0}, {"id": 11, "image_id": 1}, {"id": 12, "image_id": 2}],
    }
    nested = NestedJsonWriter(tmp_path / "n.json")
    nested.add(0, 5, {"a": 1})
    nested.add(0, 6, None)
    nested.add(1, 7, [1.5])
    with pytest.raises(ValueError, match="consecutively"):
        nested.add(0, 8, 1)
    nested.close()
    assert json.loads((tmp_path / "n.json").read_text()) == {"0": {"5": {"a": 1}, "6": None}, "1": {"7": [1.5]}}
    empty = NestedJsonWriter(tmp_path / "e.json")
    empty.close()
    assert json.loads((tmp_path / "e.json").read_text()) == {}
    aborted = CocoJsonWriter(tmp_path / "x.json")
    aborted.add_image({"id": 0})
    aborted.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.json", "e.json", "n.json"]


def test_camera_rig_looks_at_the_workspace():
    from eanet.synth.camera import sample_camera_rig

    rng = np.random.default_rng(0)
    target = np.array([100.0, -50.0, 900.0])
    rig = sample_camera_rig(rng, 8, 334, 512, target, grayscale_fraction=0.5, aim_jitter_mm=0.0, roll_deg=0.0)
    assert len({c.name for c in rig}) == 8 and any(c.grayscale for c in rig) and not all(c.grayscale for c in rig)
    for cam in rig:
        assert cam.name.startswith("41") == cam.grayscale
        uv, z = cam.project(target[None])
        assert z[0] > 900 and np.allclose(uv[0], cam.princpt, atol=0.1)
        up = cam.camrot @ np.array([0.0, 0.0, 1.0])  # world up in the camera frame points up the image (-y)
        assert up[1] < 0
        assert 1200 <= cam.focal[0] <= 1300


def test_view_spread_narrows_the_camera_rig():
    from eanet.errors import InvalidInputError
    from eanet.synth.camera import sample_camera_rig

    target = np.array([0.0, 0.0, 900.0])
    full = sample_camera_rig(np.random.default_rng(1), 12, 128, 128, target)
    narrow = sample_camera_rig(np.random.default_rng(1), 12, 128, 128, target, view_spread=0.25)
    # The same draws: ids, colours and intrinsics are unchanged, only the directions are squeezed.
    assert [c.name for c in full] == [c.name for c in narrow]
    assert all(np.array_equal(a.focal, b.focal) for a, b in zip(full, narrow, strict=True))

    def directions(rig):
        d = np.stack([c.campos - target for c in rig])  # (K, 3)
        return np.degrees(np.arctan2(d[:, 1], d[:, 0])), np.degrees(np.arcsin(d[:, 2] / np.linalg.norm(d, axis=1)))

    azim, elev = directions(full)
    assert np.ptp(azim) > 270  # all around
    azim, elev = directions(narrow)
    assert np.all(np.abs(azim - -90.0) <= 45.0 + 1e-6)  # within ±180° x 0.25 of the front (-y side)
    assert np.all(np.abs(elev - 22.5) <= 47.5 * 0.25 + 3.0)  # (+ the aim jitter's effect on the measured angle)
    for cam in narrow:  # every camera looks towards +y, at the workspace
        assert cam.camrot[2, 1] > 0.5
    with pytest.raises(InvalidInputError):
        sample_camera_rig(np.random.default_rng(1), 2, 128, 128, target, view_spread=0.0)


def test_view_spread_narrows_hand_orientations(layers):
    from eanet.synth.scene import HandRig, SceneSampler, _rotvec_to_matrix

    rig = HandRig(*layers)
    betas = {"right": np.zeros(10), "left": np.zeros(10)}
    center = np.array([0.0, 0.0, 1000.0])

    def palm_normals(sampler):
        out = []
        for seed in range(12):
            kind = ("right", "left", "far", "touch")[seed % 4]
            frame = sampler.sample_sequence(np.random.default_rng(seed), kind, 1, betas, center)[0]
            for side in ("right", "left"):
                hand = frame.hand(side)
                if hand is not None:
                    R = _rotvec_to_matrix(hand.params.pose[:3])  # root rotation, world frame
                    canon, _ = rig.canonical(side, np.zeros(10))
                    out.append((R @ canon)[:, 1])  # the posed palm normal (column 1 of the hand's frame)
        return np.stack(out)

    narrow = palm_normals(SceneSampler(rig, view_spread=0.2))
    full = palm_normals(SceneSampler(rig))
    toward_front = np.array([0.0, -1.0, 0.0])
    # Narrowed: every palm faces the front side; the full sampler's palms point all over the place.
    assert (narrow @ toward_front).min() > 0.5
    assert (full @ toward_front).min() < 0.0
    with pytest.raises(ValueError):
        SceneSampler(rig, view_spread=1.5)


def test_contact_configurations(layers):
    from eanet.synth.scene import HandRig, SceneSampler

    rig = HandRig(*layers)
    sampler = SceneSampler(rig)
    betas = {"right": np.zeros(10), "left": np.zeros(10)}
    center = np.array([0.0, 0.0, 1000.0])
    for kind, lo, hi in (("touch", 1.0, 6.0), ("interlaced", 1.0, 6.0), ("far", 35.0, 260.0)):
        for seed in range(2):
            frames = sampler.sample_sequence(np.random.default_rng(seed), kind, 2, betas, center)
            for f in frames:
                assert f.right is not None and f.left is not None
                assert f.penetration_mm <= sampler.max_penetration_mm
                if f.penetration_mm == 0.0:  # not backed off: the approach stopped at the requested gap
                    assert lo <= f.min_distance_mm <= hi, (kind, f.min_distance_mm)
                mid = np.concatenate([f.right.verts_mm, f.left.verts_mm]).mean(0)
                assert np.linalg.norm(mid - center) < 200
    single = sampler.sample_sequence(np.random.default_rng(0), "left", 1, betas, center, target_pose="fist")[0]
    assert single.right is None and single.left is not None and not single.joints_world_mm[:21].any()


def test_global_orient_points_the_hand(layers):
    from eanet.synth.scene import HandRig

    rig = HandRig(*layers)
    finger, palm = np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0])
    for side in ("right", "left"):
        root = rig.global_orient(side, np.zeros(10), finger, palm)
        pose = np.concatenate([root, np.zeros(45)])[None]
        _, _, kin = rig.run(side, pose, np.zeros((1, 10)))
        a = kin[0, 4] - kin[0, 0]
        assert np.dot(a / np.linalg.norm(a), finger) > 0.999
        # Curling the fingers moves the fingertips towards the side the palm faces.
        flat, curled = rig.named_finger_pose(side, "flat"), rig.named_finger_pose(side, "fist")
        tips = [rig.run(side, np.concatenate([root, fp])[None], np.zeros((1, 10)))[1][0, 8] for fp in (flat, curled)]
        assert np.dot(tips[1] - tips[0], palm) > 0.02


@pytest.mark.mano_assets
def test_mano_hands(mano_dir, tmp_path):
    """With MANO the parameters reproduce the world joints too, and HIC meshes have MANO's 778 vertices (outputs stay
    in the test's temporary folder: MANO renders are never committed)."""
    import torch

    from eanet.hand_model import build_hand_models
    from eanet.hand_model.config import HandModelConfig
    from eanet.hand_model.skeleton import MANO_NUM_VERTS
    from eanet.synth.generate import generate_synthetic_dataset

    cfg = _config(
        num_frames=2, cameras=1, splits=("test",), hic_frames=1, hand_model="mano", mano_dir=str(mano_dir),
        missing_mano_fraction=0.0, wrist_dropout_fraction=0.0,
    )  # fmt: skip
    generate_synthetic_dataset(cfg, tmp_path, progress=False)
    layers = build_hand_models(HandModelConfig(kind="mano", mano_dir=str(mano_dir)))
    joints, mano = _load(tmp_path, "test", "joint_3d"), _load(tmp_path, "test", "MANO_NeuralAnnot")
    checked = 0
    for cap, frames in mano.items():
        for frame, params in frames.items():
            world = np.array(joints[cap][frame]["world_coord"])
            for h, side in enumerate(("right", "left")):
                if params[side] is None:
                    continue
                p = {k: torch.tensor([v], dtype=torch.float64) for k, v in params[side].items()}
                out = layers[h].to(torch.float64)(p["pose"][:, :3], p["pose"][:, 3:], p["shape"], transl=p["trans"])
                np.testing.assert_allclose(out.joints_ih26m[0].numpy() * 1000, world[21 * h : 21 * h + 21], atol=1e-3)
                checked += 1
    assert checked >= 2
    from eanet.data.hic import load_ply_vertices

    meshes = sorted((tmp_path / "HIC" / "meshes").rglob("*.ply"))
    assert meshes and all(load_ply_vertices(m).shape == (MANO_NUM_VERTS, 3) for m in meshes)


@pytest.mark.slow
def test_worker_processes_write_the_same_bytes(tmp_path):
    from eanet.synth.generate import generate_synthetic_dataset

    cfg = _config(num_frames=2, cameras=1, splits=("val",), hic_frames=0, masks=False, sequences_per_capture=1)
    generate_synthetic_dataset(cfg, tmp_path / "a", progress=False)
    generate_synthetic_dataset(dataclasses.replace(cfg, workers=2), tmp_path / "b", progress=False)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len([f for f in files if f.suffix == ".jpg"]) == 2
    for f in files:
        if f.name != "synthetic_manifest.json":  # records the worker count
            assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


def test_split_frames_sizes_one_split_and_is_checked(tmp_path):
    from eanet.errors import InvalidInputError
    from eanet.synth.generate import generate_synthetic_dataset

    cfg = _config(num_frames=4, split_frames={"test": 2}, splits=("train", "test"), hic_frames=0, masks=False,
                  frames_per_sequence=2)  # fmt: skip
    generate_synthetic_dataset(cfg, tmp_path / "d", progress=False)
    counts = {s: len(list((tmp_path / "d/images" / s).rglob("*.jpg"))) for s in ("train", "test")}
    assert counts == {"train": 4 * cfg.cameras, "test": 2 * cfg.cameras}
    with pytest.raises(InvalidInputError, match="split_frames names split 'val'"):
        _config(split_frames={"val": 2}, splits=("train", "test")).validate()
