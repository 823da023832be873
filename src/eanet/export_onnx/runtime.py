"""Run an exported EANet with ONNX Runtime, standing in for the PyTorch model inside the :class:`Predictor`.

:class:`OnnxModel` has the model's calling contract (``(B, 3, H, W) float tensor in [0, 1] -> TwoHandPrediction``,
``input_size``, ``feature_grid``), which is the seam :class:`eanet.inference.predictor.Predictor` runs through.
:func:`eanet.inference.onnx_predictor.predictor_from_onnx` builds the hand model recorded in the file (needed for
faces and the mean pose of the exports), checks it is the one the graph was exported with, and returns a ready
predictor.

Only ``onnxruntime`` is needed here (not ``onnx`` or ``onnxscript``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from eanet.config_dict import section_from_dict
from eanet.errors import InvalidInputError, MissingFileError, UserError
from eanet.export_onnx.names import FORMAT, FORMAT_VERSION, HAND_FIELDS, INPUT_NAME, OUTPUT_NAMES, output_name
from eanet.hand_model.config import HandModelConfig
from eanet.hand_model.skeleton import HANDS
from eanet.model.checkpoint import check_hand_model_fingerprint
from eanet.model.config import ModelConfig
from eanet.structures import HandPrediction, TwoHandPrediction

__all__ = ["OnnxModel", "read_onnx_metadata"]

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
        run_config: the resolved run configuration recorded at export, as a plain dict
            (``eanet.config.config_from_dict`` makes it a ``Config``).
        model_config, hand_model_config: its ``model`` and ``hand_model`` sections.
        input_size: ``(H, W)``; feature_grid: ``(h, w)`` of the heatmap.
        hand_model_kind, hand_model_fingerprint: of the hand model inside the graph.
    """

    def __init__(self, path: str | Path, *, providers: Sequence[str] | None = None, num_threads: int | None = None):
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
        self.run_config: dict[str, Any] = json.loads(self.metadata["config"])
        # A section the record lacks has its defaults, as everywhere in the configuration system.
        self.model_config: ModelConfig = section_from_dict(ModelConfig, self.run_config.get("model", {}), "model")
        self.hand_model_config: HandModelConfig = section_from_dict(
            HandModelConfig, self.run_config.get("hand_model", {}), "hand_model"
        )
        self.input_size: tuple[int, int] = tuple(int(s) for s in self.model_config.input_size)  # type: ignore[assignment]
        self.feature_grid: tuple[int, int] = self.model_config.feature_grid
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
        check_hand_model_fingerprint(
            self.hand_model_fingerprint, right, left, source=self.path, made="exported", kind=self.hand_model_kind,
            name=self.metadata.get("hand_model_name", ""),
        )  # fmt: skip

