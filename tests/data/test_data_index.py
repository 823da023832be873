"""The streaming JSON reader and the annotation index: exactly what the JSON holds; stale/corrupt detection."""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pytest

from eanet.data.index import AnnotationIndex, IndexCorruptError, check_index, open_index
from eanet.data.jsonstream import JSONFormatError, iter_json_items
from eanet.data.release import HAND_TYPE_CODES, release_paths


def _doc():
    return {
        "images": [{"id": i, "name": "é" * i, "x": [1.5e-3 * i, -2, None, True]} for i in range(40)],
        "annotations": [{"id": i, "v": [1, 0] * 21, "s": "a\"b\\c"} for i in range(40)],
        "empty": [],
        "nested": {"a": {"b": 1}},
    }


@pytest.mark.parametrize("chunk", [3, 17, 1 << 20])
@pytest.mark.parametrize("indent", [None, 2])
def test_stream_matches_json_load(tmp_path, chunk, indent):
    doc = _doc()
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc, indent=indent, ensure_ascii=False), encoding="utf-8")
    items = list(iter_json_items(path, 1, chunk_chars=chunk))
    assert dict((k[0], v) for k, v in items) == doc
    items2 = list(iter_json_items(path, 2, chunk_chars=chunk))
    assert [k for k, _ in items2 if k[0] == "images"] == [("images", i) for i in range(40)]
    assert [v for k, v in items2 if k[0] == "annotations"] == doc["annotations"]
    assert ("nested", "a") in [k for k, _ in items2]


@pytest.mark.parametrize(
    "mutate, where",
    [
        (lambda s: s[: len(s) // 2], "line"),  # truncated
        (lambda s: s.replace('"id": 7,', '"id": 7,,', 1), "line 1"),  # syntax error
        (lambda s: s + " {}", "extra data"),
    ],
)
def test_stream_reports_file_and_position(tmp_path, mutate, where):
    path = tmp_path / "bad.json"
    path.write_text(mutate(json.dumps(_doc())))
    with pytest.raises(JSONFormatError) as err:
        list(iter_json_items(path, 2, chunk_chars=64))
    assert str(path) in str(err.value) and where in str(err.value)


def test_index_returns_exactly_the_json(tiny_release_dir, tmp_path):
    paths = release_paths(tiny_release_dir, "train")
    index = open_index(paths, tmp_path / "idx")
    data = json.loads(paths.data.read_text())
    cameras = json.loads(paths.camera.read_text())
    joints = json.loads(paths.joint_3d.read_text())
    mano = json.loads(paths.mano.read_text())
    ann, img = index.annotations, index.images
    assert index.num_annotations == len(data["annotations"])
    images_by_id = {im["id"]: im for im in data["images"]}
    for r, a in enumerate(data["annotations"]):
        assert ann["id"][r] == a["id"] and ann["image_id"][r] == a["image_id"]
        np.testing.assert_array_equal(ann["bbox"][r], np.float32(a["bbox"]))
        np.testing.assert_array_equal(ann["joint_valid"][r], a["joint_valid"])
        assert ann["hand_type"][r] == HAND_TYPE_CODES[a["hand_type"]]
        assert ann["hand_type_valid"][r] == a["hand_type_valid"]
        im = images_by_id[a["image_id"]]
        i = int(ann["image_row"][r])
        assert img["id"][i] == im["id"] and index.file_name(i) == im["file_name"]
        assert (img["width"][i], img["height"][i], img["capture"][i], img["frame_idx"][i]) == (
            im["width"], im["height"], im["capture"], im["frame_idx"])  # fmt: skip
        assert index.strings[img["seq"][i]] == im["seq_name"]
        assert index.strings[img["camera"][i]] == im["camera"]
        cap, frame, cam = str(im["capture"]), str(im["frame_idx"]), im["camera"]
        j = int(ann["joints_row"][r])
        np.testing.assert_array_equal(index.joints["world_coord"][j], np.float32(joints[cap][frame]["world_coord"]))
        np.testing.assert_array_equal(index.joints["joint_valid"][j], joints[cap][frame]["joint_valid"])
        c = int(ann["camera_row"][r])
        for key in ("campos", "camrot", "focal", "princpt"):
            np.testing.assert_array_equal(index.cameras[key][c], np.float32(cameras[cap][key][cam]))
        m = int(ann["mano_row"][r])
        if frame not in mano[cap]:
            assert m == -1
            continue
        for h, hand in enumerate(("right", "left")):
            params = mano[cap][frame][hand]
            assert index.mano["valid"][m][h] == (params is not None)
            if params is not None:
                for key in ("pose", "shape", "trans"):
                    np.testing.assert_array_equal(index.mano[key][m][h], np.float32(params[key]))


def test_pycocotools_reads_the_data_file(tiny_release_dir):
    from pycocotools.coco import COCO

    db = COCO(str(release_paths(tiny_release_dir, "train").data))
    assert len(db.anns) == 24 and len(db.imgs) == 24


def test_stale_index_is_rebuilt(fresh_release, tmp_path, caplog):
    paths = release_paths(fresh_release, "train")
    index = open_index(paths, tmp_path / "idx")
    assert index.joints["world_coord"][0, 0, 0] != 123.0
    joints = json.loads(paths.joint_3d.read_text())
    first = next(iter(joints.values()))
    next(iter(first.values()))["world_coord"][0][0] = 123.0
    paths.joint_3d.write_text(json.dumps(joints) + "   ")  # a different size: stale
    with caplog.at_level(logging.INFO, logger="eanet.data.index"):
        index = open_index(paths, tmp_path / "idx")
    assert "changed since it was built" in caplog.text
    assert index.joints["world_coord"][0, 0, 0] == 123.0


def test_touched_but_unchanged_source_is_not_rebuilt(fresh_release, tmp_path, caplog):
    paths = release_paths(fresh_release, "train")
    open_index(paths, tmp_path / "idx")
    os.utime(paths.mano, ns=(1, 1))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="eanet.data.index"):
        open_index(paths, tmp_path / "idx")
    assert "building" not in caplog.text


def test_corrupt_index_is_rebuilt_or_reported(fresh_release, tmp_path, caplog):
    paths = release_paths(fresh_release, "train")
    directory = tmp_path / "idx"
    open_index(paths, directory)
    target = directory / "joints" / "world_coord.npy"
    target.write_bytes(target.read_bytes()[:-10])  # truncated array
    assert check_index(directory, full=False)
    with pytest.raises(IndexCorruptError):
        AnnotationIndex.open(directory)
    with caplog.at_level(logging.INFO, logger="eanet.data.index"):
        index = open_index(paths, directory)
    assert "corrupt" in caplog.text and not check_index(directory)
    assert index.joints["world_coord"].shape[0] == 8

    (directory / "header.json").write_text("{not json")
    assert open_index(paths, directory).num_annotations == 24  # rebuilt again

    # a flipped byte keeps the size: the quick check passes, the CRC check does not
    target = directory / "annotations" / "bbox.npy"
    raw = bytearray(target.read_bytes())
    raw[-1] ^= 0xFF
    target.write_bytes(bytes(raw))
    assert any("CRC32" in p for p in check_index(directory, full=True))

    # sources gone and index corrupt: a clear error that says what to do
    (directory / "header.json").write_text("[]")
    paths.mano.unlink()
    with pytest.raises(IndexCorruptError, match="eanet index build"):
        open_index(paths, directory)


def test_malformed_annotation_file_names_file_and_position(fresh_release, tmp_path):
    paths = release_paths(fresh_release, "train")
    text = paths.data.read_text()
    paths.data.write_text(text.replace('"joint_valid": [', '"joint_valid": [1, ', 1))  # 43 entries
    with pytest.raises(JSONFormatError, match=r"annotations\[0\].*joint_valid"):
        open_index(paths, tmp_path / "idx")
    paths.data.write_text(text[:-300])
    with pytest.raises(JSONFormatError, match=r"InterHand2.6M_train_data.json: line 1, column \d+"):
        open_index(paths, tmp_path / "idx")
    assert not (tmp_path / "idx").exists()  # a failed build leaves nothing behind
