"""Export an EANet (network and both hand-model layers) to one ONNX file, and check it against PyTorch.

The graph is traced by the dynamo-based exporter (``torch.onnx.export(..., dynamo=True)``) with a dynamic batch
axis and saved as one file (``external_data=False``; protobuf's 2 GiB limit is far above EANet's ~0.3 GB).

Why ``optimize=False``: the exporter's default ONNX optimisation pass removes the ``+ 1e-8`` that
:func:`eanet.geometry.axis_angle_to_rotmat` adds to the rotation vector before taking its norm (smplx's
``batch_rodrigues`` trick that makes a zero rotation come out as the identity). In the optimised graph a zero
axis-angle divides 0 by 0 and ONNX Runtime returns NaN vertices for any hand whose root or finger rotation is
exactly zero. The unoptimised graph keeps the addition; ONNX Runtime's own graph optimisations (applied when a
session is created) do not remove it, and ``tests/export_onnx`` checks a zero-rotation hand.

The file records (``metadata_props``) the resolved configuration, the hand model's kind, name and fingerprint and
the checkpoint's SHA-256, so :class:`eanet.export_onnx.runtime.OnnxModel` can rebuild the matching hand model and
refuse a different one.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from eanet.errors import InvalidInputError
from eanet.export_onnx.names import BATCH_DIM, FORMAT, FORMAT_VERSION, HAND_FIELDS, INPUT_NAME, OUTPUT_NAMES
from eanet.export_onnx.runtime import OnnxModel
from eanet.hand_model.config import HandModelConfig
from eanet.model.checkpoint import check_run_config_sections, hand_model_fingerprint
from eanet.model.config import ModelConfig
from eanet.model.provenance import METADATA_KEY, TrainingData
from eanet.version import __version__

if TYPE_CHECKING:
    from eanet.model.eanet import EANet

__all__ = [
    "OnnxExportWrapper",
    "ParityReport",
    "LatencyReport",
    "export_onnx",
    "compare_with_torch",
    "benchmark_latency",
]

logger = logging.getLogger(__name__)

#: Outputs whose differences are reported as vertex / joint errors (metres).
_VERTEX_OUTPUTS = ("right_verts_cam", "left_verts_cam")
_JOINT_OUTPUTS = ("right_joints_cam", "left_joints_cam")


class OnnxExportWrapper(nn.Module):
    """The model with a flat tuple output (ONNX graphs return tensors, not dataclasses).

    Args:
        model: an :class:`~eanet.model.eanet.EANet` with its hand-model layers.

    ``forward(image)`` with ``image`` ``(B, 3, H, W)`` returns the tensors named by
    :data:`~eanet.export_onnx.names.OUTPUT_NAMES`, in that order.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: Tensor) -> tuple[Tensor, ...]:
        pred = self.model(image)
        outputs = [getattr(hand, name) for _, hand in pred.hands() for name in HAND_FIELDS]
        outputs.append(pred.rel_trans)
        return tuple(outputs)


def _metadata(
    model: EANet,
    hand_model_cfg: HandModelConfig,
    run_config: dict[str, Any],
    checkpoint_sha256: str,
    checkpoint_name: str,
    opset: int,
) -> dict[str, str]:
    right, left = model.hand_models["right"], model.hand_models["left"]
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "eanet_version": __version__,
        "torch_version": torch.__version__,
        "opset": str(opset),
        "config": json.dumps(run_config, sort_keys=True),
        "input_name": INPUT_NAME,
        "input_size_hw": ",".join(str(s) for s in model.input_size),
        "outputs": ",".join(OUTPUT_NAMES),
        "hand_model_kind": hand_model_cfg.kind,
        "hand_model_name": str(getattr(right, "name", "")),
        "hand_model_fingerprint": hand_model_fingerprint(right, left),
        # MANO's license forbids redistributing its data; the graph holds the hand model's arrays as constants.
        "contains_mano_data": "true" if getattr(right, "is_mano", False) else "false",
        "checkpoint_sha256": checkpoint_sha256,
        "checkpoint_file": checkpoint_name,
    }


def export_onnx(
    model: EANet,
    model_cfg: ModelConfig,
    hand_model_cfg: HandModelConfig,
    run_config: dict[str, Any],
    path: str | Path,
    *,
    opset: int | None = None,
    checkpoint_sha256: str = "",
    checkpoint_name: str = "",
    example_batch: int = 2,
    training_data: TrainingData | None = None,
) -> dict[str, str]:
    """Export ``model`` to one ONNX file with a dynamic batch axis.

    Args:
        model: an :class:`~eanet.model.eanet.EANet` with hand-model layers (moved to the CPU in eval mode for
            the trace).
        model_cfg: the architecture the model was built from.
        hand_model_cfg: its hand model.
        run_config: the resolved run configuration as a plain dict (``eanet.config.config_to_dict(cfg)``;
            recorded; its ``model`` and ``hand_model`` sections must be ``model_cfg`` and ``hand_model_cfg``).
        path: output ``.onnx`` file (written atomically: a temporary file next to it, then renamed).
        opset: ONNX opset (default: the exporter's, 20 with torch 2.14).
        checkpoint_sha256: SHA-256 of the checkpoint the weights came from (recorded).
        checkpoint_name: the checkpoint's file name (recorded; no directory).
        example_batch: batch size of the example input traced (not 1: torch.export specialises size-1 axes).
        training_data: what the weights were trained on (recorded as ``training_data``; predictions made with the
            file warn from it, or say "training data unknown" without it).

    Returns:
        The metadata written into the file.
    """
    if getattr(model, "hand_models", None) is None:
        raise InvalidInputError("the model has no hand-model layers; build it with build_model() or load_model()")
    if tuple(model.input_size) != tuple(model_cfg.input_size):
        raise InvalidInputError(
            f"the model's input size {model.input_size} differs from model_cfg.input_size {model_cfg.input_size}; "
            "pass the configuration the model was built from"
        )
    check_run_config_sections(run_config, model=model_cfg, hand_model=hand_model_cfg)
    if example_batch < 2:
        raise InvalidInputError("example_batch must be at least 2 (a size-1 axis would be traced as a constant)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.to("cpu").eval()
    wrapper = OnnxExportWrapper(model).eval()
    H, W = model.input_size
    example = torch.rand(example_batch, 3, H, W, generator=torch.Generator().manual_seed(0))  # (B, 3, H, W)
    batch = torch.export.Dim(BATCH_DIM, min=1)
    t0 = time.perf_counter()
    with torch.no_grad():
        program = torch.onnx.export(
            wrapper,
            (example,),
            dynamo=True,
            external_data=False,
            optimize=False,  # the default optimisation drops Rodrigues' epsilon (see the module docstring)
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=list(OUTPUT_NAMES),
            dynamic_shapes={"image": {0: batch}},
            verbose=False,
        )
    used_opset = int(program.model.opset_imports.get("", opset or 0))
    metadata = _metadata(model, hand_model_cfg, run_config, checkpoint_sha256, checkpoint_name, used_opset)
    if training_data is not None:
        metadata[METADATA_KEY] = training_data.to_json()
    program.model.metadata_props.update(metadata)
    program.model.doc_string = (
        f"EANet two-hand mesh recovery (eanet {metadata['eanet_version']}): input {INPUT_NAME} (batch, 3, {H}, {W}) "
        "float32 RGB in [0, 1]; outputs per hand and rel_trans (see docs/onnx.md)."
    )
    _check_signature(program.model)
    tmp = path.with_name(path.name + ".tmp")
    try:
        program.save(str(tmp), external_data=False)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info(
        "exported %s (opset %d, %.1f MB) in %.0f s", path, used_opset, path.stat().st_size / 1e6, time.perf_counter() - t0
    )
    if metadata["contains_mano_data"] == "true":
        logger.warning(
            "%s contains MANO data (the hand model is part of the graph): MANO's license does not allow sharing it", path
        )
    return metadata


def _check_signature(model: Any) -> None:
    """The graph has our input and output names and a named dynamic batch axis on each (an ``onnx_ir`` model)."""
    inputs = [v.name for v in model.graph.inputs]
    outputs = [v.name for v in model.graph.outputs]
    if inputs != [INPUT_NAME] or outputs != list(OUTPUT_NAMES):
        raise RuntimeError(f"exported graph has inputs {inputs} and outputs {outputs}, expected {OUTPUT_NAMES}")
    for value in (*model.graph.inputs, *model.graph.outputs):
        first = value.shape[0] if value.shape is not None else None
        if str(first) != BATCH_DIM:
            raise RuntimeError(f"exported graph value {value.name} has a fixed first axis {first}, not {BATCH_DIM!r}")


@dataclass
class ParityReport:
    """Largest absolute differences between ONNX Runtime and PyTorch on the same random inputs.

    Attributes:
        batch_sizes: the batch sizes run through the same ONNX file.
        max_abs_diff: per output name, the maximum over all batch sizes.
        non_finite: output names where either side gave NaN/inf (where the other did not).
        seconds: wall time of the comparison.
    """

    batch_sizes: tuple[int, ...]
    max_abs_diff: dict[str, float] = field(default_factory=dict)
    non_finite: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def max_vertex_diff_m(self) -> float:
        return max(self.max_abs_diff[k] for k in _VERTEX_OUTPUTS)

    @property
    def max_joint_diff_m(self) -> float:
        return max(self.max_abs_diff[k] for k in _JOINT_OUTPUTS)

    def passed(self, tolerance_m: float = 1e-4) -> bool:
        """Vertices and joints agree to ``tolerance_m`` metres and nothing is non-finite on one side only."""
        return not self.non_finite and self.max_vertex_diff_m <= tolerance_m and self.max_joint_diff_m <= tolerance_m

    def lines(self) -> list[str]:
        """Human-readable summary, one output per line."""
        width = max(len(k) for k in self.max_abs_diff)
        out = [f"ONNX Runtime vs PyTorch, batch sizes {list(self.batch_sizes)}: max |difference|"]
        out += [f"  {k:<{width}}  {v:.3e}" for k, v in self.max_abs_diff.items()]
        out.append(f"  vertices {self.max_vertex_diff_m:.3e} m, joints {self.max_joint_diff_m:.3e} m")
        if self.non_finite:
            out.append(f"  NON-FINITE on one side only: {', '.join(self.non_finite)}")
        return out


def compare_with_torch(
    model: nn.Module,
    onnx_model: Any,
    batch_sizes: Sequence[int] = (1, 2),
    *,
    images: Sequence[Tensor] | None = None,
    seed: int = 0,
) -> ParityReport:
    """Run the same images through PyTorch and an ONNX file; report the largest differences per output.

    Args:
        model: the PyTorch model (``img -> TwoHandPrediction``), run on the CPU.
        onnx_model: an :class:`~eanet.export_onnx.runtime.OnnxModel` or a path to the ``.onnx`` file.
        batch_sizes: random batches of these sizes (uniform in ``[0, 1]``) are compared.
        images: explicit ``(B, 3, H, W)`` batches instead of random ones.
        seed: of the random batches.
    """
    if not isinstance(onnx_model, OnnxModel):
        onnx_model = OnnxModel(onnx_model)
    t0 = time.perf_counter()
    wrapper = OnnxExportWrapper(model).eval()
    if images is None:
        H, W = onnx_model.input_size
        g = torch.Generator().manual_seed(seed)
        images = [torch.rand(b, 3, H, W, generator=g) for b in batch_sizes]  # (B, 3, H, W) each
    report = ParityReport(batch_sizes=tuple(int(x.shape[0]) for x in images))
    for x in images:
        with torch.no_grad():
            ref = wrapper(x.to(torch.float32))
        got = onnx_model.run_arrays(x.numpy())
        for name, r in zip(OUTPUT_NAMES, ref, strict=True):
            r = r.numpy()
            o = got[name]
            if o.shape != r.shape:
                raise RuntimeError(f"{name}: ONNX shape {o.shape} != PyTorch shape {r.shape}")
            if (np.isfinite(o) != np.isfinite(r)).any() and name not in report.non_finite:
                report.non_finite.append(name)
            both = np.isfinite(o) & np.isfinite(r)
            diff = float(np.abs(o[both] - r[both]).max()) if both.any() else 0.0
            report.max_abs_diff[name] = max(diff, report.max_abs_diff.get(name, 0.0))
    report.seconds = time.perf_counter() - t0
    return report


@dataclass
class LatencyReport:
    """Per-call latency (milliseconds) of PyTorch and ONNX Runtime on the CPU, measured interleaved.

    Attributes:
        batch_size, repeats, threads: the setting.
        torch_ms, onnxruntime_ms: every timed call.
    """

    batch_size: int
    repeats: int
    threads: int
    torch_ms: list[float] = field(default_factory=list)
    onnxruntime_ms: list[float] = field(default_factory=list)

    def line(self) -> str:
        t, o = float(np.median(self.torch_ms)), float(np.median(self.onnxruntime_ms))
        return (
            f"CPU latency at batch {self.batch_size}, {self.threads} thread(s), median of {self.repeats}: PyTorch "
            f"{t:.0f} ms (min {min(self.torch_ms):.0f}), ONNX Runtime {o:.0f} ms (min {min(self.onnxruntime_ms):.0f}); "
            f"ratio {t / o:.2f}"
        )


def benchmark_latency(
    model: nn.Module, onnx_path: str | Path, *, batch_size: int = 1, repeats: int = 10, threads: int | None = None
) -> LatencyReport:
    """Time PyTorch (``inference_mode``) and ONNX Runtime on the same random batch, alternating calls so both see
    the same machine load; one warm-up call each. ``threads`` (default: torch's current count) is used by both."""
    threads = int(threads or torch.get_num_threads())
    onnx_model = OnnxModel(onnx_path, num_threads=threads)
    H, W = onnx_model.input_size
    x = torch.rand(batch_size, 3, H, W, generator=torch.Generator().manual_seed(0))  # (B, 3, H, W)
    report = LatencyReport(batch_size, repeats, threads)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    model = model.to("cpu").eval()
    try:
        with torch.inference_mode():
            model(x)
            onnx_model(x)
            for _ in range(repeats):
                t0 = time.perf_counter()
                model(x)
                t1 = time.perf_counter()
                onnx_model(x)
                t2 = time.perf_counter()
                report.torch_ms.append((t1 - t0) * 1e3)
                report.onnxruntime_ms.append((t2 - t1) * 1e3)
    finally:
        torch.set_num_threads(before)
    return report
