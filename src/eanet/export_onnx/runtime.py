"""Run an exported EANet with ONNX Runtime, standing in for the PyTorch model inside the :class:`Predictor`.

:class:`OnnxModel` has the model's calling contract (``(B, 3, H, W) float tensor in [0, 1] -> TwoHandPrediction``,
``input_size``, ``feature_grid``), which is the seam :class:`eanet.inference.predictor.Predictor` runs through.
:func:`predictor_from_onnx` builds the hand model recorded in the file (needed for faces and the mean pose of the
exports), checks it is the one the graph was exported with, and returns a ready predictor.

Only ``onnxruntime`` is needed here (not ``onnx`` or ``onnxscript``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from eanet.errors import InvalidInputError, MissingFileError, UserError
from eanet.export_onnx.names import FORMAT, FORMAT_VERSION, HAND_FIELDS, INPUT_NAME, OUTPUT_NAMES, output_name
from eanet.hand_model.config import resolve_recorded_hand_model
from eanet.hand_model.skeleton import HANDS
from eanet.structures import HandPrediction, TwoHandPrediction

if TYPE_CHECKING:
    from eanet.config import Config
    from eanet.hand_model.config import HandModelConfig
    from eanet.inference.config import InferenceConfig
    from eanet.inference.detect import HandDetector
    from eanet.inference.predictor import Predictor

__all__ = ["OnnxModel", "read_onnx_metadata", "predictor_from_onnx"]

logger = logging.getLogger(__name__)

def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError as err:
        raise UserError("ONNX Runtime is not installed: pip install onnxruntime (or eanet[onnx])") from err
    return onnxruntime


def _session(path: Path, providers: Sequence[str] | None, num_threads: int | None, optimize: bool = True):
    ort = _import_onnxruntime()
    if not path.is_file():
        raise MissingFileError(f"ONNX file {str(path)!r} does not exist; make one with `eanet export`")
    options = ort.SessionOptions()
    if num_threads:
        options.intra_op_num_threads = int(num_threads)
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3  # errors only: ORT warns about every unused initializer of a traced graph
    try:
        return ort.InferenceSession(str(path), options, providers=list(providers or ["CPUExecutionProvider"]))
    except Exception as err:  # onnxruntime raises its own pybind exception types (InvalidProtobuf, Fail, ...)
        raise InvalidInputError(f"{path} is not a readable ONNX file: {err}") from err


def _check_metadata(path: Path, meta: dict[str, str]) -> None:
    if meta.get("format") != FORMAT:
        raise InvalidInputError(
            f"{path} is an ONNX file but not an eanet export (no format={FORMAT!r} metadata); export one with "
            "`eanet export --checkpoint CKPT --out model.onnx`"
        )
    if meta.get("format_version") != FORMAT_VERSION:
        raise InvalidInputError(
            f"{path} has eanet ONNX format version {meta.get('format_version')!r}; this eanet reads version "
            f"{FORMAT_VERSION}: export it again with this version"
        )


def read_onnx_metadata(path: str | Path) -> dict[str, str]:
    """The ``metadata_props`` of an eanet ONNX file (format checked)."""
    path = Path(path)
    meta = dict(_session(path, None, 1, optimize=False).get_modelmeta().custom_metadata_map)
    _check_metadata(path, meta)
    return meta


class OnnxModel:
    """An exported EANet run by ONNX Runtime, called like the PyTorch model.

    Args:
        path: ``.onnx`` file written by :func:`eanet.export_onnx.export_onnx` / ``eanet export``.
        providers: ONNX Runtime execution providers (default CPU only).
        num_threads: intra-op threads (default: ONNX Runtime's, one per physical core).

    Attributes:
        path: the file.
        metadata: its ``metadata_props`` (configuration, hand model, checkpoint hash).
        config: the resolved :class:`~eanet.config.Config` recorded at export.
        input_size: ``(H, W)``; feature_grid: ``(h, w)`` of the heatmap.
        hand_model_kind, hand_model_fingerprint: of the hand model inside the graph.
    """

    def __init__(self, path: str | Path, *, providers: Sequence[str] | None = None, num_threads: int | None = None):
        from eanet.config import config_from_recorded_dict

        self.path = Path(path)
        self.session = _session(self.path, providers, num_threads)
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        _check_metadata(self.path, self.metadata)
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        if inputs != [INPUT_NAME] or outputs != list(OUTPUT_NAMES):
            raise InvalidInputError(
                f"{self.path}: graph inputs {inputs} / outputs {outputs} are not those of format version "
                f"{FORMAT_VERSION}; the file was edited or is damaged"
            )
        # Older exports may record data.input_size/heatmap_shape (now the model's alone).
        self.config: Config = config_from_recorded_dict(json.loads(self.metadata["config"]))
        self.input_size: tuple[int, int] = tuple(int(s) for s in self.config.model.input_size)  # type: ignore[assignment]
        self.feature_grid: tuple[int, int] = self.config.model.feature_grid
        self.hand_model_kind = self.metadata.get("hand_model_kind", "")
        self.hand_model_fingerprint = self.metadata.get("hand_model_fingerprint", "")

    def __repr__(self) -> str:
        return f"OnnxModel({str(self.path)!r}, input_size={self.input_size}, hand_model={self.hand_model_kind!r})"

    def run_arrays(self, image: np.ndarray) -> dict[str, np.ndarray]:
        """``(B, 3, H, W)`` float RGB in ``[0, 1]`` -> every graph output by name (float32 NumPy arrays)."""
        image = np.ascontiguousarray(image, dtype=np.float32)
        if image.ndim != 4 or image.shape[1] != 3 or tuple(image.shape[2:]) != self.input_size or image.shape[0] < 1:
            raise InvalidInputError(
                f"expected an image batch of shape (B, 3, {self.input_size[0]}, {self.input_size[1]}), got "
                f"{tuple(image.shape)}"
            )
        values = self.session.run(list(OUTPUT_NAMES), {INPUT_NAME: image})
        return dict(zip(OUTPUT_NAMES, values, strict=True))

    def __call__(self, img: Tensor | np.ndarray) -> TwoHandPrediction:
        """Predict both hands, like :meth:`eanet.model.eanet.EANet.forward` (outputs on ``img``'s device)."""
        device = img.device if isinstance(img, Tensor) else torch.device("cpu")
        array = img.detach().to("cpu", torch.float32).numpy() if isinstance(img, Tensor) else img
        out = {k: torch.from_numpy(v).to(device) for k, v in self.run_arrays(array).items()}
        hands = {side: HandPrediction(**{f: out[output_name(side, f)] for f in HAND_FIELDS}) for side in HANDS}
        return TwoHandPrediction(right=hands["right"], left=hands["left"], rel_trans=out["rel_trans"])

    def check_hand_models(self, right: torch.nn.Module, left: torch.nn.Module) -> None:
        """Raise :class:`CheckpointMismatchError` unless these layers are the hand model inside the graph."""
        from eanet.model.checkpoint import check_hand_model_fingerprint

        check_hand_model_fingerprint(
            self.hand_model_fingerprint, right, left, source=self.path, made="exported", kind=self.hand_model_kind,
            name=self.metadata.get("hand_model_name", ""),
        )  # fmt: skip


def predictor_from_onnx(
    path: str | Path,
    *,
    config: InferenceConfig | None = None,
    mano_dir: str | Path | None = None,
    hand_model_cfg: HandModelConfig | None = None,
    detector: HandDetector | None = None,
    providers: Sequence[str] | None = None,
    num_threads: int | None = None,
    hand_models: tuple[torch.nn.Module, torch.nn.Module] | None = None,
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
    from eanet.inference.predictor import Predictor

    model = OnnxModel(path, providers=providers, num_threads=num_threads)
    if hand_models is None:
        from eanet.hand_model import build_hand_models

        # The exporting machine's MANO directory means nothing here: $EANET_MANO_DIR or an explicit one.
        recorded = dataclasses.replace(model.config.hand_model, mano_dir=None)
        hand_cfg = resolve_recorded_hand_model(recorded, hand_model_cfg, mano_dir, source=model.path, made="exported")
        hand_models = build_hand_models(hand_cfg)
    model.check_hand_models(*hand_models)
    info: dict[str, Any] = {
        "backend": "onnxruntime",
        "onnx_file": model.path.name,
        "checkpoint_file": model.metadata.get("checkpoint_file", ""),
        "checkpoint_sha256": model.metadata.get("checkpoint_sha256", ""),
    }
    from eanet.model.provenance import TrainingData

    training_data = TrainingData.from_metadata(model.metadata, str(model.path))
    return Predictor(
        model,
        hand_models,
        config=config if config is not None else model.config.inference,
        device="cpu",
        input_size=model.input_size,
        feature_grid=model.feature_grid,
        detector=detector,
        model_info=info,
        hand_model_kind=model.hand_model_kind,
        training_data=training_data,
        training_data_unknown_because=f"{model.path.name} was exported by an older eanet or from a checkpoint without it",
    )
