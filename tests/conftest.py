"""Fixtures shared by every test package.

* ``mano_dir``: the directory with the licensed MANO files (``$EANET_MANO_DIR`` or ``../shared/assets/mano``
  next to the repository); the test is skipped when they are absent, as in any user's clone.
* ``random_hand_data`` / ``make_random_hand_data``: a :class:`~eanet.hand_model.base.HandModelData` with MANO's
  shapes and kinematic tree but random content (no MANO data), for tests that need a hand model but not MANO.
  The left hand is the exact mirror image of the right (as the built-in open hand's is).
* An autouse session fixture points ``$EANET_CACHE_DIR`` at a temporary directory, so no test writes to the
  user's cache.
* ``tiny_synth_root``: a tiny ``eanet synth`` release (8 train and 8 test images, 128 x 128), written once per
  session; tests that damage it copy it first. ``tests/tiny_synthetic.py`` has the overrides that make
  ``eanet train`` run on it in seconds.
* An autouse fixture restores the ``eanet`` logger after each test: ``eanet.cli.main`` (called in-process by
  command tests) replaces its handlers and turns propagation off, which would hide later tests' records from
  ``caplog``.

Heavy imports (NumPy, torch, eanet) happen inside the fixtures, so collecting unrelated tests stays fast.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Where the project's shared assets live next to the repository (absent in users' clones).
SHARED_MANO_DIR = REPO_ROOT / ".." / "shared" / "assets" / "mano"


def find_mano_dir() -> Path | None:
    """``$EANET_MANO_DIR`` if set, else ``../shared/assets/mano``; None unless both MANO files are there."""
    env = os.environ.get("EANET_MANO_DIR")
    path = Path(env) if env else SHARED_MANO_DIR
    if (path / "MANO_RIGHT.pkl").is_file() and (path / "MANO_LEFT.pkl").is_file():
        return path.resolve()
    return None


@pytest.fixture(scope="session")
def mano_dir() -> Path:
    """Directory holding ``MANO_RIGHT.pkl`` and ``MANO_LEFT.pkl``; skips the test when they are absent."""
    path = find_mano_dir()
    if path is None:
        pytest.skip("MANO files not available (set EANET_MANO_DIR or provide ../shared/assets/mano)")
    return path


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep every cache write (e.g. converted MANO arrays) inside pytest's temporary directory."""
    path = tmp_path_factory.mktemp("eanet_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EANET_CACHE_DIR", str(path))
        yield path


def _random_hand_data(side: str = "right", seed: int = 0, num_verts: int = 778) -> Any:
    """Random hand-model data of MANO's shapes. ``left`` is the mirror image (x -> -x) of ``right``."""
    import numpy as np

    from eanet.hand_model.base import HandModelData
    from eanet.hand_model.skeleton import MANO_PARENTS, MANO_TIP_VERTICES_EVAL, MANO_TIP_VERTICES_TRAIN

    rng = np.random.default_rng(seed)
    V, J = num_verts, 16
    weights = rng.random((V, J)) ** 4  # peaked, like real skinning weights
    weights /= weights.sum(1, keepdims=True)
    regressor = rng.random((J, V)) ** 8
    regressor /= regressor.sum(1, keepdims=True)  # rows sum to 1, as MANO's
    faces = np.stack([rng.permutation(V)[:3] for _ in range(2 * V - 18)]).astype(np.int64)  # (F, 3) distinct ids
    data = dict(
        v_template=rng.standard_normal((V, 3)) * 0.04,
        shapedirs=rng.standard_normal((V, 3, 10)) * 0.003,
        posedirs=rng.standard_normal((V, 3, 135)) * 0.003,
        J_regressor=regressor,
        weights=weights,
        hands_mean=rng.standard_normal(45) * 0.2,
        faces=faces,
    )
    if side == "left":
        m = np.array([-1.0, 1.0, 1.0])
        # Mirroring x: points and blend-shape offsets flip x; an (R - I) entry (i, k) gets the sign m_i * m_k; an
        # axis-angle (x, y, z) becomes (x, -y, -z); triangles reverse their winding to keep normals outward.
        pose_sign = np.tile(np.outer(m, m).reshape(9), J - 1)  # (135,)
        data["v_template"] = data["v_template"] * m
        data["shapedirs"] = data["shapedirs"] * m[None, :, None]
        data["posedirs"] = data["posedirs"] * m[None, :, None] * pose_sign[None, None, :]
        data["hands_mean"] = (data["hands_mean"].reshape(J - 1, 3) * np.array([1.0, -1.0, -1.0])).reshape(-1)
        data["faces"] = data["faces"][:, ::-1].copy()
    return HandModelData(
        name="random test hand",
        side=side,
        parents=np.array(MANO_PARENTS, dtype=np.int64),
        tip_vertices=MANO_TIP_VERTICES_TRAIN,
        tip_vertices_eval=MANO_TIP_VERTICES_EVAL,
        is_mano=False,
        license="random test data",
        **data,
    )


@pytest.fixture
def make_random_hand_data() -> Callable[..., Any]:
    """Factory ``make_random_hand_data(side="right", seed=0, num_verts=778) -> HandModelData``."""
    return _random_hand_data


@pytest.fixture
def random_hand_data() -> Any:
    """Random right-hand :class:`HandModelData` with MANO's shapes (778 vertices, 16 joints, 10 betas)."""
    return _random_hand_data("right")


def _hand_legend_corners(image: Any, suffix: str = "hand") -> list[str]:
    """The corners of an RGB picture where the right/left legend's colour squares are, each in its hand's colour."""
    import numpy as np

    from eanet.render.draw import LEGEND_CORNERS, legend_layout
    from eanet.render.scene import HAND_COLORS

    height, width = image.shape[:2]
    found = []
    for corner in LEGEND_CORNERS:
        layout = legend_layout(width, height, tuple(HAND_COLORS), corner, suffix)
        centres = {name: image[y + h // 2, x + w // 2].astype(int) for name, (x, y, w, h) in layout.swatches.items()}
        expected = {name: np.rint(np.asarray(color) * 255).astype(int) for name, color in HAND_COLORS.items()}
        if all(np.abs(centres[name] - expected[name]).max() <= 1 for name in HAND_COLORS):
            found.append(corner)
    return found


@pytest.fixture
def find_hand_legend() -> Callable[..., list[str]]:
    """``find_hand_legend(rgb, suffix="hand") -> [corner, ...]``: where a picture has the right/left colour legend
    (its squares' centres in the hands' colours; :func:`eanet.render.draw.legend_layout` gives their place)."""
    return _hand_legend_corners


@pytest.fixture(scope="session")
def tiny_synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from eanet.cli import main

    root = tmp_path_factory.mktemp("tiny_synth")
    cmd = ["synth", "--out", str(root), "--num-frames", "4", "--cameras", "2", "--image-size", "128x128"]
    assert main([*cmd, "--splits", "train,test", "--no-progress", "--render-backend", "torch"]) == 0
    return root


@pytest.fixture(autouse=True)
def _restore_eanet_logger() -> Iterator[None]:
    import logging

    logger = logging.getLogger("eanet")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved
