"""Warnings that say how far a prediction can be trusted (``docs/inference.md``, "Warnings").

Every prediction carries them in ``ImagePrediction.warnings`` (text), ``prediction.json`` (``warnings`` and the
parallel ``warning_codes``), the lines ``eanet predict`` prints, ``summary.json`` and the web page:

* ``untrained_model``: the weights were saved before any training step (random initialisation).
* ``synthetic_training_data``: the checkpoint was trained only on ``eanet synth`` images.
* ``training_data_unknown``: the checkpoint does not record what it was trained on.
* ``low_confidence``: the image's confidence is under ``inference.low_confidence``.

The first three are about the model (the same for every image); ``low_confidence`` is about one image. Other
warnings (one hand detected, a box cut at the border, an implausible camera) have the code ``other``.

A warning is a :class:`PredictionWarning`: a ``str`` (its text), so code that prints, joins or searches warnings
keeps working, with a short machine-readable ``code``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eanet.model.provenance import TrainingData

__all__ = [
    "UNTRAINED_MODEL",
    "SYNTHETIC_TRAINING_DATA",
    "TRAINING_DATA_UNKNOWN",
    "LOW_CONFIDENCE",
    "NO_NETWORK",
    "no_network_warning",
    "OTHER",
    "MODEL_CODES",
    "PredictionWarning",
    "warning_code",
    "warning_codes",
    "model_warnings",
    "low_confidence_warning",
    "low_confidence_after_fit",
    "training_data_summary",
]

UNTRAINED_MODEL = "untrained_model"
SYNTHETIC_TRAINING_DATA = "synthetic_training_data"
TRAINING_DATA_UNKNOWN = "training_data_unknown"
LOW_CONFIDENCE = "low_confidence"
#: No checkpoint at all (``--fit keypoints`` alone): only the keypoint fit reads the image.
NO_NETWORK = "no_network"
#: Any other warning (detection, box, placement): its text says what happened.
OTHER = "other"
#: Codes about the model itself: the same for every image a predictor makes (the CLI prints them once).
MODEL_CODES = frozenset({UNTRAINED_MODEL, SYNTHETIC_TRAINING_DATA, TRAINING_DATA_UNKNOWN, NO_NETWORK})


class PredictionWarning(str):
    """A warning's text with its short machine-readable ``code`` (e.g. ``synthetic_training_data``)."""

    code: str

    def __new__(cls, code: str, message: str) -> PredictionWarning:
        obj = super().__new__(cls, message)
        obj.code = code
        return obj

    def __getnewargs__(self) -> tuple[str, str]:  # type: ignore[override]
        # pickle and copy rebuild the object through __new__(code, message).
        return self.code, str(self)

    def __repr__(self) -> str:
        return f"PredictionWarning({self.code!r}, {str(self)!r})"


def warning_code(warning: str) -> str:
    """The code of a warning (``other`` for a plain string)."""
    return getattr(warning, "code", OTHER)


def warning_codes(warnings: Iterable[str]) -> list[str]:
    """The codes of ``warnings``, in order."""
    return [warning_code(w) for w in warnings]


_REMEDY = "use a checkpoint trained on InterHand2.6M or `--fit keypoints`"


def model_warnings(training_data: TrainingData | None, unknown_because: str = "") -> list[PredictionWarning]:
    """The warnings every prediction of a model gets from what it was trained on.

    Args:
        training_data: the checkpoint's record (None: not recorded).
        unknown_because: for a None record, where the model came from and why nothing is known (appended).
    """
    out: list[PredictionWarning] = []
    if training_data is None:
        why = f" ({unknown_because})" if unknown_because else ""
        out.append(PredictionWarning(TRAINING_DATA_UNKNOWN, (
            f"training data unknown: nothing records what this model was trained on{why}; a model trained only on "
            f"synthetic images draws roughly the average hands on real photos; {_REMEDY}"
        )))  # fmt: skip
        return out
    if training_data.global_step == 0:
        out.append(PredictionWarning(UNTRAINED_MODEL, (
            "this model has not been trained (0 training steps: random initial weights); its meshes say nothing "
            "about the image"
        )))  # fmt: skip
    if training_data.synthetic:
        where = f" ({training_data.root})" if training_data.root else ""
        out.append(PredictionWarning(SYNTHETIC_TRAINING_DATA, (
            f"this model was trained only on synthetic images{where}; on real photos it may draw roughly the average "
            f"hands; {_REMEDY}"
        )))  # fmt: skip
    return out


def no_network_warning() -> PredictionWarning:
    """The warning of a predictor without a checkpoint (:meth:`eanet.inference.predictor.Predictor.without_network`)."""
    return PredictionWarning(NO_NETWORK, (
        "no network: the meshes are the hand model's mean pose fitted to MediaPipe's keypoints (see `fit` for how "
        "close each hand got); a hand that was not detected stays the mean hand at a guessed place"
    ))  # fmt: skip


def low_confidence_warning(
    confidence: float,
    agreement: Mapping[str, float],
    threshold: float,
    confidence_scale: float,
    detector_score: float | None = None,
) -> PredictionWarning | None:
    """A ``low_confidence`` warning when ``confidence < threshold`` (None otherwise).

    Args:
        confidence: the image's confidence (``ImagePrediction.confidence``).
        agreement: per hand, the mean 2D disagreement of the heatmap joints and the mesh's joints, as a fraction
            of the crop size (``HandResult.agreement``).
        threshold: ``inference.low_confidence``.
        confidence_scale: ``inference.confidence_scale`` (the disagreement at which a hand's confidence is 1/e).
        detector_score: the detector's score when it chose the crop (it multiplies the confidence).
    """
    if not confidence < threshold:
        return None
    import math

    hands = ", ".join(f"{side} {100 * value:.1f}%" for side, value in agreement.items())
    # The disagreement at which a hand's confidence reaches the threshold (confidence = exp(-agreement / scale)).
    limit = f"{100 * confidence_scale * math.log(1 / threshold):.1f}%" if threshold > 0 else "any"
    detector = f"; it includes the hand detector's score {detector_score:.2f}" if detector_score is not None else ""
    return PredictionWarning(LOW_CONFIDENCE, (
        f"low confidence {confidence:.2f} (below inference.low_confidence={threshold:g}): the network's two 2D "
        f"estimates of the joints, its heatmaps and its mesh, disagree by {hands} of the crop size on average (over "
        f"{limit} brings a hand under the threshold){detector}{_LOW_CONFIDENCE_CONSEQUENCE}"
    ))  # fmt: skip


#: How a ``low_confidence`` warning ends before any keypoint fit.
_LOW_CONFIDENCE_CONSEQUENCE = "; the meshes are probably wrong for this image"


def low_confidence_after_fit(warning: PredictionWarning, distances_px: Mapping[str, float]) -> PredictionWarning:
    """The ``low_confidence`` warning of a prediction whose hands were then fitted to detected keypoints.

    The confidence measures the network, not the fitted meshes: the warning keeps its number and code but says the
    network's meshes were the doubtful ones, which hands were fitted and how close (``distances_px``: per fitted
    hand, the mean keypoint distance after the fit).
    """
    fitted = ", ".join(f"{side} {dist:.1f} px" for side, dist in distances_px.items())
    text = str(warning).removesuffix(_LOW_CONFIDENCE_CONSEQUENCE)
    return PredictionWarning(LOW_CONFIDENCE, (
        f"{text}; the network's meshes were probably wrong for this image, and then fitted to MediaPipe's keypoints "
        f"(mean distance after the fit: {fitted}; see `fit`)"
    ))  # fmt: skip


def training_data_summary(training_data: TrainingData | None) -> dict[str, Any] | None:
    """The record as recorded in results (``model.training_data``), None when unknown."""
    return None if training_data is None else {**training_data.to_dict(), "description": training_data.describe()}
