"""What the predictor returns per image: both hands in the original image's camera frame (NumPy), and its JSON form.

JSON layout (``ImagePrediction.to_dict``; units: metres, pixels, radians; frame: the camera of the original image,
OpenCV axes x right, y down, z forward; joints in the wrist-first 21-joint order listed under ``joint_names``)::

    {"format": "eanet-prediction", "format_version": 1, "source": ..., "image_size_wh": [W, H],
     "confidence": c, "camera": {"K", "focal", "princpt", "width", "height", "intrinsics", "axes"},
     "crop": {"box_xywh", "hands_box_xywh", "source", "input_size_hw", "img2crop", "crop2img"},
     "detection": null | {"status", "num_hands", "score", "box_xywh", "hands": [...]},
     "rel_trans": [3], "warnings": [text, ...], "warning_codes": [code, ...], "hand_model": {...},
     "model": {..., "training_data": null | {...}}, "timings_ms": {...},
     "hands": {"right": HAND, "left": HAND}}

    HAND = {"confidence", "agreement", "root_pose_aa" [3], "hand_pose_aa" [45], "hand_pose_aa_flat" [45],
            "pose_rotmat" [16][3][3], "betas" [S], "transl" [3], "root_cam" [3], "cam_weak_perspective" [3],
            "joints_cam" [21][3], "joints_2d" [21][2], "joints_2d_heatmap" [21][2], "joints_hm" [21][3],
            "verts_cam" [V][3] (optional), "placement": {...}}

``hand_model(root_pose_aa, hand_pose_aa, betas, transl=transl)`` (a :class:`~eanet.hand_model.HandModelLayer`
with the recorded ``flat_hand_mean``) gives ``verts_cam`` and ``joints_cam`` exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eanet.hand_model.skeleton import JOINTS_21
from eanet.inference.detect import Detection
from eanet.inference.placement import Crop
from eanet.inference.reliability import warning_codes
from eanet.version import __version__

__all__ = ["HandResult", "ImagePrediction", "FailedPrediction", "FORMAT", "FORMAT_VERSION"]

FORMAT = "eanet-prediction"
FORMAT_VERSION = 1


def _list(arr: np.ndarray, decimals: int = 6) -> list:
    return np.round(np.asarray(arr, dtype=np.float64), decimals).tolist()


@dataclass
class HandResult:
    """One hand, placed in the original image's camera frame.

    Attributes:
        side: ``right`` or ``left``.
        root_pose_aa: ``(3,)`` global rotation (camera-aligned), axis-angle.
        hand_pose_aa: ``(45,)`` finger rotations, axis-angle, relative to the hand model's mean pose when the hand
            model uses ``flat_hand_mean=False`` (the official and NeuralAnnot convention).
        hand_pose_aa_flat: ``(45,)`` the same pose for a layer with ``flat_hand_mean=True`` (mean added).
        pose_rotmat: ``(16, 3, 3)`` local joint rotations applied by the hand model (root first, MANO-16 order, mean
            pose included).
        betas: ``(S,)`` shape coefficients.
        cam_weak_perspective: ``(3,)`` the network's ``(s, tx, ty)`` in heatmap pixels of the crop.
        transl: ``(3,)`` translation that takes the hand model's output to the camera frame.
        root_cam: ``(3,)`` wrist position, camera frame, metres.
        joints_cam: ``(21, 3)`` camera frame, metres.
        verts_cam: ``(V, 3)`` camera frame, metres.
        faces: ``(F, 3)`` the hand model's triangles.
        joints_2d: ``(21, 2)`` perspective projection of ``joints_cam``, original-image pixels.
        joints_2d_heatmap: ``(21, 2)`` the 2.5D heatmap joints (the network's direct 2D estimate), image pixels.
        joints_hm: ``(21, 3)`` the 2.5D heatmap joints in heatmap units (x, y feature-map pixels, z depth bins).
        confidence: in ``[0, 1]``, see ``docs/inference.md``.
        agreement: mean distance between ``joints_2d_heatmap`` and the mesh's weak-perspective joints, as a fraction
            of the crop size (what ``confidence`` is made from).
        placement: diagnostics of the placement (see :mod:`eanet.inference.placement`).
    """

    side: str
    root_pose_aa: np.ndarray
    hand_pose_aa: np.ndarray
    hand_pose_aa_flat: np.ndarray
    pose_rotmat: np.ndarray
    betas: np.ndarray
    cam_weak_perspective: np.ndarray
    transl: np.ndarray
    root_cam: np.ndarray
    joints_cam: np.ndarray
    verts_cam: np.ndarray
    faces: np.ndarray
    joints_2d: np.ndarray
    joints_2d_heatmap: np.ndarray
    joints_hm: np.ndarray
    confidence: float
    agreement: float
    placement: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, include_vertices: bool = True) -> dict[str, Any]:
        out = {
            "confidence": round(float(self.confidence), 4),
            "agreement": round(float(self.agreement), 5),
            "root_pose_aa": _list(self.root_pose_aa),
            "hand_pose_aa": _list(self.hand_pose_aa),
            "hand_pose_aa_flat": _list(self.hand_pose_aa_flat),
            "pose_rotmat": _list(self.pose_rotmat),
            "betas": _list(self.betas),
            "transl": _list(self.transl),
            "root_cam": _list(self.root_cam),
            "cam_weak_perspective": _list(self.cam_weak_perspective),
            "joints_cam": _list(self.joints_cam),
            "joints_2d": _list(self.joints_2d, 3),
            "joints_2d_heatmap": _list(self.joints_2d_heatmap, 3),
            "joints_hm": _list(self.joints_hm, 4),
            "placement": self.placement,
        }
        if include_vertices:
            out["verts_cam"] = _list(self.verts_cam)
        return out


@dataclass
class ImagePrediction:
    """Both hands of one image (or video frame), mapped back to the original image.

    Attributes:
        source: the input's path or a label (``<array 0>``; ``video.mp4#12`` for frame 12).
        image_size: ``(width, height)`` of the original image.
        crop: the crop the network saw.
        camera: the original image's :class:`eanet.render.Camera` (meshes are in its frame).
        camera_source: how its intrinsics were chosen.
        right, left: the hands.
        rel_trans: ``(3,)`` left wrist minus right wrist, metres (as predicted).
        confidence: the image's confidence: the lower hand confidence, times the detector score when a detector
            chose the crop (see ``docs/inference.md``).
        detection: what the detector found (None without detection).
        warnings: messages for the user: what the model was trained on, low confidence, only one hand detected...
            Each is a ``str``; those made by :mod:`eanet.inference.reliability` are
            :class:`~eanet.inference.reliability.PredictionWarning` with a ``code`` (``warning_codes`` in the JSON).
        hand_model: description of the hand model (kind, name, sizes, ``flat_hand_mean``).
        model: description of the network (checkpoint, input size).
        timings_ms: per-stage times of this image (batch stages divided by the batch size).
        frame_index: video frame index, or None.
        fit: the keypoint fit's :class:`~eanet.inference.fit.FitReport` (``--fit keypoints``), or None.
    """

    source: str
    image_size: tuple[int, int]
    crop: Crop
    camera: Any
    camera_source: str
    right: HandResult
    left: HandResult
    rel_trans: np.ndarray
    confidence: float
    detection: Detection | None = None
    warnings: list[str] = field(default_factory=list)
    hand_model: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    frame_index: int | None = None
    fit: Any = None

    ok = True

    def hands(self) -> Iterator[tuple[str, HandResult]]:
        yield "right", self.right
        yield "left", self.left

    def to_dict(self, include_vertices: bool = True) -> dict[str, Any]:
        """A JSON-serialisable dict (layout in the module docstring)."""
        cam = self.camera
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "eanet_version": __version__,
            "source": self.source,
            "frame_index": self.frame_index,
            "image_size_wh": [int(self.image_size[0]), int(self.image_size[1])],
            "confidence": round(float(self.confidence), 4),
            "warnings": [str(w) for w in self.warnings],
            "warning_codes": warning_codes(self.warnings),
            "camera": {
                "K": _list(cam.K),
                "focal": [float(cam.focal[0]), float(cam.focal[1])],
                "princpt": [float(cam.princpt[0]), float(cam.princpt[1])],
                "width": int(cam.width),
                "height": int(cam.height),
                "intrinsics": self.camera_source,
                "axes": "OpenCV camera frame: x right, y down, z forward (metres); pixel centres at integers",
            },
            "crop": self.crop.to_dict(),
            "detection": None if self.detection is None else self.detection.to_dict(),
            "rel_trans": _list(self.rel_trans),
            "joint_names": list(JOINTS_21),
            "hand_model": self.hand_model,
            "model": self.model,
            "timings_ms": {k: round(float(v), 2) for k, v in self.timings_ms.items()},
            "hands": {side: hand.to_dict(include_vertices) for side, hand in self.hands()},
            "fit": None if self.fit is None else self.fit.to_dict(),
        }


@dataclass
class FailedPrediction:
    """An input that could not be processed: ``error`` says what is wrong and what to do."""

    source: str
    error: str
    frame_index: int | None = None

    ok = False

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "source": self.source,
                "frame_index": self.frame_index, "error": self.error}  # fmt: skip
