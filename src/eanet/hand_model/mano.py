"""Load the licensed MANO model files (``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl``) without chumpy, safely.

The MANO v1.2 release (https://mano.is.tue.mpg.de, "Models & Code", folder ``mano_v1_2/models``) stores each hand
as a Python 2 pickle whose ``shapedirs`` is a chumpy object. chumpy does not import on Python >= 3.11 with
NumPy 2, and ``pickle.load`` would run whatever a crafted file asks for. This module therefore unpickles with
:class:`ManoUnpickler`, which resolves only the seven globals the real files reference (``environment.md``,
"MANO .pkl without chumpy"), turns the chumpy objects into inert stubs, and converts them to plain arrays. Any
other global raises :class:`~eanet.errors.UnsafeFileError` before it is called.

Loading the left hand applies the left-hand ``shapedirs`` fix (vchoutas/smplx#48; official EANet
``common/utils/human_models.py``): MANO's left ``shapedirs[:, 0, :]`` has the wrong sign, so equal betas give
different left and right shapes. The fix needs the right file, which is read automatically.

Both files are checked to be the hand their name says, so that a swapped pair (which would pass every array check
and get the left-hand fix applied to the right hand) is an error: by their SHA-256 against the MANO v1.2 release's
(:data:`MANO_V1_2_SHA256`; another digest only gives a warning) and, for any file, by the handedness of its template
(:func:`hand_side_from_template`).

Converted arrays may be cached as ``.npz`` in the user cache directory (``$EANET_CACHE_DIR``, else
``$XDG_CACHE_HOME/eanet``, else ``~/.cache/eanet``), keyed by the SHA-256 of the source pickles; never in the
repository. A stale or unreadable entry is detected and rebuilt.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import pickle
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eanet.errors import InvalidInputError, MissingFileError, UnsafeFileError
from eanet.fileio import file_sha256
from eanet.hand_model.base import HandModelData, Side
from eanet.hand_model.skeleton import (
    MANO_JOINTS_16,
    MANO_NUM_VERTS,
    MANO_PARENTS,
    MANO_TIP_VERTICES_EVAL,
    MANO_TIP_VERTICES_TRAIN,
    NUM_BETAS,
    NUM_HAND_POSE,
    NUM_MANO_JOINTS,
)

__all__ = [
    "MANO_FILENAMES",
    "MANO_DIR_ENV",
    "CACHE_DIR_ENV",
    "MANO_DOWNLOAD_HINT",
    "ManoUnpickler",
    "ManoFiles",
    "load_mano_pickle",
    "mano_arrays_from_pickle",
    "left_shapedirs_fix_needed",
    "MANO_V1_2_SHA256",
    "hand_side_from_template",
    "resolve_mano_dir",
    "find_mano_files",
    "load_mano_data",
    "load_mano_pair",
    "default_cache_dir",
    "mano_cache_dir",
    "clear_mano_cache",
]

logger = logging.getLogger(__name__)

MANO_FILENAMES: dict[str, str] = {"right": "MANO_RIGHT.pkl", "left": "MANO_LEFT.pkl"}
#: Environment variable naming the directory with the MANO files (used when no directory is passed or configured).
MANO_DIR_ENV = "EANET_MANO_DIR"
#: Environment variable overriding the cache directory.
CACHE_DIR_ENV = "EANET_CACHE_DIR"
MANO_DOWNLOAD_HINT = (
    "MANO is licensed and not shipped with eanet: register at https://mano.is.tue.mpg.de, download "
    '"Models & Code" and point eanet at the unpacked mano_v1_2/models folder (--mano-dir DIR, the config key '
    f"hand_model.mano_dir, or the environment variable {MANO_DIR_ENV}). Without MANO, use the built-in open hand "
    "model (hand_model.kind=open)."
)
MANO_LICENSE = "MANO (c) Max Planck Society, non-commercial research license; loaded from the user's own files"

#: Sub-folders also searched inside the given directory: the unpacked release root (``mano_v1_2/``) keeps the
#: pickles in ``models/``; smplx-style model trees keep them in ``mano/``.
_SUBDIRS = ("models", "mano")

#: Bumped whenever the cached arrays or their meaning change; older entries are then rebuilt.
_CACHE_FORMAT = 1
_CACHE_ARRAYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "parents", "faces", "hands_mean")

#: Sum of |left.shapedirs[:, 0, :] - right.shapedirs[:, 0, :]| below which the left file has the sign bug.
#: The official code and every downstream loader use 1 (smplx#48); the real files give 3.7e-4 before the fix and
#: about 2 x 10 x 778 x 3-scale values after it, so the threshold separates the two cases by orders of magnitude.
LEFT_FIX_THRESHOLD = 1.0


# ----------------------------------------------------------------------------------------------------------------
# Restricted unpickling


class _InertStub:
    """Stand-in for a class from a pickle: it stores its pickled state in ``__dict__`` and has no behaviour.

    ``pickle`` creates it with ``cls.__new__(cls)`` (NEWOBJ) or calls it (REDUCE); either way no code from the
    file runs: arguments are dropped and ``__setstate__`` only accepts a mapping of attribute values.
    """

    #: The (module, name) the pickle referenced; set on each subclass.
    pickled_as: tuple[str, str] = ("", "")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(
                f"unexpected state of type {type(state).__name__} for {'.'.join(self.pickled_as)}"
            )
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return f"<stub {'.'.join(self.pickled_as)} with {sorted(self.__dict__)}>"


class ChumpyCh(_InertStub):
    """``chumpy.ch.Ch``: a wrapped array; the value is the ``x`` attribute."""

    pickled_as = ("chumpy.ch", "Ch")


class ChumpySelect(_InertStub):
    """``chumpy.reordering.Select``: ``a.r.ravel()[idxs].reshape(preferred_shape)`` (chumpy ``Select.compute_r``)."""

    pickled_as = ("chumpy.reordering", "Select")


class SparseCscStub(_InertStub):
    """``scipy.sparse.csc_matrix`` state (``data``, ``indices``, ``indptr``, ``_shape``), densified by us.

    A stub instead of the real scipy class keeps scipy code from running on file-controlled state and does not
    depend on how a given scipy version names its private attributes.
    """

    pickled_as = ("scipy.sparse", "csc_matrix")


def _numpy_reconstruct():
    try:  # NumPy >= 2 moved the module; ``numpy.core`` still works but warns.
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # pragma: no cover - NumPy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


#: Every global a MANO pickle may reference, and what it resolves to. The real v1.2 files use exactly
#: ``numpy.core.multiarray._reconstruct``, ``numpy.ndarray``, ``numpy.dtype``, ``scipy.sparse.csc.csc_matrix``,
#: ``chumpy.reordering.Select``, ``chumpy.ch.Ch`` and ``__builtin__.set`` (measured with ``pickletools``). The few
#: extra names are the same objects under the module names newer NumPy / scipy / Python 3 write, so files
#: re-saved by other tools load too. None of the callables can run code chosen by the file.
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct(),
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct(),
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("scipy.sparse.csc", "csc_matrix"): SparseCscStub,
    ("scipy.sparse._csc", "csc_matrix"): SparseCscStub,
    ("chumpy.reordering", "Select"): ChumpySelect,
    ("chumpy.ch", "Ch"): ChumpyCh,
    ("__builtin__", "set"): set,
    ("builtins", "set"): set,
}


class ManoUnpickler(pickle.Unpickler):
    """A :class:`pickle.Unpickler` that resolves only the globals in :data:`_ALLOWED_GLOBALS`.

    Every way a pickle can reach a callable (GLOBAL, STACK_GLOBAL, INST/OBJ, the extension registry) goes through
    :meth:`find_class`, so a file asking for anything else (``os.system``, ``builtins.eval``, a ``__reduce__``
    payload) fails with :class:`UnsafeFileError` before anything is called. ``persistent_load`` keeps the default,
    which refuses persistent ids.
    """

    def __init__(self, file: Any, *, source: str = "<bytes>") -> None:
        # latin1: the files are Python 2 pickles whose NumPy buffers are byte strings (environment.md).
        super().__init__(file, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafeFileError(
                f"{self.source} asks to load the global '{module}.{name}', which a MANO model file never contains; "
                "refusing to load it (nothing from the file was executed). Use the original MANO_RIGHT.pkl / "
                "MANO_LEFT.pkl from https://mano.is.tue.mpg.de."
            ) from None


def load_mano_pickle(data: bytes, source: str = "<bytes>") -> dict[str, Any]:
    """Unpickle a MANO file's bytes with :class:`ManoUnpickler`.

    Args:
        data: the file's bytes.
        source: the file name, used in error messages.

    Returns:
        The pickled dict; chumpy and sparse objects come back as inert stubs (see :func:`mano_arrays_from_pickle`).

    Raises:
        UnsafeFileError: the file references a global outside the allow-list.
        InvalidInputError: the file is not a readable pickle of a dict.
    """
    try:
        raw = ManoUnpickler(io.BytesIO(data), source=source).load()
    except UnsafeFileError:
        raise
    except Exception as err:  # truncated or foreign files raise many types (EOFError, UnpicklingError, ...)
        raise InvalidInputError(
            f"{source} is not a readable MANO model file ({type(err).__name__}: {err}); download it again from "
            "https://mano.is.tue.mpg.de"
        ) from err
    if not isinstance(raw, dict):
        raise InvalidInputError(f"{source} holds a {type(raw).__name__}, not the dict of arrays a MANO file holds")
    return raw


# ----------------------------------------------------------------------------------------------------------------
# Conversion to plain, validated arrays


def _array(obj: Any, key: str, source: str, depth: int = 0) -> np.ndarray:
    """The value of an array, a chumpy ``Ch`` or a chumpy ``Select`` (recursively) as a NumPy array."""
    if depth > 8:
        raise InvalidInputError(f"{source}: '{key}' nests chumpy objects too deeply to be a MANO array")
    if isinstance(obj, np.ndarray):
        return obj
    if isinstance(obj, ChumpyCh):
        if "x" not in obj.__dict__:
            raise InvalidInputError(f"{source}: '{key}' is a chumpy Ch without its value 'x'")
        return _array(obj.__dict__["x"], key, source, depth + 1)
    if isinstance(obj, ChumpySelect):
        state = obj.__dict__
        if "a" not in state or "idxs" not in state:
            raise InvalidInputError(f"{source}: '{key}' is a chumpy Select without 'a' or 'idxs'")
        base = _array(state["a"], key, source, depth + 1).ravel()
        idxs = np.asarray(state["idxs"])
        if idxs.dtype.kind not in "iu" or idxs.ndim != 1 or (idxs.size and (idxs.min() < 0 or idxs.max() >= base.size)):
            raise InvalidInputError(f"{source}: '{key}' selects indices outside its {base.size}-element source")
        out = base[idxs]  # (N,)
        if "preferred_shape" in state:
            shape = tuple(int(s) for s in state["preferred_shape"])
            if int(np.prod(shape)) != out.size:
                raise InvalidInputError(f"{source}: '{key}' selects {out.size} values, cannot reshape to {shape}")
            out = out.reshape(shape)
        return out
    raise InvalidInputError(f"{source}: '{key}' is a {type(obj).__name__}, expected an array")


def _dense_from_csc(obj: SparseCscStub, key: str, source: str) -> np.ndarray:
    """Densify a pickled ``csc_matrix`` (column ``j`` holds ``data[indptr[j]:indptr[j+1]]`` at rows ``indices``)."""
    state = obj.__dict__
    shape = state.get("_shape", state.get("shape"))
    try:
        data = np.asarray(state["data"])
        indices = np.asarray(state["indices"])
        indptr = np.asarray(state["indptr"])
        n_rows, n_cols = (int(s) for s in shape)
    except (KeyError, TypeError, ValueError) as err:
        raise InvalidInputError(f"{source}: '{key}' is a sparse matrix without data/indices/indptr/shape") from err
    nnz = data.shape[0] if data.ndim == 1 else -1
    if (
        indices.dtype.kind not in "iu"
        or indptr.dtype.kind not in "iu"
        or data.dtype.kind != "f"
        or indices.shape != (nnz,)
        or indptr.shape != (n_cols + 1,)
        or indptr[0] != 0
        or indptr[-1] != nnz
        or np.any(np.diff(indptr) < 0)
        or (nnz and (indices.min() < 0 or indices.max() >= n_rows))
    ):
        raise InvalidInputError(f"{source}: '{key}' is a malformed sparse matrix of shape {(n_rows, n_cols)}")
    dense = np.zeros((n_rows, n_cols), dtype=np.float64)
    cols = np.repeat(np.arange(n_cols), np.diff(indptr))  # (nnz,) column of each stored value
    np.add.at(dense, (indices, cols), data)  # duplicates add up, as scipy's toarray() does
    return dense


def _check(arr: np.ndarray, key: str, shape: tuple[int | None, ...], kind: str, source: str) -> np.ndarray:
    """Validate ``arr``'s shape (``None`` = any size) and dtype kind (``"f"`` float, ``"i"`` integer)."""
    ok_shape = arr.ndim == len(shape) and all(s is None or s == a for s, a in zip(shape, arr.shape, strict=True))
    kinds = "iu" if kind == "i" else "f"
    if not ok_shape or arr.dtype.kind not in kinds:
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        what = "integer" if kind == "i" else "floating-point"
        raise InvalidInputError(
            f"{source}: '{key}' must be a {what} array of shape {want}, got {arr.dtype} {tuple(arr.shape)}; "
            "this is not an original MANO v1.2 file (https://mano.is.tue.mpg.de)"
        )
    if kind == "f" and not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"{source}: '{key}' contains NaN or infinite values")
    return arr


def mano_arrays_from_pickle(raw: Mapping[str, Any], source: str = "<MANO file>") -> dict[str, np.ndarray]:
    """Convert an unpickled MANO dict to validated plain arrays in the layout of :class:`HandModelData`.

    Args:
        raw: the dict returned by :func:`load_mano_pickle`.
        source: the file name, used in error messages.

    Returns:
        ``v_template`` (778, 3) float64, ``shapedirs`` (778, 3, 10) float64 (first 10 components),
        ``posedirs`` (778, 3, 135) float64, ``J_regressor`` (16, 778) float64 dense, ``weights`` (778, 16)
        float64, ``parents`` (16,) int64 with -1 at the root, ``faces`` (F, 3) int64, ``hands_mean`` (45,) float64.

    Raises:
        InvalidInputError: a key is missing or an array has the wrong shape, dtype or values; the message names the
            array and the file.
    """
    required = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f", "hands_mean")
    missing = [k for k in required if k not in raw]
    if missing:
        raise InvalidInputError(f"{source} lacks {missing}; it is not a MANO model file (https://mano.is.tue.mpg.de)")
    V, J = MANO_NUM_VERTS, NUM_MANO_JOINTS
    out: dict[str, np.ndarray] = {}
    out["v_template"] = _check(_array(raw["v_template"], "v_template", source), "v_template", (V, 3), "f", source)
    shapedirs = _check(_array(raw["shapedirs"], "shapedirs", source), "shapedirs", (V, 3, None), "f", source)
    if shapedirs.shape[2] < NUM_BETAS:
        raise InvalidInputError(
            f"{source}: 'shapedirs' has {shapedirs.shape[2]} components, at least {NUM_BETAS} are needed"
        )
    out["shapedirs"] = shapedirs[:, :, :NUM_BETAS]  # (V, 3, 10): the 10 betas every MANO fit uses
    n_pose = (J - 1) * 9
    out["posedirs"] = _check(_array(raw["posedirs"], "posedirs", source), "posedirs", (V, 3, n_pose), "f", source)
    j_reg = raw["J_regressor"]
    j_reg = (
        _dense_from_csc(j_reg, "J_regressor", source)
        if isinstance(j_reg, SparseCscStub)
        else _array(j_reg, "J_regressor", source)
    )
    out["J_regressor"] = _check(j_reg, "J_regressor", (J, V), "f", source)
    out["weights"] = _check(_array(raw["weights"], "weights", source), "weights", (V, J), "f", source)
    kintree = _check(_array(raw["kintree_table"], "kintree_table", source), "kintree_table", (2, J), "i", source)
    # Row 0 holds parents with the root's entry as uint32(-1) = 4294967295; row 1 the joint ids 0..15.
    parents = kintree[0].astype(np.int64)
    root_ok = parents[0] in (-1, 2**32 - 1)
    parents[0] = -1
    if not root_ok or tuple(parents.tolist()) != MANO_PARENTS or not np.array_equal(kintree[1], np.arange(J)):
        raise InvalidInputError(
            f"{source}: 'kintree_table' {kintree.tolist()} is not MANO's kinematic tree (parents {MANO_PARENTS})"
        )
    out["parents"] = parents
    faces = _check(_array(raw["f"], "f", source), "f", (None, 3), "i", source)
    if faces.size == 0 or faces.min() < 0 or faces.max() >= V:
        raise InvalidInputError(f"{source}: 'f' (faces) indexes vertices outside 0..{V - 1}")
    out["faces"] = faces.astype(np.int64)
    out["hands_mean"] = _check(
        _array(raw["hands_mean"], "hands_mean", source), "hands_mean", (NUM_HAND_POSE,), "f", source
    )
    # Own contiguous copies (float64 / int64): later in-place edits (the left-hand fix) touch nothing else.
    return {k: np.array(v, dtype=np.int64 if v.dtype.kind in "iu" else np.float64, order="C") for k, v in out.items()}


def left_shapedirs_fix_needed(left_shapedirs: np.ndarray, right_shapedirs: np.ndarray) -> bool:
    """Whether MANO's left ``shapedirs[:, 0, :]`` carries the sign bug of smplx#48.

    The left hand is the mirror image of the right across the x = 0 plane, so the x components of its shape
    blend shapes should be the negation of the right's. The released left file has them equal instead; the test is
    the official one: ``sum |left[:, 0, :] - right[:, 0, :]| < 1``.

    Args:
        left_shapedirs: ``(V, 3, S)``.
        right_shapedirs: ``(V, 3, S)``.
    """
    return float(np.abs(left_shapedirs[:, 0, :] - right_shapedirs[:, 0, :]).sum()) < LEFT_FIX_THRESHOLD


#: SHA-256 of the two model files of the MANO v1.2 release (``mano_v1_2/models``), measured on the originals. A
#: file with another digest (re-saved, edited, another release) still loads, with a warning; its side is then known
#: from its data only.
MANO_V1_2_SHA256: dict[str, str] = {
    "right": "45d60aa3b27ef9107a7afd4e00808f307fd91111e1cfa35afd5c4a62de264767",
    "left": "c4022f7083f2ca7c78b2b3d595abbab52debd32b09d372b16923a801f0ea6a30",
}

#: ``|chirality|`` (see :func:`hand_side_from_template`) below which a template's side is not trusted. The MANO v1.2
#: files give +0.157 (right) and -0.157 (left): the thumb's last joint sits well off the palm plane.
SIDE_CHIRALITY_MIN = 0.05

_JOINT = {name: i for i, name in enumerate(MANO_JOINTS_16)}


def hand_side_from_template(v_template: np.ndarray, J_regressor: np.ndarray) -> tuple[Side | None, float]:
    """Which hand a template is, from where its thumb lies relative to its palm.

    With ``a`` = index knuckle - wrist, ``b`` = pinky knuckle - wrist and ``c`` = thumb's last joint - wrist (rest
    joints regressed from the template), the normalised triple product ``det[a, b, c] / (|a| |b| |c|)`` tells on
    which side of the palm plane the thumb lies. A mirror image flips its sign and no rotation or translation
    changes it, so it is the hand's handedness whatever frame the file uses: positive for a right hand (MANO
    v1.2: +0.157), negative for a left one (-0.157). (In MANO's own frame the right hand's fingers and thumb point
    from the wrist towards -x and the left's towards +x; the triple product does not rely on that frame.)

    Args:
        v_template: ``(V, 3)`` rest vertices.
        J_regressor: ``(16, V)``.

    Returns:
        ``(side, chirality)``; side is None when ``|chirality| < SIDE_CHIRALITY_MIN`` (not a hand-like template).
    """
    joints = J_regressor @ v_template  # (16, 3)
    wrist = joints[_JOINT["Wrist"]]
    a = joints[_JOINT["Index_1"]] - wrist
    b = joints[_JOINT["Pinky_1"]] - wrist
    c = joints[_JOINT["Thumb_3"]] - wrist
    scale = float(np.linalg.norm(a) * np.linalg.norm(b) * np.linalg.norm(c))
    chirality = float(np.dot(np.cross(a, b), c)) / scale if scale > 0 else 0.0
    if abs(chirality) < SIDE_CHIRALITY_MIN:
        return None, chirality
    return ("right" if chirality > 0 else "left"), chirality


def _other(side: Side) -> Side:
    """The other hand."""
    return "left" if side == "right" else "right"


#: Digests of unknown files already warned about in this process (one warning per file, not per load).
_WARNED_UNKNOWN: set[str] = set()


def _check_release_digests(files: ManoFiles, shas: Mapping[Side, str]) -> dict[Side, bool]:
    """Compare the files' SHA-256 (``""``: not read) with the MANO v1.2 release's: a file that is the *other* hand's
    release file is an error (a swapped pair); an unknown digest is a warning. Returns which are release files."""
    known: dict[Side, bool] = {}

    def wrong(side: Side, sha: str) -> bool:
        return sha == MANO_V1_2_SHA256[_other(side)]

    if any(sha and wrong(side, sha) for side, sha in shas.items()):
        # Read the other file's digest too, so that the message can say whether the pair is swapped.
        every = {side: shas.get(side) or file_sha256(files.path(side)) for side in ("right", "left")}
        raise _wrong_side_error(
            files,
            {
                side: (_other(side), f"its SHA-256 is that of the MANO v1.2 {_other(side)}-hand file")
                for side, sha in every.items()
                if wrong(side, sha)
            },
        )
    for side, sha in shas.items():
        if not sha:
            continue
        known[side] = sha == MANO_V1_2_SHA256[side]
        if not known[side] and sha not in _WARNED_UNKNOWN:
            _WARNED_UNKNOWN.add(sha)
            logger.warning(
                "%s (sha256 %s) is not the MANO v1.2 release file (sha256 %s); loading it anyway, its side is checked "
                "from its data only. If it is not a file you converted or edited yourself, download MANO again from "
                "https://mano.is.tue.mpg.de",
                files.path(side),
                sha[:16],
                MANO_V1_2_SHA256[side][:16],
            )
    return known


def _wrong_side_error(files: ManoFiles, found: Mapping[Side, tuple[Side, str]]) -> InvalidInputError:
    """The error for files that hold the other hand: ``found[side] = (side it holds, evidence)``."""
    parts = [
        f"{files.path(side).name} holds a {held} hand, not a {side} one ({evidence})"
        for side, (held, evidence) in found.items()
    ]
    swapped = set(found) == {"right", "left"} and all(held != side for side, (held, _) in found.items())
    if swapped:
        advice = (
            f"the two files are swapped: rename {files.right.name} to {files.left.name} and {files.left.name} to "
            f"{files.right.name} (in {files.directory})"
        )
    else:
        advice = (
            f"put the original MANO_RIGHT.pkl and MANO_LEFT.pkl of the MANO v1.2 release in {files.directory} "
            "(https://mano.is.tue.mpg.de)"
        )
    return InvalidInputError(
        f"MANO files in {files.directory} do not match their names: {'; '.join(parts)}. Loading them would give "
        f"mirrored meshes and apply the left-hand shapedirs fix to the wrong hand. Nothing was loaded or cached: "
        f"{advice}."
    )


def _check_side(files: ManoFiles, side: Side, arrays: Mapping[str, np.ndarray]) -> float:
    """Raise when the template of the file named for ``side`` is the other hand; returns its chirality."""
    detected, chirality = hand_side_from_template(arrays["v_template"], arrays["J_regressor"])
    if detected is None:
        logger.warning(
            "%s: cannot tell from its template which hand it is (chirality %+.3f, a MANO hand gives about +-0.157); "
            "trusting its name",
            files.path(side),
            chirality,
        )
    elif detected != side:
        found: dict[Side, tuple[Side, str]] = {
            side: (detected, f"its thumb lies on the {detected}-hand side of its palm, chirality {chirality:+.3f}")
        }
        other = _other(side)
        try:  # a full diagnosis: is the other file the mirror case (a swapped pair)?
            other_arrays, _ = _read_and_convert(files.path(other))
            other_detected, other_chirality = hand_side_from_template(
                other_arrays["v_template"], other_arrays["J_regressor"]
            )
            if other_detected is not None and other_detected != other:
                found[other] = (
                    other_detected,
                    f"its thumb lies on the {other_detected}-hand side of its palm, chirality {other_chirality:+.3f}",
                )
        except (InvalidInputError, UnsafeFileError, OSError):
            pass  # the error below is about this file; the other one is reported when it is loaded
        raise _wrong_side_error(files, found)
    return chirality


# ----------------------------------------------------------------------------------------------------------------
# Finding the files


@dataclass(frozen=True)
class ManoFiles:
    """Where the MANO files were found and how the directory was chosen (for messages and ``eanet mano check``)."""

    directory: Path
    origin: str
    right: Path
    left: Path

    def path(self, side: Side) -> Path:
        return self.right if side == "right" else self.left


def resolve_mano_dir(mano_dir: str | os.PathLike | None = None, *, origin: str | None = None) -> tuple[Path, str]:
    """Choose the MANO directory: the argument if given, else ``$EANET_MANO_DIR``.

    Args:
        mano_dir: a directory given by the caller (CLI flag or config key), or None.
        origin: how the caller got ``mano_dir`` (e.g. ``"--mano-dir"``), used in messages.

    Returns:
        ``(directory, origin)``. The directory is not checked here (see :func:`find_mano_files`).

    Raises:
        MissingFileError: neither an argument nor the environment variable names a directory.
    """
    if mano_dir is not None and str(mano_dir) != "":
        return Path(mano_dir).expanduser(), origin or "the mano_dir argument"
    env = os.environ.get(MANO_DIR_ENV, "")
    if env:
        return Path(env).expanduser(), f"${MANO_DIR_ENV}"
    raise MissingFileError(
        f"No MANO directory given: expected {MANO_FILENAMES['right']} and {MANO_FILENAMES['left']} in a directory "
        f"passed as --mano-dir DIR, set as hand_model.mano_dir in the config, or named by ${MANO_DIR_ENV} (all three "
        f"were empty). {MANO_DOWNLOAD_HINT}"
    )


def find_mano_files(mano_dir: str | os.PathLike | None = None, *, origin: str | None = None) -> ManoFiles:
    """Locate ``MANO_RIGHT.pkl`` and ``MANO_LEFT.pkl``.

    The directory itself is searched first, then its ``models/`` and ``mano/`` sub-folders (the layout of the
    unpacked release and of smplx model trees); using a sub-folder is logged.

    Raises:
        MissingFileError: the directory or a file is missing; the message names the files, every place searched,
            where the directory came from, and where MANO is obtained.
    """
    directory, origin = resolve_mano_dir(mano_dir, origin=origin)
    if not directory.is_dir():
        raise MissingFileError(
            f"MANO directory {directory} (from {origin}) does not exist or is not a directory; it must contain "
            f"{MANO_FILENAMES['right']} and {MANO_FILENAMES['left']}. {MANO_DOWNLOAD_HINT}"
        )
    candidates = [directory] + [directory / sub for sub in _SUBDIRS]
    for folder in candidates:
        right, left = folder / MANO_FILENAMES["right"], folder / MANO_FILENAMES["left"]
        if right.is_file() and left.is_file():
            if folder != directory:
                logger.info("using the MANO files in %s (inside %s from %s)", folder, directory, origin)
            return ManoFiles(directory=folder, origin=origin, right=right, left=left)
    found = [str(p) for folder in candidates for p in (folder / n for n in MANO_FILENAMES.values()) if p.is_file()]
    looked = ", ".join(str(c) for c in candidates)
    raise MissingFileError(
        f"MANO files not found: expected both {MANO_FILENAMES['right']} and {MANO_FILENAMES['left']} in one of "
        f"{looked} (directory from {origin})"
        + (f"; found only {', '.join(found)}" if found else "")
        + f". {MANO_DOWNLOAD_HINT}"
    )


# ----------------------------------------------------------------------------------------------------------------
# Cache


def default_cache_dir() -> Path:
    """``$EANET_CACHE_DIR``, else ``$XDG_CACHE_HOME/eanet``, else ``~/.cache/eanet``."""
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "eanet"
    return Path.home() / ".cache" / "eanet"


def mano_cache_dir() -> Path:
    """Folder of the converted MANO arrays inside :func:`default_cache_dir`."""
    return default_cache_dir() / "mano"


def _cache_path(side: Side, sha: str, right_sha: str) -> Path:
    # The key covers everything the arrays depend on: the cache format, the side, the file and (for the left
    # hand, whose shapedirs fix compares against the right) the right file.
    key = hashlib.sha256(f"eanet-mano-cache|{_CACHE_FORMAT}|{side}|{sha}|{right_sha}".encode()).hexdigest()
    return mano_cache_dir() / f"mano_{side}_{key[:32]}.npz"


def _read_cache(path: Path, side: Side, sha: str, right_sha: str) -> tuple[dict[str, np.ndarray], bool] | None:
    """The cached arrays and fix flag, or None when the entry is absent, stale or unreadable (then it is removed)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            meta = json.loads(str(npz["meta"]))
            expected = {"format": _CACHE_FORMAT, "side": side, "sha256": sha, "right_sha256": right_sha}
            if {k: meta.get(k) for k in expected} != expected or not isinstance(
                meta.get("shapedirs_fix_applied"), bool
            ):
                raise ValueError(f"its metadata {meta} does not match the source files")
            arrays = {k: npz[k] for k in _CACHE_ARRAYS}  # zipfile checks each member's CRC while reading
        _validate_converted(arrays, str(path))
        return arrays, meta["shapedirs_fix_applied"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, InvalidInputError) as err:
        logger.warning("MANO cache entry %s is stale or unreadable (%s); rebuilding it", path, err)
        path.unlink(missing_ok=True)
        return None


def _write_cache(path: Path, arrays: Mapping[str, np.ndarray], meta: dict) -> None:
    """Write atomically (temporary file + rename) so concurrent readers never see a partial entry."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")  # created with mode 0600
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
        logger.debug("wrote MANO cache entry %s", path)
    except OSError as err:  # the cache is an optimisation: a read-only home must not stop a run
        logger.warning("could not write the MANO cache entry %s (%s); continuing without it", path, err)


def clear_mano_cache() -> list[Path]:
    """Delete every cached MANO entry; returns the removed files."""
    removed = []
    folder = mano_cache_dir()
    if folder.is_dir():
        for p in sorted(folder.glob("mano_*.npz")) + sorted(folder.glob("mano_*.tmp")):
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def _validate_converted(arrays: Mapping[str, np.ndarray], source: str) -> None:
    """Re-check the shapes of converted arrays (cache entries are files too)."""
    V, J = MANO_NUM_VERTS, NUM_MANO_JOINTS
    expected = {
        "v_template": ((V, 3), "f"),
        "shapedirs": ((V, 3, NUM_BETAS), "f"),
        "posedirs": ((V, 3, (J - 1) * 9), "f"),
        "J_regressor": ((J, V), "f"),
        "weights": ((V, J), "f"),
        "parents": ((J,), "i"),
        "faces": ((None, 3), "i"),
        "hands_mean": ((NUM_HAND_POSE,), "f"),
    }
    for key, (shape, kind) in expected.items():
        _check(arrays[key], key, shape, kind, source)
    if tuple(arrays["parents"].tolist()) != MANO_PARENTS:
        raise InvalidInputError(f"{source}: 'parents' is not MANO's kinematic tree")


# ----------------------------------------------------------------------------------------------------------------
# Public loaders


def _read_and_convert(path: Path) -> tuple[dict[str, np.ndarray], str]:
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    return mano_arrays_from_pickle(load_mano_pickle(data, source=str(path)), source=str(path)), sha


def _to_data(side: Side, arrays: Mapping[str, np.ndarray], extras: dict) -> HandModelData:
    return HandModelData(
        name="MANO",
        side=side,
        v_template=arrays["v_template"],
        shapedirs=arrays["shapedirs"],
        posedirs=arrays["posedirs"],
        J_regressor=arrays["J_regressor"],
        weights=arrays["weights"],
        parents=arrays["parents"],
        faces=arrays["faces"],
        hands_mean=arrays["hands_mean"],
        tip_vertices=MANO_TIP_VERTICES_TRAIN,
        tip_vertices_eval=MANO_TIP_VERTICES_EVAL,
        is_mano=True,
        license=MANO_LICENSE,
        extras=extras,
    )


def load_mano_pair(
    mano_dir: str | os.PathLike | None = None,
    *,
    origin: str | None = None,
    cache: bool = True,
    refresh_cache: bool = False,
) -> tuple[HandModelData, HandModelData]:
    """Load both hands, reading each file once. See :func:`load_mano_data` for the arguments.

    Returns:
        ``(right, left)``.
    """
    files = find_mano_files(mano_dir, origin=origin)
    return _load(files, ("right", "left"), read_cache=cache and not refresh_cache, write_cache=cache)  # type: ignore[return-value]


def load_mano_data(
    side: Side,
    mano_dir: str | os.PathLike | None = None,
    *,
    origin: str | None = None,
    cache: bool = True,
    refresh_cache: bool = False,
) -> HandModelData:
    """Load one hand of MANO as :class:`HandModelData` (float64 arrays, left-hand fix applied).

    Args:
        side: ``"right"`` or ``"left"``. The left hand also reads ``MANO_RIGHT.pkl`` (for the smplx#48 fix).
        mano_dir: directory with the MANO files; None uses ``$EANET_MANO_DIR``.
        origin: how the caller got ``mano_dir`` (e.g. ``"--mano-dir"``, ``"config hand_model.mano_dir"``), for
            messages.
        cache: read converted arrays from the user cache when a valid entry exists, and write one otherwise.
            False reads the pickles and leaves the cache alone.
        refresh_cache: convert from the pickles even when a cache entry exists, and rewrite it (needs ``cache``).

    Returns:
        The hand's data. ``extras`` holds ``source`` (path), ``sha256``, ``right_sha256`` (the right file's, which
        the left hand's conversion depends on), ``shapedirs_fix_applied`` and ``from_cache``.

    Raises:
        MissingFileError, UnsafeFileError, InvalidInputError: see :func:`find_mano_files`,
            :class:`ManoUnpickler` and :func:`mano_arrays_from_pickle`.
    """
    if side not in MANO_FILENAMES:
        raise InvalidInputError(f"side must be 'right' or 'left', got {side!r}")
    files = find_mano_files(mano_dir, origin=origin)
    return _load(files, (side,), read_cache=cache and not refresh_cache, write_cache=cache)[0]


def _load(
    files: ManoFiles, sides: tuple[Side, ...], *, read_cache: bool, write_cache: bool
) -> tuple[HandModelData, ...]:
    right_sha = file_sha256(files.right)
    shas: dict[Side, str] = {"right": right_sha, "left": file_sha256(files.left) if "left" in sides else ""}
    known = _check_release_digests(files, shas)
    converted: dict[str, dict[str, np.ndarray]] = {}  # pickles read so far (the right is read at most once)
    result = []
    for side in sides:
        path = files.path(side)
        cache_path = _cache_path(side, shas[side], right_sha)
        cached = _read_cache(cache_path, side, shas[side], right_sha) if read_cache else None
        if cached is not None:
            arrays, fix_applied = cached
            logger.debug("loaded MANO %s from the cache %s", side, cache_path)
            # Entries written by older versions were never side-checked (the check costs microseconds).
            chirality = _check_side(files, side, arrays)
        else:
            arrays, sha = _read_and_convert(path)
            if sha != shas[side]:
                raise InvalidInputError(f"{path} changed while it was being read; try again")
            converted[side] = arrays
            chirality = _check_side(files, side, arrays)  # before the left-hand fix and the cache write
            fix_applied = False
            if side == "left":
                if "right" not in converted:
                    converted["right"], _ = _read_and_convert(files.right)
                    _check_side(files, "right", converted["right"])
                fix_applied = left_shapedirs_fix_needed(arrays["shapedirs"], converted["right"]["shapedirs"])
                if fix_applied:
                    arrays["shapedirs"][:, 0, :] *= -1  # smplx#48: negate the x components of the left blend shapes
            if write_cache:
                meta = {"format": _CACHE_FORMAT, "side": side, "sha256": shas[side], "right_sha256": right_sha}
                _write_cache(cache_path, arrays, meta | {"shapedirs_fix_applied": fix_applied})
        if side == "left":
            if fix_applied:
                logger.info("applied the left-hand shapedirs fix (smplx#48) to %s", path)
            else:
                logger.info("%s does not need the left-hand shapedirs fix (smplx#48); loaded as is", path)
        extras = {
            "source": str(path),
            "sha256": shas[side],
            "right_sha256": right_sha,
            "shapedirs_fix_applied": fix_applied,
            "from_cache": cached is not None,
            "side_chirality": chirality,
            "mano_v1_2_release": known.get(side, False),
        }
        result.append(_to_data(side, arrays, extras))
    return tuple(result)
