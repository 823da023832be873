"""Inference: the :class:`Predictor` (images -> both hands in the original camera frame), hand detection, video
with temporal smoothing, exports (JSON, OBJ, PLY, GLB) and renders. See ``docs/inference.md``.

    >>> from eanet.inference import Predictor
    >>> with Predictor.from_checkpoint("model.safetensors") as predictor:
    ...     result = predictor.predict("two_hands.png", cropped=True)

Importing this package is light; torch loads with the predictor.
"""

from __future__ import annotations

from eanet._lazy import lazy_exports
from eanet.inference.config import FitConfig, InferenceConfig

__all__ = [
    "InferenceConfig",
    "FitConfig",
    "Predictor",
    "ImagePrediction",
    "HandResult",
    "FailedPrediction",
    "MediaPipeHandDetector",
    "OneEuroFilter",
    "predict_inputs",
]

# Lazy: `eanet.config` imports eanet.inference.config, which runs this file, and a configuration must load and be
# checked (`eanet configs`, every command's config errors) without waiting for torch: these names are imported on
# first use.
_LAZY = {
    "Predictor": "eanet.inference.predictor",
    "ImagePrediction": "eanet.inference.result",
    "HandResult": "eanet.inference.result",
    "FailedPrediction": "eanet.inference.result",
    "MediaPipeHandDetector": "eanet.inference.detect",
    "OneEuroFilter": "eanet.inference.smoothing",
    "predict_inputs": "eanet.inference.runner",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
