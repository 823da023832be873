"""Fault matrix, MANO files: a pair whose names do not match their hands is an error (docs/fault-matrix.md).

Before, ``eanet mano check`` reported a swapped pair as OK and the left-hand shapedirs fix went to the right hand.
The loader now checks each file's SHA-256 against the MANO v1.2 release's and, for any file, the handedness of its
template. Tests on the real files skip when they are absent; the others write MANO-format files of random
mirror-image hands (no MANO data).
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest

from eanet.cli import main
from eanet.hand_model.mano import MANO_V1_2_SHA256, hand_side_from_template

ARRAY_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "hands_mean")


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """An empty MANO cache for this test; unknown-digest warnings (once per file and process) shown again."""
    path = tmp_path / "cache"
    monkeypatch.setenv("EANET_CACHE_DIR", str(path))
    monkeypatch.setattr("eanet.hand_model.mano._WARNED_UNKNOWN", set())
    return path


def _digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def _cached_files(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.rglob("*.npz")) if cache_dir.exists() else []


# ---- without MANO: the side test itself, and the loader on random mirror-image hands


def _right_handed(make_random_hand_data):
    """Random hand data whose right one is right-handed (random joints can be either), and its mirror image."""
    for seed in range(20):
        right = make_random_hand_data("right", seed)
        side, chirality = hand_side_from_template(right.v_template, right.J_regressor)
        if side == "right" and chirality > 0.2:
            return right, make_random_hand_data("left", seed)
    raise AssertionError("no right-handed random hand in 20 seeds")


def _random_rotation(seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def test_side_is_a_mirror_property_not_a_frame_property(make_random_hand_data):
    right, left = _right_handed(make_random_hand_data)
    side_r, chirality_r = hand_side_from_template(right.v_template, right.J_regressor)
    side_l, chirality_l = hand_side_from_template(left.v_template, left.J_regressor)
    assert (side_r, side_l) == ("right", "left") and chirality_l == pytest.approx(-chirality_r)
    for seed in range(3):  # any rotation and translation keeps the side
        moved = right.v_template @ _random_rotation(seed).T + np.array([0.3, -1.0, 2.0])
        assert hand_side_from_template(moved, right.J_regressor) == pytest.approx(("right", chirality_r))
    flat = right.v_template.copy()
    flat[:, 1] = 0.0  # every joint in one plane: no side to tell
    assert hand_side_from_template(flat, right.J_regressor)[0] is None


def _write_mano_format(path: Path, data) -> None:
    """A MANO-format pickle of plain arrays (what the loader accepts besides chumpy objects)."""
    parents = np.array(data.parents, dtype=np.int64)
    parents[0] = 2**32 - 1
    raw = {k: np.asarray(getattr(data, k)) for k in ARRAY_KEYS}
    raw["f"] = np.asarray(data.faces, dtype=np.uint32)
    raw["kintree_table"] = np.stack([parents, np.arange(16)])
    path.write_bytes(pickle.dumps(raw, protocol=3))  # protocol 3: bytes without the _codecs global


def test_swapped_random_pair_is_an_error_and_nothing_is_cached(make_random_hand_data, tmp_path, cache_dir, capsys):
    right, left = _right_handed(make_random_hand_data)
    mano = tmp_path / "mano"
    mano.mkdir()
    _write_mano_format(mano / "MANO_RIGHT.pkl", left)  # swapped
    _write_mano_format(mano / "MANO_LEFT.pkl", right)
    before = _digests(mano)
    code = main(["mano", "check", "--mano-dir", str(mano)])
    err = capsys.readouterr().err
    assert code == 2
    assert "MANO_RIGHT.pkl holds a left hand" in err and "MANO_LEFT.pkl holds a right hand" in err
    assert "the two files are swapped" in err and "thumb lies on the left-hand side" in err
    assert "not the MANO v1.2 release file" in err  # unknown digests: a warning, not the error
    assert "Traceback" not in err
    assert _digests(mano) == before and _cached_files(cache_dir) == []


def test_random_pair_in_the_right_order_loads_with_an_unknown_digest_warning(
    make_random_hand_data, tmp_path, cache_dir, capsys
):
    right, left = _right_handed(make_random_hand_data)
    mano = tmp_path / "mano"
    mano.mkdir()
    _write_mano_format(mano / "MANO_RIGHT.pkl", right)
    _write_mano_format(mano / "MANO_LEFT.pkl", left)
    code = main(["mano", "check", "--mano-dir", str(mano), "--no-cache"])
    captured = capsys.readouterr()
    assert code == 0
    assert "not the MANO v1.2 release file" in captured.err  # warned, did not fail
    assert "OK: use these files" in captured.out and "not the MANO v1.2 release file" in captured.out


# ---- with the real MANO files


def _copy_pair(mano_dir: Path, target: Path, right_from: str, left_from: str, suffix: bytes = b"") -> Path:
    target.mkdir()
    for name, source in (("MANO_RIGHT.pkl", right_from), ("MANO_LEFT.pkl", left_from)):
        (target / name).write_bytes((mano_dir / source).read_bytes() + suffix)
    return target


@pytest.mark.mano_assets
def test_real_files_are_the_known_release_and_their_sides_are_measured(mano_dir, cache_dir, capsys):
    from eanet.fileio import file_sha256

    assert file_sha256(mano_dir / "MANO_RIGHT.pkl") == MANO_V1_2_SHA256["right"]
    assert file_sha256(mano_dir / "MANO_LEFT.pkl") == MANO_V1_2_SHA256["left"]
    code = main(["mano", "check", "--mano-dir", str(mano_dir), "--no-cache"])
    captured = capsys.readouterr()
    assert code == 0
    assert captured.out.count("(MANO v1.2 release file)") == 2
    assert "right file +0.157, left file -0.157" in captured.out
    assert "not the MANO v1.2 release file" not in captured.err


@pytest.mark.mano_assets
def test_real_swapped_pair_is_an_error(mano_dir, tmp_path, cache_dir, capsys):
    swapped = _copy_pair(mano_dir, tmp_path / "swapped", "MANO_LEFT.pkl", "MANO_RIGHT.pkl")
    before = _digests(swapped)
    code = main(["mano", "check", "--mano-dir", str(swapped)])
    err = capsys.readouterr().err
    assert code == 2
    assert "MANO_RIGHT.pkl holds a left hand, not a right one (its SHA-256 is that of the MANO v1.2 left-hand" in err
    assert "MANO_LEFT.pkl holds a right hand" in err and "the two files are swapped" in err
    assert "Traceback" not in err and "applied the left-hand shapedirs fix" not in err
    assert _digests(swapped) == before and _cached_files(cache_dir) == []


@pytest.mark.mano_assets
def test_real_swapped_pair_with_unknown_digests_is_caught_by_the_templates(mano_dir, tmp_path, cache_dir, capsys):
    # A byte after the pickle's STOP opcode changes the digest, not the data: only the side test can catch these.
    swapped = _copy_pair(mano_dir, tmp_path / "resaved", "MANO_LEFT.pkl", "MANO_RIGHT.pkl", suffix=b"\n")
    before = _digests(swapped)
    code = main(["mano", "check", "--mano-dir", str(swapped)])
    err = capsys.readouterr().err
    assert code == 2
    assert "MANO_RIGHT.pkl holds a left hand" in err and "chirality -0.157" in err
    assert "MANO_LEFT.pkl holds a right hand" in err and "chirality +0.157" in err
    assert "the two files are swapped" in err and "applied the left-hand shapedirs fix" not in err
    assert _digests(swapped) == before and _cached_files(cache_dir) == []


@pytest.mark.mano_assets
def test_real_right_file_under_both_names_is_an_error(mano_dir, tmp_path, cache_dir, capsys):
    twice = _copy_pair(mano_dir, tmp_path / "twice", "MANO_RIGHT.pkl", "MANO_RIGHT.pkl")
    code = main(["mano", "check", "--mano-dir", str(twice)])
    err = capsys.readouterr().err
    assert code == 2
    assert "MANO_LEFT.pkl holds a right hand, not a left one" in err and "swapped" not in err
    assert "put the original MANO_RIGHT.pkl and MANO_LEFT.pkl" in err
    assert _cached_files(cache_dir) == []


@pytest.mark.mano_assets
def test_training_with_a_swapped_pair_stops_before_any_step(mano_dir, tmp_path, cache_dir, capsys):
    swapped = _copy_pair(mano_dir, tmp_path / "swapped", "MANO_LEFT.pkl", "MANO_RIGHT.pkl")
    code = main(
        ["train", "--config", "small-synthetic", "hand_model.kind=mano", f"hand_model.mano_dir={swapped}",
         f"output_dir={tmp_path / 'run'}"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "the two files are swapped" in err
    assert not list((tmp_path / "run").rglob("*.pt"))
