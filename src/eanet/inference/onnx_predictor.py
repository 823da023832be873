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

from eanet.config import config_from_dict
from eanet.errors import CheckpointMismatchError, InvalidInputError
from eanet.export_onnx.runtime import OnnxModel
from eanet.hand_model import build_hand_models
from eanet.hand_model.config import HandModelConfig
from eanet.inference.config import InferenceConfig
from eanet.inference.detect import HandDetector
from eanet.inference.predictor import Predictor
from eanet.model.provenance import TrainingData

__all__ = ["predictor_from_onnx"]

#: Settings of the hand model that change what the exported vertices mean (as for checkpoints).
_HAND_MODEL_FIELDS = ("kind", "flat_hand_mean", "fingertip_vertices")


def _hand_model_cfg(
    recorded: HandModelConfig, hand_model_cfg: HandModelConfig | None, mano_dir: str | Path | None, path: Path
) -> HandModelConfig:
    if hand_model_cfg is not None and mano_dir is not None:
        raise InvalidInputError("pass either mano_dir or hand_model_cfg, not both")
    if hand_model_cfg is None:
        if mano_dir is None:
            # The exporting machine's MANO directory means nothing here: $EANET_MANO_DIR or an explicit one.
            return dataclasses.replace(recorded, mano_dir=None)
        if recorded.kind != "mano":
            raise CheckpointMismatchError(f"{path} was exported with the {recorded.kind!r} hand model, not MANO")
        return dataclasses.replace(recorded, mano_dir=str(mano_dir))
    differences = [
        f"{name}: exported with {getattr(recorded, name)!r}, given {getattr(hand_model_cfg, name)!r}"
        for name in _HAND_MODEL_FIELDS
        if getattr(recorded, name) != getattr(hand_model_cfg, name)
    ]
    if differences:
        raise CheckpointMismatchError(f"{path} was exported with a different hand model ({'; '.join(differences)})")
    return hand_model_cfg


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
    recorded = config_from_dict(model.run_config)
    if hand_models is None:
        hand_models = build_hand_models(_hand_model_cfg(recorded.hand_model, hand_model_cfg, mano_dir, model.path))
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
