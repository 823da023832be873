"""ONNX export of the whole EANet (image -> parameters, joints, vertices) and an ONNX Runtime model for inference.

    >>> from eanet.run_checkpoint import export_checkpoint
    >>> from eanet.inference.onnx_predictor import predictor_from_onnx
    >>> export_checkpoint("model.safetensors", "model.onnx", check=True)          # doctest: +SKIP
    >>> predictor = predictor_from_onnx("model.onnx")                               # doctest: +SKIP
    >>> result = predictor.predict("two_hands.png", cropped=True)                  # doctest: +SKIP

The ONNX file is one self-contained file (weights inside, no external data) with a dynamic batch axis. Its one
input is ``image`` ``(batch, 3, H, W)`` float32 RGB in ``[0, 1]``; its outputs are every field of
:class:`eanet.structures.HandPrediction` for each hand (``right_verts_cam``, ``left_pose_rotmat``, ...) and
``rel_trans``: see :data:`OUTPUT_NAMES` and ``docs/onnx.md``. The hand model is part of the graph, so the file
carries the hand model's arrays: an export made with MANO contains MANO data and must not be shared.

Importing this package is light: torch/onnx load in :mod:`.export`, onnxruntime in :mod:`.runtime`. The package knows
the ``model`` and ``hand_model`` configuration sections and the run configuration only as a plain dict; exporting a
checkpoint file (:func:`eanet.run_checkpoint.export_checkpoint`) and a predictor from an exported file
(:func:`eanet.inference.onnx_predictor.predictor_from_onnx`) live with the code that knows the whole ``Config``.
"""

from __future__ import annotations

from eanet.export_onnx.export import OnnxExportWrapper, compare_with_torch, export_onnx
from eanet.export_onnx.names import FORMAT, FORMAT_VERSION, HAND_FIELDS, OUTPUT_NAMES
from eanet.export_onnx.runtime import OnnxModel, read_onnx_metadata

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "HAND_FIELDS",
    "OUTPUT_NAMES",
    "OnnxExportWrapper",
    "export_onnx",
    "compare_with_torch",
    "OnnxModel",
    "read_onnx_metadata",
]

