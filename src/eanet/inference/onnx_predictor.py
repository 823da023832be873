"""A :class:`~eanet.inference.predictor.Predictor` whose network is an exported ONNX file run by ONNX Runtime.

    >>> from eanet.inference.onnx_predictor import predictor_from_onnx
    >>> predictor = predictor_from_onnx("model.onnx")                               # doctest: +SKIP
    >>> result = predictor.predict("two_hands.png", cropped=True)                  # doctest: +SKIP

:func:`predictor_from_onnx` builds the hand model recorded in the file (needed for faces and the mean pose of the
exports), checks it is the one the graph was exported with (:class:`eanet.export_onnx.runtime.OnnxModel`), and
returns a ready predictor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from eanet.config import config_from_recorded_dict
from eanet.export_onnx.runtime import OnnxModel
from eanet.hand_model import build_hand_models
from eanet.hand_model.config import HandModelConfig, resolve_recorded_hand_model
from eanet.inference.config import InferenceConfig
from eanet.inference.detect import HandDetector
from eanet.inference.predictor import Predictor
from eanet.model.provenance import TrainingData

__all__ = ["predictor_from_onnx"]

def predictor_from_onnx(
    path: str | Path,
    *,
    config: InferenceConfig | None = None,
    mano_dir: str | Path | None = None,
    hand_model_cfg: HandModelConfig | None = None,
    detector: HandDetector | None = None,
    providers: Sequence[str] | None = None,
    num_threads: int | None = None,
    hand_models: tuple[nn.Module, nn.Module] | None = None,
) -> Predictor:
    """A :class:`~eanet.inference.predictor.Predictor` whose network is the ONNX file (run by ONNX Runtime).

    Args:
        path: the ``.onnx`` file.
        config: inference settings (default: the ``inference`` section recorded at export).
        mano_dir: MANO directory for files exported with MANO (default ``$EANET_MANO_DIR``).
        hand_model_cfg: a full hand-model configuration instead (must match the recorded one).
        detector: hand detector for images without a box (default: the predictor's).
        providers, num_threads: see :class:`OnnxModel`.
        hand_models: ready ``(right, left)`` layers instead of building them (still fingerprint-checked).

    Raises:
        CheckpointMismatchError: the hand model found is not the one inside the graph.
    """
    model = OnnxModel(path, providers=providers, num_threads=num_threads)
    # Older exports may record data.input_size/heatmap_shape (now the model's alone).
    recorded = config_from_recorded_dict(model.run_config)
    if hand_models is None:
        # The exporting machine's MANO directory means nothing here: $EANET_MANO_DIR or an explicit one.
        recorded_hand_model = dataclasses.replace(recorded.hand_model, mano_dir=None)
        hand_cfg = resolve_recorded_hand_model(recorded_hand_model, hand_model_cfg, mano_dir, source=model.path,
                                               made="exported")  # fmt: skip
        hand_models = build_hand_models(hand_cfg)
    model.check_hand_models(*hand_models)
    info: dict[str, Any] = {
        "backend": "onnxruntime",
        "onnx_file": model.path.name,
        "checkpoint_file": model.metadata.get("checkpoint_file", ""),
        "checkpoint_sha256": model.metadata.get("checkpoint_sha256", ""),
    }
    training_data = TrainingData.from_metadata(model.metadata, str(model.path))
    return Predictor(
        model,
        hand_models,
        config=config if config is not None else recorded.inference,
        device="cpu",
        input_size=model.input_size,
        feature_grid=model.feature_grid,
        detector=detector,
        model_info=info,
        hand_model_kind=model.hand_model_kind,
        training_data=training_data,
        training_data_unknown_because=f"{model.path.name} was exported by an older eanet or from a checkpoint without it",
    )
