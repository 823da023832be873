"""Finding the two hands in a full image: the MediaPipe hand landmarker (optional extra) and the two-hand box.

EANet reads one crop holding both hands. For a full photo or video frame the crop box comes from
MediaPipe's hand landmarker (``pip install 'eanet[detect]'`` and ``eanet detector fetch``): each detected hand's 21
landmarks give a box grown by ``hand_box_extend`` (the official ``get_bbox`` extend of training crops), and the
union of the detected hands' boxes is the two-hand box, which the predictor then makes square and grows by
``bbox_extend`` (official ``process_bbox``), exactly as training crops are made from ground-truth joints.

What is reported, never guessed:

* no hand found: :class:`NoHandsDetectedError`, the input fails with a message that suggests ``--bbox`` or
  ``--cropped``;
* one hand found: the crop is that hand's box, and the result carries a warning (EANet always predicts two hands;
  the other one is then not in the crop, or hidden, and its prediction is unreliable).

MediaPipe's handedness labels are reported as given (``detector_label``); the crop does not use them (EANet predicts
both hands anyway). Keypoint fitting (:mod:`eanet.inference.fit`) weighs them, with the 3D landmarks' geometry, to
tell which detected hand is the right one: the Tasks landmarker used here names the hand as seen in the image
(older MediaPipe solutions documented labels for mirrored selfie images; see :func:`eanet.inference.fit.label_evidence`).
Tightly interlocked hands are sometimes found as one hand (seen on the interlocked example photo); the union box then
still holds both, but the result says "one hand".
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from eanet.data.augment import union_bbox
from eanet.errors import InvalidInputError, MissingFileError, UserError
from eanet.hand_model.mano import default_cache_dir

__all__ = [
    "HandDetection",
    "Detection",
    "HandDetector",
    "MediaPipeHandDetector",
    "NoHandsDetectedError",
    "DetectorUnavailableError",
    "two_hand_box",
    "default_detector_model_path",
]

logger = logging.getLogger(__name__)

_INSTALL_HINT = (
    "Hand detection needs the optional MediaPipe extra and its model file: `pip install 'eanet[detect]'` then "
    "`eanet detector fetch` (offline: `eanet detector fetch --wheel mediapipe-0.10.21-*.whl`). Without them, pass "
    "--bbox X,Y,W,H (a box around both hands) or --cropped (images already cropped to the hands)."
)


class DetectorUnavailableError(UserError):
    """MediaPipe or its model file is missing."""


class NoHandsDetectedError(InvalidInputError):
    """The detector found no hand in an image."""


@dataclass(frozen=True)
class HandDetection:
    """One hand found by a detector.

    Attributes:
        box: ``(4,)`` xywh around its landmarks (not grown), original-image pixels.
        score: detection confidence in ``[0, 1]``.
        landmarks: ``(21, 2)`` landmark pixels (MediaPipe order, wrist first), or None.
        detector_label: the detector's handedness label as given (``Left``/``Right``), or "".
        landmarks_world: ``(21, 3)`` MediaPipe's 3D "world" landmarks (same order), metres, origin near the hand's
            centre, axes as the image's (x right, y down, z away from the camera), or None. Their scale is
            MediaPipe's guess of an average hand; keypoint fitting uses only their directions
            (:mod:`eanet.inference.fit`).
    """

    box: np.ndarray
    score: float
    landmarks: np.ndarray | None = None
    detector_label: str = ""
    landmarks_world: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "box_xywh": [float(v) for v in self.box],
            "score": float(self.score),
            "detector_label": self.detector_label,
            "landmarks_2d": None if self.landmarks is None else np.round(self.landmarks, 2).tolist(),
            "landmarks_world_m": None if self.landmarks_world is None else np.round(self.landmarks_world, 5).tolist(),
        }


@dataclass(frozen=True)
class Detection:
    """The detector's answer for one image and the two-hand box made from it.

    Attributes:
        hands: the detected hands, best score first.
        box: ``(4,)`` xywh union of the grown hand boxes, or None when nothing was found.
        status: ``two_hands``, ``one_hand`` or ``none``.
        warnings: messages meant for the user (e.g. one hand only).
    """

    hands: tuple[HandDetection, ...]
    box: np.ndarray | None
    status: str
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def score(self) -> float:
        """Mean detector score over the two hands EANet predicts, 0 for a hand that was not found."""
        return float(sum(h.score for h in self.hands[:2]) / 2.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "num_hands": len(self.hands),
            "score": self.score,
            "box_xywh": None if self.box is None else [float(v) for v in self.box],
            "hands": [h.to_dict() for h in self.hands],
        }


class HandDetector(Protocol):
    """Anything that finds hands: ``detect(image (H, W, 3) uint8 RGB) -> list[HandDetection]``."""

    def detect(self, image: np.ndarray) -> list[HandDetection]: ...

    def close(self) -> None: ...


def two_hand_box(hands: Sequence[HandDetection], hand_box_extend: float = 1.25, max_hands: int = 2) -> Detection:
    """The two-hand crop box from detected hands: the union of each hand's box grown by ``hand_box_extend``.

    Args:
        hands: detections (any order); the ``max_hands`` best-scoring ones are used.
        hand_box_extend: growth of each hand's box about its centre (official ``get_bbox`` extend).

    Returns:
        :class:`Detection` with ``status`` ``two_hands``, ``one_hand`` (and a warning) or ``none`` (box None).
    """
    ranked = tuple(sorted(hands, key=lambda h: -float(h.score))[:max_hands])
    if not ranked:
        return Detection(hands=(), box=None, status="none")
    boxes = []
    for h in ranked:
        x, y, w, h_ = (float(v) for v in h.box)
        cx, cy = x + 0.5 * w, y + 0.5 * h_
        w, h_ = w * hand_box_extend, h_ * hand_box_extend
        boxes.append(np.array([[cx - 0.5 * w, cy - 0.5 * h_, w, h_]], dtype=np.float64))
    box = boxes[0]
    for other in boxes[1:]:
        box = union_bbox(box, other)  # (1, 4)
    warnings: tuple[str, ...] = ()
    status = "two_hands" if len(ranked) >= 2 else "one_hand"
    if status == "one_hand":
        warnings = (
            f"the detector found only one hand (score {ranked[0].score:.2f}); the crop holds that hand, and EANet's "
            "prediction of the other hand is unreliable (pass --bbox around both hands if the second one is there)",
        )
    return Detection(hands=ranked, box=box[0].astype(np.float64), status=status, warnings=warnings)


def landmarks_box(landmarks: np.ndarray) -> np.ndarray:
    """``(4,)`` xywh extent of ``(N, 2)`` points."""
    lo, hi = landmarks.min(axis=0), landmarks.max(axis=0)
    return np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]], dtype=np.float64)


def default_detector_model_path() -> Path:
    """Where ``eanet detector fetch`` caches ``hand_landmarker.task``: ``<user cache>/mediapipe/``."""
    return default_cache_dir() / "mediapipe" / "hand_landmarker.task"


class MediaPipeHandDetector:
    """MediaPipe Tasks ``HandLandmarker`` in IMAGE mode (one call per image or video frame), offline.

    Args:
        model_path: ``hand_landmarker.task`` (default: :func:`default_detector_model_path`).
        min_confidence: minimum hand-detection confidence.
        min_presence: minimum hand-presence confidence.
        num_hands: at most this many hands.
        landmarker: an object with ``detect(image) -> result`` to use instead of MediaPipe's (tests); ``result``
            has ``hand_landmarks`` (per hand, 21 objects with normalised ``x``, ``y``), optionally
            ``hand_world_landmarks`` (per hand, 21 objects with ``x``, ``y``, ``z`` in metres) and ``handedness``
            (per hand, a list whose first item has ``category_name`` and ``score``). The image is then passed as
            the NumPy array itself.

    Raises:
        DetectorUnavailableError: MediaPipe is not installed or the model file is missing.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        min_confidence: float = 0.3,
        min_presence: float = 0.3,
        num_hands: int = 2,
        landmarker: Any = None,
    ) -> None:
        self._mp = None
        if landmarker is not None:
            self._landmarker = landmarker
            self.model_path = None
            return
        path = Path(model_path).expanduser() if model_path else default_detector_model_path()
        try:
            import mediapipe as mp
            from mediapipe.tasks import python as mp_tasks
            from mediapipe.tasks.python import vision
        except ImportError as err:
            raise DetectorUnavailableError(f"MediaPipe is not installed ({err}). {_INSTALL_HINT}") from None
        if not path.is_file():
            raise DetectorUnavailableError(
                f"the hand-landmarker model file {path} does not exist. {_INSTALL_HINT}"
                + ("" if model_path else " (or pass --detector-model PATH)")
            )
        options = vision.HandLandmarkerOptions(
            base_options=mp_tasks.BaseOptions(model_asset_path=str(path)),
            running_mode=vision.RunningMode.IMAGE,
            num_hands=num_hands,
            min_hand_detection_confidence=min_confidence,
            min_hand_presence_confidence=min_presence,
            min_tracking_confidence=min_presence,
        )
        try:
            self._landmarker = vision.HandLandmarker.create_from_options(options)
        except Exception as err:  # noqa: BLE001 - MediaPipe raises RuntimeError/ValueError for bad model files
            raise DetectorUnavailableError(
                f"MediaPipe could not load {path} ({err}); rebuild it with `eanet detector fetch --force`"
            ) from None
        self._mp = mp
        self.model_path = path

    def detect(self, image: np.ndarray) -> list[HandDetection]:
        """Hands in an ``(H, W, 3)`` uint8 RGB image, best score first."""
        image = np.ascontiguousarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InvalidInputError(f"the detector needs (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
        height, width = image.shape[:2]
        mp_image = image
        if self._mp is not None:
            mp_image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=image)
        result = self._landmarker.detect(mp_image)
        world_all = getattr(result, "hand_world_landmarks", None) or []
        hands = []
        for i, landmarks in enumerate(result.hand_landmarks or []):
            pts = np.array([[lm.x * width, lm.y * height] for lm in landmarks], dtype=np.float64)  # (21, 2)
            world = None
            if i < len(world_all) and len(world_all[i]) == len(landmarks):
                world = np.array([[lm.x, lm.y, lm.z] for lm in world_all[i]], dtype=np.float64)  # (21, 3) metres
            label, score = "", 1.0
            if result.handedness and i < len(result.handedness) and result.handedness[i]:
                category = result.handedness[i][0]
                label, score = str(category.category_name), float(category.score)
            hands.append(HandDetection(box=landmarks_box(pts), score=score, landmarks=pts, detector_label=label,
                                       landmarks_world=world))  # fmt: skip
        hands.sort(key=lambda h: -h.score)
        return hands

    def close(self) -> None:
        """Release MediaPipe's graph (call once done; also done by ``with``)."""
        closer = getattr(self._landmarker, "close", None)
        if closer is not None:
            closer()
        self._landmarker = None

    def __enter__(self) -> MediaPipeHandDetector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def check_model_file(path: Path) -> dict[str, int]:
    """Validate a ``hand_landmarker.task``: a zip holding the two TFLite models. Returns their sizes.

    Raises:
        MissingFileError / InvalidInputError: missing file, not a zip, a member missing, not a TFLite model.
    """
    import zipfile

    if not path.is_file():
        raise MissingFileError(f"{path} does not exist; build it with `eanet detector fetch`")
    try:
        with zipfile.ZipFile(path) as zf:
            sizes = {}
            for name in MODEL_MEMBERS:
                try:
                    data = zf.read(name)
                except KeyError:
                    raise InvalidInputError(
                        f"{path} lacks {name}; rebuild it with `eanet detector fetch --force`"
                    ) from None
                if data[4:8] != b"TFL3":
                    raise InvalidInputError(f"{path}: {name} is not a TFLite model; rebuild it")
                sizes[name] = len(data)
    except zipfile.BadZipFile as err:
        raise InvalidInputError(f"{path} is not a MediaPipe task bundle ({err}); rebuild it") from None
    return sizes


#: Members of a ``hand_landmarker.task`` bundle and where each comes from in the mediapipe 0.10.21 wheel
#: (newer mediapipe wheels ship no model files).
MODEL_MEMBERS: dict[str, str] = {
    "hand_detector.tflite": "mediapipe/modules/palm_detection/palm_detection_full.tflite",
    "hand_landmarks_detector.tflite": "mediapipe/modules/hand_landmark/hand_landmark_full.tflite",
}
#: The wheel the model files are taken from.
MODEL_WHEEL = "mediapipe==0.10.21"


def build_model_file(wheel: Path, out: Path) -> dict[str, int]:
    """Write ``hand_landmarker.task`` (uncompressed zip, as ``zip -0``) from the two TFLite files in ``wheel``.

    Written to a temporary name and renamed, so an interrupted build never leaves a half file at ``out``.
    """
    import zipfile

    try:
        src = zipfile.ZipFile(wheel)
    except (zipfile.BadZipFile, OSError) as err:
        raise InvalidInputError(f"{wheel} is not a wheel (zip) file: {err}") from None
    with src:
        names = set(src.namelist())
        missing = [inner for inner in MODEL_MEMBERS.values() if inner not in names]
        if missing:
            raise InvalidInputError(
                f"{wheel} does not contain {', '.join(missing)}; use the {MODEL_WHEEL} wheel (newer mediapipe "
                "wheels ship no model files)"
            )
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".partial")
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as dst:
            for member, inner in MODEL_MEMBERS.items():
                dst.writestr(zipfile.ZipInfo(member, date_time=(1980, 1, 1, 0, 0, 0)), src.read(inner))
    sizes = check_model_file(tmp)
    tmp.replace(out)
    return sizes
