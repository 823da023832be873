"""InterHand2.6M release conventions, and the one place where they are converted to the project's.

The release (v1.0) stores

* joints in **millimetres**, world frame, 42 per frame in the **InterHand2.6M order** (per hand tip first, wrist
  last; right 0-20, left 21-41);
* cameras as ``campos`` (camera centre, world, mm), ``camrot`` (world-to-camera rotation), ``focal``, ``princpt``
  (pixels), OpenCV-style camera frame (x right, y down, z forward), no distortion;
* NeuralAnnot hand-model parameters in the **world frame**: ``pose`` (48, axis-angle, root first, relative to the
  mean hand), ``shape`` (10), ``trans`` (3, **metres**);
* ids as JSON keys that are strings (``str(capture)``, ``str(frame_idx)``, camera names).

Everything the rest of the package sees is converted here, once: metres, ``X_cam = cam_rot @ X_world + cam_trans``,
wrist-first joint order (:data:`eanet.hand_model.skeleton.JOINTS_21`), right then left. The annotation index keeps
the release's raw numbers (so it can be checked against the JSON); the dataset calls these functions when it reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from eanet.errors import MissingFileError
from eanet.hand_model.skeleton import IH26M_TO_JOINTS_21, IH26M_WRIST, JOINTS_21_TO_IH26M, WRIST

__all__ = [
    "SPLITS",
    "ANNOTATION_KINDS",
    "HAND_TYPE_CODES",
    "MM_TO_M",
    "IH26M_TO_OURS_42",
    "OURS_TO_IH26M_42",
    "IH26M_ROOTS",
    "ROOTS",
    "ReleasePaths",
    "release_paths",
    "camera_extrinsics",
    "joints_to_ours",
    "joints_to_ih26m",
    "and_with_root_ih26m",
    "find_human_annot_ids",
    "find_rootnet_file",
]

Split = Literal["train", "val", "test"]
SPLITS: tuple[str, ...] = ("train", "val", "test")
#: The four annotation files of a split, by the names the index uses.
ANNOTATION_KINDS: tuple[str, ...] = ("data", "camera", "joint_3d", "mano")
#: ``hand_type`` strings of the release to the integer codes of a sample (:data:`eanet.data.sample.HAND_TYPES`).
HAND_TYPE_CODES: dict[str, int] = {"right": 0, "left": 1, "interacting": 2}
MM_TO_M = 1e-3

#: ``ours = ih26m[IH26M_TO_OURS_42]`` for two-hand (42, ...) arrays: wrist-first per hand, right then left.
IH26M_TO_OURS_42: np.ndarray = np.concatenate([np.array(IH26M_TO_JOINTS_21), np.array(IH26M_TO_JOINTS_21) + 21])
#: ``ih26m = ours[OURS_TO_IH26M_42]``.
OURS_TO_IH26M_42: np.ndarray = np.concatenate([np.array(JOINTS_21_TO_IH26M), np.array(JOINTS_21_TO_IH26M) + 21])
#: Wrists (right, left) in the release's order and in ours.
IH26M_ROOTS: tuple[int, int] = (IH26M_WRIST, IH26M_WRIST + 21)
ROOTS: tuple[int, int] = (WRIST, WRIST + 21)


@dataclass(frozen=True)
class ReleasePaths:
    """Files of one split of an InterHand2.6M release (5 fps or 30 fps: both use the same layout)."""

    root: Path
    split: str
    data: Path
    camera: Path
    joint_3d: Path
    mano: Path
    images: Path

    def annotation_files(self) -> dict[str, Path]:
        return {"data": self.data, "camera": self.camera, "joint_3d": self.joint_3d, "mano": self.mano}


def release_paths(root: str | Path, split: str, *, require: bool = True) -> ReleasePaths:
    """Locate a split's annotation files under ``root/annotations/<split>/``.

    The data file is ``InterHand2.6M_<split>_data.json``; the official EANet code's ``..._data_hm.json`` (the same
    file renamed, EANet issue #4) is accepted when the standard name is absent.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    root = Path(root)
    ann = root / "annotations" / split
    prefix = f"InterHand2.6M_{split}"
    data = ann / f"{prefix}_data.json"
    if not data.exists() and (ann / f"{prefix}_data_hm.json").exists():
        data = ann / f"{prefix}_data_hm.json"
    paths = ReleasePaths(
        root=root,
        split=split,
        data=data,
        camera=ann / f"{prefix}_camera.json",
        joint_3d=ann / f"{prefix}_joint_3d.json",
        mano=ann / f"{prefix}_MANO_NeuralAnnot.json",
        images=root / "images" / split,
    )
    if require:
        missing = [str(p) for p in paths.annotation_files().values() if not p.is_file()]
        if missing:
            raise MissingFileError(
                f"InterHand2.6M {split} annotations not found: {', '.join(missing)}. Set data.root to the folder "
                "that holds annotations/ and images/ of the release (v1.0; 5 fps or 30 fps)."
            )
    return paths


def camera_extrinsics(campos_mm: np.ndarray, camrot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Release camera to ``(cam_rot, cam_trans_m)`` with ``X_cam = cam_rot @ X_world + cam_trans`` (metres).

    Args:
        campos_mm: ``(..., 3)`` camera centres in world coordinates, mm.
        camrot: ``(..., 3, 3)`` world-to-camera rotations.
    """
    cam_rot = np.asarray(camrot, dtype=np.float64)
    cam_trans = -(cam_rot @ np.asarray(campos_mm, dtype=np.float64)[..., None])[..., 0] * MM_TO_M  # (..., 3)
    return cam_rot, cam_trans


def joints_to_ours(values_ih26m: np.ndarray, axis: int = 0) -> np.ndarray:
    """Reorder a two-hand (42, ...) array from the release's joint order to ours along ``axis``."""
    return np.take(values_ih26m, IH26M_TO_OURS_42, axis=axis)


def joints_to_ih26m(values_ours: np.ndarray, axis: int = 0) -> np.ndarray:
    """Inverse of :func:`joints_to_ours`."""
    return np.take(values_ours, OURS_TO_IH26M_42, axis=axis)


def and_with_root_ih26m(valid_ih26m: np.ndarray) -> np.ndarray:
    """AND each hand's per-joint validity (release order, (..., 42)) with its wrist, like the official loader."""
    valid = np.asarray(valid_ih26m).astype(np.float32)
    out = valid.copy()
    out[..., :21] *= valid[..., IH26M_ROOTS[0], None]
    out[..., 21:] *= valid[..., IH26M_ROOTS[1], None]
    return out


def find_human_annot_ids(root: str | Path, split: str, explicit: str | None = None) -> Path:
    """The annotation-id list of the human-annotated (H) subset: ``aid_human_annot_<split>.txt``.

    These lists are not part of the release; InterWild and EANet ship them (528,482 train / 121,573 test ids).
    """
    if explicit:
        path = Path(explicit)
        if path.is_dir():
            path = path / f"aid_human_annot_{split}.txt"
        if path.is_file():
            return path
        raise MissingFileError(f"human-annotation id list {path} does not exist (data.human_annot_ids)")
    root = Path(root)
    name = f"aid_human_annot_{split}.txt"
    candidates = [root / name, root / "annotations" / name, root / "annotations" / split / name]
    for path in candidates:
        if path.is_file():
            return path
    raise MissingFileError(
        f"the H/M subsets need the id list {name} (shipped with InterWild and EANet, not with InterHand2.6M); looked "
        f"in {', '.join(str(c) for c in candidates)}. Put it there or set data.human_annot_ids, or use data.subset=HM."
    )


def find_rootnet_file(root: str | Path, split: str, fps: int, explicit: str | None = None) -> Path:
    """The RootNet output (boxes and absolute depths) for a split: an explicit path, or the release's usual places."""
    if explicit:
        path = Path(explicit)
        if path.is_file():
            return path
        raise MissingFileError(f"RootNet output {path} does not exist (data.rootnet_path)")
    root = Path(root)
    name = f"rootnet_interhand2.6m_output_{split}{'_30fps' if fps == 30 else ''}.json"
    candidates = [root / "rootnet_output" / name, root / "annotations" / "rootnet" / name, root / name]
    for path in candidates:
        if path.is_file():
            return path
    raise MissingFileError(
        f"data.bbox_source=rootnet needs {name}; looked in {', '.join(str(c) for c in candidates)}. "
        "Set data.rootnet_path, or use data.bbox_source=gt."
    )
