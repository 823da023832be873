"""The HIC reader on a tiny HIC.json + PLY meshes, the ``eanet index`` command and ``build_dataset``."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from eanet.cli import main
from eanet.data import build_dataset
from eanet.data.collate import Collator
from eanet.data.config import DataConfig
from eanet.data.hic import HIC, HIC_FOCAL, HIC_PRINCPT
from eanet.data.sample import HIC_SAMPLE_KEYS
from eanet.errors import InvalidInputError


def _write_ply(path, verts):
    from plyfile import PlyData, PlyElement

    v = np.array([tuple(p) for p in verts], dtype=[("x", "f4"), ("y", "f4"), ("z", "f4")])
    PlyData([PlyElement.describe(v, "vertex")]).write(str(path))


def _make_hic(tmp_path, num_verts=778):
    """A 3-image HIC set whose meshes have ``num_verts`` vertices; returns (folder above data/, meshes)."""
    rng = np.random.default_rng(0)
    root = tmp_path / "HIC" / "data"
    (root / "meshes").mkdir(parents=True)
    (root / "images").mkdir()
    images, anns, meshes = [], [], {}
    for i, hand_type in enumerate(["right", "left", "interacting"]):
        img = np.zeros((480, 640, 3), np.uint8)
        paths = {}
        for h, (side, dx) in enumerate((("right", -0.06), ("left", 0.06))):
            if hand_type not in (side, "interacting"):
                continue
            verts = rng.normal(0, 0.02, (num_verts, 3)) + [dx, 0.0, 0.6]
            meshes[(i, h)] = verts.astype(np.float32)
            paths[side] = f"meshes/{i}_{side}.ply"
            _write_ply(root / paths[side], verts)
            uv = verts[:, :2] / verts[:, 2:] * HIC_FOCAL + HIC_PRINCPT
            for u, v in uv:
                cv2.circle(img, (int(u), int(v)), 1, (255, 255, 255), -1)
        cv2.imwrite(str(root / "images" / f"{i}.jpg"), img)
        images.append({"id": i, "file_name": f"images/{i}.jpg", "width": 640, "height": 480})
        anns.append({"id": 10 + i, "image_id": i, "hand_type": hand_type, "right_mano_path": paths.get("right"),
                     "left_mano_path": paths.get("left")})  # fmt: skip
    (root / "HIC.json").write_text(json.dumps({"images": images, "annotations": anns}))
    return root.parent, meshes


@pytest.fixture
def hic_root(tmp_path):
    return _make_hic(tmp_path)


def test_hic_reader(hic_root):
    root, meshes = hic_root
    ds = HIC(root, input_size=(64, 64))  # finds data/HIC.json under the given folder
    assert len(ds) == 3
    for i in range(3):
        s = ds[i]
        assert set(HIC_SAMPLE_KEYS) <= set(s) and s.pop("_skipped") == []
        for h in (0, 1):
            if (i, h) in meshes:
                assert s["mano_valid"][h] == 1
                np.testing.assert_allclose(s["mano_verts_cam"][h], meshes[(i, h)], atol=1e-6)
            else:
                assert s["mano_valid"][h] == 0 and not s["mano_verts_cam"][h].any()
        # the crop holds the hands: every projected vertex of a present hand lands inside it
        for h in np.nonzero(s["mano_valid"])[0]:
            v = s["mano_verts_cam"][h]
            uv = v[:, :2] / v[:, 2:] * HIC_FOCAL + HIC_PRINCPT
            crop = uv @ s["img2bb_trans"][:, :2].T + s["img2bb_trans"][:, 2]
            assert ((crop >= 0) & (crop < 64)).all()
        assert s["img"].shape == (3, 64, 64) and s["img"].max() > 0.5
    batch = Collator()([ds[i] for i in range(3)])
    assert batch["mano_verts_cam"].shape == (3, 2, 778, 3) and batch["skipped"] == []
    from pycocotools.coco import COCO

    assert len(COCO(str(root / "data" / "HIC.json")).anns) == 3


def test_hic_vertex_count_comes_from_the_meshes(tmp_path):
    root, meshes = _make_hic(tmp_path, num_verts=57)  # not MANO's 778: e.g. another hand model's meshes
    ds = HIC(root, input_size=(64, 64))
    assert ds.num_verts == 57
    s = ds[2]
    assert s["mano_verts_cam"].shape == (2, 57, 3)
    np.testing.assert_allclose(s["mano_verts_cam"][1], meshes[(2, 1)], atol=1e-6)
    ds.check_hand_model(57)  # matching: no error


def test_hic_vertex_count_mismatch_with_hand_model_is_a_clear_error(tmp_path):
    root, _ = _make_hic(tmp_path, num_verts=57)
    with pytest.raises(InvalidInputError, match=r"57 vertices.*\(MANO, 778 vertices\)"):
        HIC(root, input_size=(64, 64), num_verts=778, hand_model_name="MANO")
    ds = HIC(root, input_size=(64, 64))
    with pytest.raises(InvalidInputError, match="another hand model"):
        ds.check_hand_model(778, "MANO")


def test_hic_meshes_of_different_sizes_are_a_clear_error(tmp_path):
    root, _ = _make_hic(tmp_path, num_verts=57)
    _write_ply(root / "data" / "meshes" / "2_left.ply", np.zeros((40, 3)) + [0.0, 0.0, 0.6])
    ds = HIC(root, input_size=(64, 64))
    with pytest.raises(InvalidInputError, match="40 vertices.*same hand model"):
        ds[2]


def test_hic_missing_image_is_dropped(hic_root):
    root, _ = hic_root
    (root / "data" / "images" / "1.jpg").unlink()
    ds = HIC(root / "data", input_size=(64, 64))
    batch = Collator()([ds[i] for i in range(3)])
    assert batch["index"].tolist() == [0, 2] and batch["skipped"][0].reason == "missing"


def test_build_dataset_from_config(tiny_release_dir, hand_pair, hic_root):
    cfg = DataConfig(root=str(tiny_release_dir), index_cache_dir=str(tiny_release_dir / "cache"))
    sizes = dict(input_size=(64, 64), heatmap_shape=(8, 2, 2))  # the model's, passed explicitly
    train = build_dataset(cfg, "train", hand_model_data=hand_pair, **sizes)
    test = build_dataset(cfg, "test", hand_model_data=hand_pair, **sizes)
    assert train.train and train.augment is not None and len(train) == 24
    assert not test.train and test.augment is None and test.split == "test"
    assert train.input_size == test.input_size == (64, 64) and train.heatmap_shape == (8, 2, 2)
    hic = build_dataset(DataConfig(dataset="hic", root=str(hic_root[0])), "test", **sizes)
    assert len(hic) == 3 and hic.input_size == (64, 64)
    with pytest.raises(Exception, match="test set only"):
        build_dataset(DataConfig(dataset="hic", root=str(hic_root[0])), "train", **sizes)


def test_index_command_builds_and_checks(fresh_release, capsys):
    assert main(["index", "build", "--root", str(fresh_release)]) == 0
    out = capsys.readouterr().out
    assert "train: 24 annotations" in out and "test: 8 annotations" in out
    assert main(["index", "check", "--root", str(fresh_release), "--split", "train"]) == 0
    target = fresh_release / "annotations" / "train" / ".eanet_index" / "mano" / "pose.npy"
    raw = bytearray(target.read_bytes())
    raw[-3] ^= 0x55
    target.write_bytes(bytes(raw))
    assert main(["index", "check", "--root", str(fresh_release), "--split", "train"]) == 1
    assert "CRC32" in capsys.readouterr().out
    assert main(["index", "build", "--root", str(fresh_release), "--split", "train", "--force"]) == 0
    assert main(["index", "check", "--root", str(fresh_release), "--split", "train"]) == 0
    assert main(["index", "check", "--root", str(fresh_release / "nowhere"), "--split", "train"]) == 2
