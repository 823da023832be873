"""Fault matrix, data: unusable training images and a stale annotation index (docs/fault-matrix.md).

On a tiny ``eanet synth`` release (8 training images, InterHand2.6M layout), copied per test:

* missing or empty training images stop ``eanet train`` when the training set opens, with their count and the first
  paths (before: only a warning at the end of the first epoch); ``data.missing_images=warn`` trains on;
* an annotation file edited in place with its size and modification time restored fails ``eanet index check``
  (before: the check compared contents only when the mtime had changed).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from eanet.cli import main
from tiny_synthetic import FAST_TRAIN_OVERRIDES

# The evaluations are off: they are not what these tests are about.
FAST = [
    *FAST_TRAIN_OVERRIDES,
    "train.tensorboard=false",
    "train.eval_before_training=false",
    "train.eval_mean_baseline=false",
    "train.eval_every_epochs=0",
]


@pytest.fixture
def release(tiny_synth_root, tmp_path) -> Path:
    """A private copy of the release that a test may damage, without the annotation index other tests built in it."""
    return Path(shutil.copytree(tiny_synth_root, tmp_path / "release", ignore=shutil.ignore_patterns(".eanet_index")))


def _files(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def _assert_none_lost_or_changed(before: dict[str, bytes], directory: Path) -> None:
    after = _files(directory)
    assert {name: after.get(name) for name in before} == before


# ---- 9b: training images checked when the training set opens


def _damage_training_images(release: Path) -> tuple[list[Path], Path]:
    images = sorted((release / "images" / "train").rglob("*.jpg"))
    assert len(images) == 8
    missing = images[1:3]
    for path in missing:
        path.unlink()
    empty = images[5]
    empty.write_bytes(b"")
    return missing, empty


def test_missing_and_empty_training_images_stop_the_run_when_the_data_opens(release, tmp_path, capsys):
    missing, empty = _damage_training_images(release)
    before = _files(release)
    run = tmp_path / "run"
    code = main(["train", "--config", "small-synthetic", f"data.root={release}", f"output_dir={run}", *FAST])
    err = capsys.readouterr().err
    assert code == 2
    assert "3 of 8 image files cannot be used (1 empty, 2 missing)" in err
    for path in missing:
        assert f"{path} (missing)" in err
    assert f"{empty} (empty)" in err and "data.missing_images=warn" in err
    assert "Traceback" not in err
    assert not (run / "checkpoints").exists()  # not a single step was trained
    _assert_none_lost_or_changed(before, release)  # (the annotation index was added next to the annotations)


def test_missing_images_with_warn_open_the_training_set_and_say_so(release, caplog):
    from eanet.config import load_config
    from eanet.data import build_dataset

    missing, _ = _damage_training_images(release)
    cfg = load_config("small-synthetic", [f"data.root={release}", "data.missing_images=warn"])
    with caplog.at_level("WARNING", logger="eanet.data"):
        dataset = build_dataset(cfg.data, "train", cfg.hand_model, input_size=cfg.model.input_size,
                                heatmap_shape=cfg.model.heatmap_shape)  # fmt: skip
    assert len(dataset) == 8  # the samples stay; each bad one is replaced by a readable one when read
    assert "3 of 8 image files cannot be used" in caplog.text
    assert "Training on (data.missing_images=warn)" in caplog.text
    assert str(missing[0]) in caplog.text


# ---- 9c: a stale index whose source kept its size and modification time


def _edit_in_place_keeping_size_and_mtime(path: Path) -> None:
    st = path.stat()
    text = path.read_text()
    digit = next(i for i, c in enumerate(text) if c in "123456789")  # one digit of a coordinate
    path.write_text(text[:digit] + str(int(text[digit]) % 9 + 1) + text[digit + 1 :])
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns


@pytest.mark.parametrize("quick", [False, True], ids=["full", "quick"])
def test_index_check_finds_a_source_edited_with_its_mtime_restored(release, capsys, quick):
    assert main(["index", "build", "--root", str(release), "--split", "train"]) == 0
    assert main(["index", "check", "--root", str(release), "--split", "train"]) == 0
    capsys.readouterr()
    joints = release / "annotations" / "train" / "InterHand2.6M_train_joint_3d.json"
    _edit_in_place_keeping_size_and_mtime(joints)
    before = _files(release)

    code = main(["index", "check", "--root", str(release), "--split", "train", *(["--quick"] if quick else [])])
    captured = capsys.readouterr()
    assert code == 1
    assert "PROBLEMS" in captured.out
    assert f"{joints.name} (same size and modification time, different content)" in captured.out
    assert "eanet index build" in captured.err and "--force" in captured.err
    assert _files(release) == before  # the check only reads


def test_index_of_an_older_eanet_cannot_be_verified_by_a_full_check(release, capsys):
    import json

    assert main(["index", "build", "--root", str(release), "--split", "train"]) == 0
    header_path = next((release / "annotations" / "train").rglob("header.json"))
    header = json.loads(header_path.read_text())
    for fingerprint in header["sources"].values():  # what versions before the content digests recorded
        del fingerprint["sha256"], fingerprint["sha256_sampled"]
    header_path.write_text(json.dumps(header))
    capsys.readouterr()
    assert main(["index", "check", "--root", str(release), "--split", "train"]) == 1
    assert "built by an older eanet without content digests" in capsys.readouterr().out
