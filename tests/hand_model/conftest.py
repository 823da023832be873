"""Fixtures for the hand-model tests: MANO-format pickles written from random arrays (no MANO data).

``write_mano_like_files(directory, seed=0, left_bug=True)`` writes ``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl`` whose
pickle structure mirrors the real v1.2 files: protocol 2, ``shapedirs`` a ``chumpy.reordering.Select`` over a
``chumpy.ch.Ch`` holding 20 components of which the first 10 are selected, ``J_regressor`` a
``scipy.sparse.csc.csc_matrix`` pickled by its state dict, ``kintree_table`` with ``uint32(-1)`` at the root, faces
as ``uint32``, Python 2 ``__builtin__.set`` members, byte strings as BINSTRING: exactly the seven globals of the real
files (local stand-in classes are written under chumpy's and scipy's names). With ``left_bug=True`` the left file repeats the right file's x shape components
(the smplx#48 bug) instead of mirroring them.
"""

from __future__ import annotations

import io
import pickle
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest


class Ch:
    pass


class Select:
    pass


class csc_matrix:  # noqa: N801 - the pickled name
    pass


def _obj(cls: type, **state) -> object:
    obj = cls.__new__(cls)
    obj.__dict__.update(state)
    return obj


def _pickle_mano_like(arrays: dict[str, np.ndarray]) -> bytes:
    """Pickle ``arrays`` (HandModelData layout) in the structure of an original MANO file."""
    V = arrays["v_template"].shape[0]
    # 20 stored components, Select picks the first 10 of each (V, 3) row, like the real files' idxs.
    x = np.concatenate([arrays["shapedirs"], np.full((V, 3, 10), 7.0)], axis=2)  # (V, 3, 20)
    idxs = (np.arange(V * 3)[:, None] * 20 + np.arange(10)[None, :]).reshape(-1)  # (V*3*10,)
    ch = _obj(Ch, x=x, _dirty_vars=set(), _itr=None, _depends_on_deps={})
    select = _obj(
        Select, a=ch, idxs=idxs, preferred_shape=(V, 3, 10), _dirty_vars={"a", "idxs"}, _itr=None, _depends_on_deps={}
    )
    reg = arrays["J_regressor"]
    cols = [np.nonzero(reg[:, j])[0] for j in range(V)]
    sparse = _obj(
        csc_matrix,
        data=np.concatenate([reg[c, j] for j, c in enumerate(cols)]),
        indices=np.concatenate(cols).astype(np.int32),
        indptr=np.concatenate([[0], np.cumsum([len(c) for c in cols])]).astype(np.int32),
        _shape=reg.shape,
        maxprint=50,
    )
    parents = arrays["parents"].astype(np.int64)
    parents[0] = 2**32 - 1
    raw = {
        "hands_components": np.eye(45),
        "f": arrays["faces"].astype(np.uint32),
        "J_regressor": sparse,
        "kintree_table": np.stack([parents, np.arange(16)]),
        "J": np.zeros((16, 3)),
        "bs_style": "lbs",
        "weights": arrays["weights"],
        "posedirs": arrays["posedirs"],
        "hands_mean": arrays["hands_mean"],
        "v_template": arrays["v_template"],
        "shapedirs": select,
        "bs_type": "lrotmin",
    }
    return _Py2StylePickler.dumps(raw)


class _Py2StylePickler(pickle._Pickler):
    """Writes what the Python 2 pickler that made the MANO files wrote: byte strings as BINSTRING (not
    ``_codecs.encode``) and the globals under the names the real files use."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_bytes_py2(self, obj: bytes) -> None:
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes_py2

    def save_global(self, obj, name=None):
        names = _GLOBAL_NAMES.get(id(obj))
        if names is None:
            return super().save_global(obj, name)
        self.write(pickle.GLOBAL + f"{names[0]}\n{names[1]}\n".encode())
        self.memoize(obj)

    @classmethod
    def dumps(cls, obj) -> bytes:
        buffer = io.BytesIO()
        cls(buffer, protocol=2).dump(obj)
        return buffer.getvalue()


_GLOBAL_NAMES = {
    id(Ch): ("chumpy.ch", "Ch"),
    id(Select): ("chumpy.reordering", "Select"),
    id(csc_matrix): ("scipy.sparse.csc", "csc_matrix"),
    id(np.ndarray.__reduce__(np.zeros(1))[0]): ("numpy.core.multiarray", "_reconstruct"),
}


def mano_like_arrays(make_random_hand_data, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Per side, the arrays the loader must return (left: mirrored, i.e. already fixed).

    The loader checks that each file holds the hand its name says (the thumb's side of the palm plane); random joints
    are either hand, so the right file gets whichever of the mirror pair is right-handed.
    """
    from eanet.hand_model.mano import hand_side_from_template

    out = {}
    for side in ("right", "left"):
        data = make_random_hand_data(side, seed)
        out[side] = {
            k: getattr(data, k)
            for k in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "parents", "faces", "hands_mean")
        }
    if hand_side_from_template(out["right"]["v_template"], out["right"]["J_regressor"])[0] == "left":
        out = {"right": out["left"], "left": out["right"]}
    return out


@pytest.fixture
def write_mano_like_files(make_random_hand_data) -> Callable[..., dict[str, dict[str, np.ndarray]]]:
    """Factory ``(directory, seed=0, left_bug=True) -> expected arrays per side`` writing both MANO-format files."""

    def write(directory: Path, seed: int = 0, left_bug: bool = True) -> dict[str, dict[str, np.ndarray]]:
        expected = mano_like_arrays(make_random_hand_data, seed)
        directory.mkdir(parents=True, exist_ok=True)
        right = expected["right"]
        left = dict(expected["left"])
        if left_bug:  # the released left file: x shape components equal to the right's (smplx#48)
            left["shapedirs"] = left["shapedirs"].copy()
            left["shapedirs"][:, 0, :] = right["shapedirs"][:, 0, :]
        (directory / "MANO_RIGHT.pkl").write_bytes(_pickle_mano_like(right))
        (directory / "MANO_LEFT.pkl").write_bytes(_pickle_mano_like(left))
        return expected

    return write


@pytest.fixture
def mano_like_dir(tmp_path, write_mano_like_files) -> Path:
    """A directory with MANO-format files of random content (left file with the smplx#48 bug)."""
    directory = tmp_path / "mano_like"
    write_mano_like_files(directory)
    return directory
