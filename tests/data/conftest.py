"""Fixtures of the data tests: a tiny InterHand2.6M-format release on disk and a pair of random hand models."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from release_fixture import write_release  # tests/data is on sys.path (pytest rootdir-less import)


@pytest.fixture(scope="session")
def tiny_release_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A train and a test split written once per session (do not modify: copy with ``fresh_release``)."""
    root = tmp_path_factory.mktemp("ih26m")
    write_release(root, "train", seed=0)
    write_release(root, "test", seed=1, captures=(3,), cameras_per_capture=2)
    return root


@pytest.fixture
def fresh_release(tiny_release_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny release that a test may modify."""
    dst = tmp_path / "release"
    shutil.copytree(tiny_release_dir, dst, ignore=shutil.ignore_patterns(".eanet_index*"))
    return dst


@pytest.fixture
def hand_pair(make_random_hand_data):
    """``(right, left)`` random hand-model data (MANO shapes; left = mirror of right)."""
    return make_random_hand_data("right", seed=7), make_random_hand_data("left", seed=7)


@pytest.fixture
def hand_layers(hand_pair):
    from eanet.hand_model.layer import HandModelLayer

    return HandModelLayer(hand_pair[0]), HandModelLayer(hand_pair[1])


@pytest.fixture(autouse=True)
def _eanet_logs_reach_caplog(monkeypatch):
    """The CLI (run by some tests) stops ``eanet`` records at its own handler; let caplog see them again."""
    import logging

    monkeypatch.setattr(logging.getLogger("eanet"), "propagate", True)
