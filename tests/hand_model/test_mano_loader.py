"""Loading MANO files: conversion, the left-hand fix (smplx#48), validation, file lookup, cache.

Most tests use MANO-format files written from random arrays (``mano_like_dir``); tests marked ``mano_assets`` read
the real files and skip when they are absent.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from eanet.errors import InvalidInputError, MissingFileError
from eanet.fileio import file_sha256
from eanet.hand_model.mano import (
    default_cache_dir,
    find_mano_files,
    left_shapedirs_fix_needed,
    load_mano_data,
    load_mano_pair,
    load_mano_pickle,
    mano_arrays_from_pickle,
    mano_cache_dir,
)
from eanet.hand_model.skeleton import MANO_TIP_VERTICES_EVAL, MANO_TIP_VERTICES_TRAIN

ARRAYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "parents", "faces", "hands_mean")


def _assert_arrays_equal(data, expected):
    for key in ARRAYS:
        np.testing.assert_array_equal(getattr(data, key), expected[key], err_msg=key)


# ----------------------------------------------------------------------------------------------------------------
# conversion and the left-hand fix


def test_converts_mano_format_files_exactly(tmp_path, write_mano_like_files):
    expected = write_mano_like_files(tmp_path / "m", seed=3, left_bug=True)
    right, left = load_mano_pair(tmp_path / "m", cache=False)
    _assert_arrays_equal(right, expected["right"])
    _assert_arrays_equal(left, expected["left"])  # the bugged left file comes back mirrored, i.e. fixed
    for data, side in ((right, "right"), (left, "left")):
        assert data.side == side and data.name == "MANO" and data.is_mano
        assert data.tip_vertices == MANO_TIP_VERTICES_TRAIN and data.tip_vertices_eval == MANO_TIP_VERTICES_EVAL
        assert data.faces.dtype == np.int64 and data.v_template.dtype == np.float64
        assert data.parents[0] == -1
    assert right.extras["shapedirs_fix_applied"] is False
    assert left.extras["shapedirs_fix_applied"] is True


def test_left_fix_logged_at_info(mano_like_dir, caplog):
    with caplog.at_level(logging.INFO, logger="eanet.hand_model.mano"):
        load_mano_data("left", mano_like_dir, cache=False)
    assert any("applied the left-hand shapedirs fix (smplx#48)" in r.getMessage() for r in caplog.records)


def test_left_fix_not_applied_to_a_correct_left_file(tmp_path, write_mano_like_files):
    expected = write_mano_like_files(tmp_path / "m", left_bug=False)
    left = load_mano_data("left", tmp_path / "m", cache=False)
    assert left.extras["shapedirs_fix_applied"] is False
    _assert_arrays_equal(left, expected["left"])


def test_loading_the_left_hand_alone_reads_the_right_file(mano_like_dir):
    left = load_mano_data("left", mano_like_dir, cache=False)
    assert left.extras["shapedirs_fix_applied"] is True
    assert left.extras["right_sha256"] == file_sha256(mano_like_dir / "MANO_RIGHT.pkl")
    (mano_like_dir / "MANO_RIGHT.pkl").unlink()
    with pytest.raises(MissingFileError, match=r"MANO_RIGHT\.pkl.*found only.*MANO_LEFT\.pkl"):
        load_mano_data("left", mano_like_dir, cache=False)


def test_fix_threshold_is_the_official_one():
    right = np.random.default_rng(0).standard_normal((778, 3, 10))
    assert left_shapedirs_fix_needed(right.copy(), right)
    flipped = right.copy()
    flipped[:, 0, :] *= -1
    assert not left_shapedirs_fix_needed(flipped, right)


# ----------------------------------------------------------------------------------------------------------------
# validation


def _raw(mano_like_dir):
    return load_mano_pickle((mano_like_dir / "MANO_RIGHT.pkl").read_bytes())


@pytest.mark.parametrize(
    "key,value",
    [
        ("posedirs", np.zeros((778, 3, 134))),
        ("v_template", np.zeros((777, 3))),
        ("weights", np.zeros((778, 15))),
        ("hands_mean", np.zeros(48)),
        ("f", np.zeros((10, 3), dtype=np.float64)),
        ("kintree_table", np.zeros((2, 16), dtype=np.int64)),
        ("v_template", np.full((778, 3), np.nan)),
    ],
)
def test_bad_array_names_the_array_and_the_file(mano_like_dir, key, value):
    raw = _raw(mano_like_dir)
    raw[key] = value
    with pytest.raises(InvalidInputError) as info:
        mano_arrays_from_pickle(raw, source="/some/MANO_RIGHT.pkl")
    assert f"'{key}'" in str(info.value) and "/some/MANO_RIGHT.pkl" in str(info.value)


def test_missing_key_and_wrong_container(mano_like_dir):
    raw = _raw(mano_like_dir)
    del raw["weights"]
    with pytest.raises(InvalidInputError, match="weights"):
        mano_arrays_from_pickle(raw, source="x.pkl")
    with pytest.raises(InvalidInputError, match="holds a list"):
        load_mano_pickle(b"\x80\x02]q\x00.", source="x.pkl")


def test_truncated_file_is_a_clear_error(mano_like_dir):
    path = mano_like_dir / "MANO_RIGHT.pkl"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(InvalidInputError, match=r"MANO_RIGHT\.pkl is not a readable MANO model file"):
        load_mano_data("right", mano_like_dir, cache=False)


def test_malformed_sparse_regressor(mano_like_dir):
    raw = _raw(mano_like_dir)
    raw["J_regressor"].indices = raw["J_regressor"].indices + 100  # rows beyond 16
    with pytest.raises(InvalidInputError, match="malformed sparse"):
        mano_arrays_from_pickle(raw, source="x.pkl")


def test_select_out_of_range(mano_like_dir):
    raw = _raw(mano_like_dir)
    raw["shapedirs"].idxs = raw["shapedirs"].idxs + 10**9
    with pytest.raises(InvalidInputError, match="outside"):
        mano_arrays_from_pickle(raw, source="x.pkl")


# ----------------------------------------------------------------------------------------------------------------
# finding the files


def test_missing_directory_message(tmp_path):
    with pytest.raises(MissingFileError) as info:
        load_mano_data("right", tmp_path / "nowhere", origin="--mano-dir")
    msg = str(info.value)
    for needle in (
        "MANO_RIGHT.pkl",
        "MANO_LEFT.pkl",
        str(tmp_path / "nowhere"),
        "--mano-dir",
        "https://mano.is.tue.mpg.de",
        "Models & Code",
        "mano_v1_2/models",
        "EANET_MANO_DIR",
    ):
        assert needle in msg, needle


def test_directory_without_files_lists_where_it_looked(tmp_path):
    with pytest.raises(MissingFileError) as info:
        find_mano_files(tmp_path)
    msg = str(info.value)
    assert str(tmp_path / "models") in msg and str(tmp_path / "mano") in msg and "MANO_LEFT.pkl" in msg


def test_no_directory_anywhere(monkeypatch):
    monkeypatch.delenv("EANET_MANO_DIR", raising=False)
    with pytest.raises(MissingFileError, match=r"EANET_MANO_DIR.*hand_model\.mano_dir|hand_model\.mano_dir.*EANET"):
        load_mano_data("right")


def test_environment_variable(mano_like_dir, monkeypatch):
    monkeypatch.setenv("EANET_MANO_DIR", str(mano_like_dir))
    files = find_mano_files()
    assert files.directory == mano_like_dir and files.origin == "$EANET_MANO_DIR"
    assert load_mano_data("right", cache=False).extras["source"] == str(mano_like_dir / "MANO_RIGHT.pkl")


def test_argument_beats_environment_without_fallback(mano_like_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("EANET_MANO_DIR", str(mano_like_dir))
    with pytest.raises(MissingFileError, match="empty_dir"):
        find_mano_files(tmp_path / "empty_dir")


def test_release_root_with_models_subfolder(tmp_path, write_mano_like_files):
    write_mano_like_files(tmp_path / "mano_v1_2" / "models")
    files = find_mano_files(tmp_path / "mano_v1_2")
    assert files.directory == tmp_path / "mano_v1_2" / "models"


# ----------------------------------------------------------------------------------------------------------------
# cache


def test_cache_directory_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("EANET_CACHE_DIR", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "a"
    monkeypatch.delenv("EANET_CACHE_DIR")
    assert default_cache_dir() == tmp_path / "xdg" / "eanet"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "eanet"


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("EANET_CACHE_DIR", str(path))
    return path / "mano"


def test_cache_roundtrip_keeps_the_fix_applied_once(mano_like_dir, cache_dir):
    right1, left1 = load_mano_pair(mano_like_dir)
    assert not left1.extras["from_cache"]
    assert mano_cache_dir() == cache_dir and len(list(cache_dir.glob("mano_*.npz"))) == 2
    right2, left2 = load_mano_pair(mano_like_dir)
    assert left2.extras["from_cache"] and right2.extras["from_cache"]
    assert left2.extras["shapedirs_fix_applied"] is True
    for key in ARRAYS:  # identical, in particular the left shapedirs are not negated a second time
        np.testing.assert_array_equal(getattr(left2, key), getattr(left1, key))
        np.testing.assert_array_equal(getattr(right2, key), getattr(right1, key))


def test_cache_off_writes_nothing(mano_like_dir, cache_dir):
    load_mano_pair(mano_like_dir, cache=False)
    assert not cache_dir.exists()


@pytest.mark.parametrize("damage", ["garbage", "truncate", "wrong_meta"])
def test_damaged_cache_entry_is_rebuilt(mano_like_dir, cache_dir, caplog, damage):
    reference = load_mano_data("left", mano_like_dir)
    (entry,) = cache_dir.glob("mano_left_*.npz")
    if damage == "garbage":
        entry.write_bytes(b"not a zip file")
    elif damage == "truncate":
        entry.write_bytes(entry.read_bytes()[:-100])
    else:
        with np.load(entry) as npz:
            arrays = {k: npz[k] for k in npz.files if k != "meta"}
        np.savez(entry, meta=np.array('{"format": 1, "side": "left", "sha256": "0", "right_sha256": "0"}'), **arrays)
    with caplog.at_level(logging.WARNING, logger="eanet.hand_model.mano"):
        rebuilt = load_mano_data("left", mano_like_dir)
    assert not rebuilt.extras["from_cache"]
    assert any("stale or unreadable" in r.getMessage() for r in caplog.records)
    np.testing.assert_array_equal(rebuilt.shapedirs, reference.shapedirs)
    assert load_mano_data("left", mano_like_dir).extras["from_cache"]  # the rebuilt entry is valid


def test_cache_follows_file_contents(tmp_path, write_mano_like_files, cache_dir):
    first = write_mano_like_files(tmp_path / "m", seed=1)
    np.testing.assert_array_equal(load_mano_data("right", tmp_path / "m").v_template, first["right"]["v_template"])
    second = write_mano_like_files(tmp_path / "m", seed=2)  # same path, new contents: the old entry must not be used
    data = load_mano_data("right", tmp_path / "m")
    assert not data.extras["from_cache"]
    np.testing.assert_array_equal(data.v_template, second["right"]["v_template"])


def test_refresh_cache_reconverts(mano_like_dir, cache_dir):
    load_mano_pair(mano_like_dir)
    right, left = load_mano_pair(mano_like_dir, refresh_cache=True)
    assert not right.extras["from_cache"] and not left.extras["from_cache"]


# ----------------------------------------------------------------------------------------------------------------
# the real MANO files


@pytest.mark.mano_assets
def test_real_files_load(mano_dir):
    right, left = load_mano_pair(mano_dir, cache=False)
    for data in (right, left):
        assert data.v_template.shape == (778, 3) and data.shapedirs.shape == (778, 3, 10)
        assert data.posedirs.shape == (778, 3, 135) and data.J_regressor.shape == (16, 778)
        assert data.weights.shape == (778, 16) and data.faces.shape == (1538, 3) and data.hands_mean.shape == (45,)
        np.testing.assert_allclose(data.J_regressor.sum(1), 1.0, atol=1e-12)
        np.testing.assert_allclose(data.weights.sum(1), 1.0, atol=1e-12)
        assert data.extras["sha256"] == file_sha256(mano_dir / f"MANO_{data.side.upper()}.pkl")


@pytest.mark.mano_assets
def test_real_left_fix_applied_exactly_once(mano_dir):
    raw = {
        side: mano_arrays_from_pickle(load_mano_pickle((mano_dir / f"MANO_{side.upper()}.pkl").read_bytes()))
        for side in ("right", "left")
    }
    # the released left file has the bug (environment.md: sum |diff| = 3.7e-4)
    assert left_shapedirs_fix_needed(raw["left"]["shapedirs"], raw["right"]["shapedirs"])
    for _ in range(2):  # first load converts and caches, the second reads the cache
        right, left = load_mano_pair(mano_dir)
        assert left.extras["shapedirs_fix_applied"] is True
        np.testing.assert_array_equal(left.shapedirs[:, 0, :], -raw["left"]["shapedirs"][:, 0, :])
        np.testing.assert_array_equal(left.shapedirs[:, 1:, :], raw["left"]["shapedirs"][:, 1:, :])
        np.testing.assert_array_equal(right.shapedirs, raw["right"]["shapedirs"])
        assert not left_shapedirs_fix_needed(left.shapedirs, right.shapedirs)
    assert left.extras["from_cache"]
