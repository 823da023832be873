"""The built-in open hand model: a freely licensed stand-in for MANO with MANO's interface. It is NOT MANO.

The model is generated procedurally from anatomical measurements by ``tools/build_open_hand.py`` (no MANO data is
read or copied) and shipped as a small asset, ``assets/open_hand_right.npz``. It has MANO's 16-joint kinematic tree
and joint order, MANO's model-frame conventions (right hand: fingers along -x, back of the hand +y, thumb +z;
metres; origin at the middle knuckle), ten shape coefficients with documented meanings (:data:`SHAPE_COEFFICIENTS`),
a relaxed mean pose ``hands_mean`` and fingertip vertices, so every part of eanet runs on it without a licence.
Its mesh, joints and shape space differ from MANO's, so numbers measured with it are not comparable to MANO-based
results.

The left hand is the exact mirror image of the right across the x = 0 plane (:func:`mirror_hand_data`): for any
pose and shape, ``left(mirror_pose(pose), betas)`` is the x-mirror of ``right(pose, betas)``.

Pose correctives (``posedirs``) are deliberately simple: one per finger joint, pushing the skin on the back of the
joint outwards as it bends (``1 - cos(angle)``), which keeps knuckles round and the volume of a fist close to the
rest volume (:func:`expand_knuckle_bulge`).
"""

from __future__ import annotations

import functools
import json
from dataclasses import replace
from importlib import resources
from pathlib import Path

import numpy as np

from eanet.errors import InvalidInputError, MissingFileError
from eanet.fileio import file_sha256
from eanet.hand_model.base import HandModelData, Side
from eanet.hand_model.skeleton import MANO_PARENTS, NUM_MANO_JOINTS

__all__ = [
    "OPEN_HAND_NAME",
    "OPEN_HAND_LICENSE",
    "ASSET_FILENAME",
    "ASSET_SHA256",
    "SHAPE_COEFFICIENTS",
    "asset_path",
    "load_open_hand_data",
    "mirror_hand_data",
    "expand_knuckle_bulge",
]

#: Name shown to users wherever the model appears (logs, renders, exported files).
OPEN_HAND_NAME = "eanet open hand (not MANO)"
OPEN_HAND_LICENSE = (
    "eanet open hand (not MANO): generated procedurally by tools/build_open_hand.py from anatomical parameters; "
    "part of eanet, same license as the project (MIT). Contains no MANO data."
)
ASSET_FILENAME = "open_hand_right.npz"
#: SHA-256 of the shipped asset, checked on every load so a damaged or swapped file is caught. A rebuild with
#: ``tools/build_open_hand.py`` prints the new value to paste here.
ASSET_SHA256 = "bd0491031acd9d1ba8e0573052d67656e2ae8d7676ccfbdf3f211d0b61871334"

#: The ten shape coefficients (``betas``), in ``shapedirs`` column order: (name, what +1 does). One unit is about
#: one standard deviation of adult variation; +-2 gives a clearly visible, still plausible hand.
SHAPE_COEFFICIENTS: tuple[tuple[str, str], ...] = (
    ("scale", "overall hand size (every length and thickness, about the middle knuckle)"),
    ("palm_width", "palm breadth: knuckles spread apart, palm and wrist broader"),
    ("palm_length", "palm length: fingers and thumb base move away from the wrist"),
    ("thickness", "dorsal-palmar thickness of the palm, wrist and fingers"),
    ("finger_girth", "finger and thumb breadth and thickness (not their length)"),
    ("thumb_length", "thumb length (its three segments)"),
    ("index_length", "index finger length (its three segments)"),
    ("middle_length", "middle finger length"),
    ("ring_length", "ring finger length"),
    ("pinky_length", "little finger length"),
)

_REQUIRED = (
    "v_template", "shapedirs", "J_regressor", "weights", "faces", "hands_mean", "tip_vertices", "knuckle_bulge",
    "rest_joints", "meta_json",
)
_MIRROR = np.array([-1.0, 1.0, 1.0])


def asset_path() -> Path:
    """Path of the shipped right-hand asset inside the installed package."""
    return Path(str(resources.files("eanet.hand_model") / "assets" / ASSET_FILENAME))


@functools.lru_cache(maxsize=4)
def _read_asset(path: Path, expected_sha256: str | None) -> dict[str, np.ndarray]:
    """Read and check the asset once per process; arrays are returned read-only (callers copy)."""
    if not path.is_file():
        raise MissingFileError(
            f"The open hand model asset {path} is missing. Reinstall eanet, or rebuild it with "
            "`python tools/build_open_hand.py` from a source checkout."
        )
    if expected_sha256 is not None:
        digest = file_sha256(path)
        if digest != expected_sha256:
            raise InvalidInputError(
                f"The open hand model asset {path} is damaged or was replaced (SHA-256 {digest}, expected "
                f"{expected_sha256}). Reinstall eanet; after an intentional rebuild with tools/build_open_hand.py, "
                "update ASSET_SHA256 in eanet/hand_model/open_hand.py."
            )
    with np.load(path, allow_pickle=False) as npz:
        missing = [k for k in _REQUIRED if k not in npz.files]
        if missing:
            raise InvalidInputError(f"The open hand model asset {path} lacks {missing}; rebuild or reinstall it.")
        arrays = {k: npz[k] for k in npz.files}
    for value in arrays.values():
        value.flags.writeable = False
    return arrays


def _right_hand(arrays: dict[str, np.ndarray]) -> HandModelData:
    meta = json.loads(bytes(arrays["meta_json"]).decode("utf-8"))
    v_template = arrays["v_template"].astype(np.float64)
    tips = tuple(int(t) for t in arrays["tip_vertices"])
    return HandModelData(
        name=OPEN_HAND_NAME,
        side="right",
        v_template=v_template,
        shapedirs=arrays["shapedirs"].astype(np.float64),
        posedirs=expand_knuckle_bulge(arrays["knuckle_bulge"].astype(np.float64)),
        J_regressor=arrays["J_regressor"].astype(np.float64),
        weights=arrays["weights"].astype(np.float64),
        parents=np.array(MANO_PARENTS, dtype=np.int64),
        faces=arrays["faces"].astype(np.int64),
        hands_mean=arrays["hands_mean"].astype(np.float64),
        tip_vertices=tips,  # type: ignore[arg-type]
        tip_vertices_eval=tips,  # type: ignore[arg-type]
        is_mano=False,
        license=OPEN_HAND_LICENSE,
        extras={
            "shape_coefficients": SHAPE_COEFFICIENTS,
            "rest_joints": arrays["rest_joints"].astype(np.float64),
            "generator_spec": meta.get("spec"),
            "format_version": meta.get("format_version"),
        },
    )


def expand_knuckle_bulge(bulge: np.ndarray) -> np.ndarray:
    """The open hand's compact pose correctives ``(V, 3, 15)`` as MANO-layout ``posedirs`` ``(V, 3, 135)``.

    ``bulge[:, :, j]`` is the skin offset at joint ``j + 1`` for a 90-degree bend; the corrective scales with
    ``1 - cos(angle) = -(trace(R) - 3) / 2``, i.e. it multiplies the three diagonal entries of ``R - I`` by
    ``-bulge / 2`` (entries 0, 4 and 8 of each joint's nine).
    """
    num_verts = bulge.shape[0]
    posedirs = np.zeros((num_verts, 3, NUM_MANO_JOINTS - 1, 9))
    posedirs[..., [0, 4, 8]] = -0.5 * bulge[..., None]
    return posedirs.reshape(num_verts, 3, 9 * (NUM_MANO_JOINTS - 1))


def mirror_hand_data(data: HandModelData, side: Side) -> HandModelData:
    """The exact mirror image of a hand model across the x = 0 plane, labelled ``side``.

    With ``M = diag(-1, 1, 1)``: vertices and shape offsets flip x; a rotation becomes ``M R M``, so an axis-angle
    ``(x, y, z)`` becomes ``(x, -y, -z)`` (``hands_mean``) and the ``(R - I)`` entry ``(i, k)`` a pose blend shape
    multiplies gets the sign ``m_i m_k``; triangles reverse their winding so normals stay outward. The joint
    regressor, skinning weights, tree and fingertip vertices are unchanged (vertex ``i`` mirrors vertex ``i``).
    """
    num_posed = NUM_MANO_JOINTS - 1
    pose_sign = np.tile(np.outer(_MIRROR, _MIRROR).reshape(9), num_posed)  # (135,)
    return replace(
        data,
        side=side,
        v_template=data.v_template * _MIRROR,
        shapedirs=data.shapedirs * _MIRROR[None, :, None],
        posedirs=data.posedirs * _MIRROR[None, :, None] * pose_sign[None, None, :],
        hands_mean=(data.hands_mean.reshape(num_posed, 3) * np.array([1.0, -1.0, -1.0])).reshape(-1),
        faces=data.faces[:, ::-1].copy(),
        J_regressor=data.J_regressor.copy(),
        weights=data.weights.copy(),
        parents=data.parents.copy(),
        extras={
            **data.extras,
            **({"rest_joints": data.extras["rest_joints"] * _MIRROR} if "rest_joints" in data.extras else {}),
        },
    )


def load_open_hand_data(side: Side, path: str | Path | None = None) -> HandModelData:
    """Load the built-in open hand model (not MANO) for one side.

    Args:
        side: ``"right"`` or ``"left"`` (the exact mirror image of the right hand).
        path: another asset file written by ``tools/build_open_hand.py``; its checksum is not checked. None (the
            default) loads the shipped asset and verifies its SHA-256.

    Returns:
        :class:`HandModelData` with fresh (writable) arrays.

    Raises:
        InvalidInputError: unknown side, or a damaged asset.
        MissingFileError: the asset file is missing.
    """
    if side not in ("right", "left"):
        raise InvalidInputError(f"side must be 'right' or 'left', got {side!r}")
    if path is None:
        arrays = _read_asset(asset_path(), ASSET_SHA256)
    else:
        arrays = _read_asset(Path(path).resolve(), None)
    right = _right_hand(arrays)
    return right if side == "right" else mirror_hand_data(right, "left")
