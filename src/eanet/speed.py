"""Fast inference paths behind one configuration: precision, memory layout, compilation, CUDA graphs, ONNX Runtime.

    >>> from eanet.speed import preset
    >>> from eanet.inference.fast import apply_speed_options
    >>> fast = apply_speed_options(model, preset("gpu-throughput"), device="cuda")  # doctest: +SKIP
    >>> pred = fast(img)  # same contract as EANet.forward: (B, 3, H, W) in [0, 1] -> TwoHandPrediction (fp32)

    >>> from eanet.inference import Predictor                                           # doctest: +SKIP
    >>> predictor = Predictor(fast, (model.hand_models["right"], model.hand_models["left"]), device="cuda")

The exact fp32 PyTorch path (``SpeedConfig()``, preset ``reference``) stays the reference: every other path is
measured against it (``eanet bench``, ``tests/test_speed_agreement.py``). Three agreement classes:

* ``fp32`` paths (ONNX Runtime fp32, folded BatchNorm, channels-last, ``torch.compile``, CUDA graphs in fp32):
  joints, vertices and ``rel_trans`` within 1e-4 m of the reference.
* ``reduced`` paths (bf16 autocast, bf16 weights, TF32): mean joint difference <= 0.5 mm, max vertex
  difference <= 2 mm. The precision-sensitive ends of the network (heatmap convolution, pose/shape/camera/
  translation regressors: <0.1 % of the arithmetic), the rotation conversions and the hand-model layer always run
  in fp32.
* ``int8`` (ONNX Runtime dynamic int8 of the transformer matrix products, CPU): a separate, clearly labelled path
  whose agreement is measured and reported, not held to either bound.

This module is light (no torch import): configurations load without it. The machinery (:func:`apply_speed_options`,
:class:`SpeedModel`, ...) is in :mod:`eanet.inference.fast`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "SpeedConfig",
    "PRESETS",
    "preset",
    "agreement_class",
]

#: ``torch``: PyTorch (CPU or CUDA). ``onnxruntime``: an ``eanet export`` ONNX file run by ONNX Runtime (CPU).
Backend = Literal["torch", "onnxruntime"]
#: ``fp32``: exact reference arithmetic (on CUDA with TF32 switched off). ``tf32``: CUDA matrix products and
#: convolutions in TF32. ``bf16-autocast``: fp32 weights, bf16 autocast. ``bf16``: bf16 weights (no per-call weight
#: casts) under bf16 autocast. ``int8-dynamic``: ONNX Runtime only, int8 transformer matrix products.
Precision = Literal["fp32", "tf32", "bf16-autocast", "bf16", "int8-dynamic"]
#: ``torch.compile`` mode (``none``: eager). ``reduce-overhead`` and ``max-autotune`` use CUDA graphs themselves.
CompileMode = Literal["none", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"]


@dataclass(frozen=True)
class SpeedConfig:
    """How the network runs at inference. The defaults are the exact fp32 eager reference."""

    #: ``torch`` or ``onnxruntime`` (CPU; runs ``onnx_path``, or exports the model to a temporary file first).
    backend: Backend = "torch"
    #: Arithmetic: ``fp32`` (reference), ``tf32`` (CUDA), ``bf16-autocast``, ``bf16`` (bf16 weights + autocast),
    #: ``int8-dynamic`` (ONNX Runtime; a separately measured path, see the module docstring).
    precision: Precision = "fp32"
    #: Channels-last memory layout for the convolutional trunk (pays off with bf16 on tensor-core GPUs).
    channels_last: bool = False
    #: Fold every BatchNorm into the convolution before it (eval only; the same function within fp32 rounding).
    fold_batchnorm: bool = False
    #: ``torch.compile`` mode of the whole forward pass (network, rotation conversions and hand-model layer).
    compile: CompileMode = "none"
    #: Capture the forward pass once per size in ``graph_batch_sizes`` and replay it (CUDA only); batches are
    #: padded up to the next captured size, larger ones are split.
    cuda_graphs: bool = False
    #: Batch sizes captured by ``cuda_graphs`` (and the sizes batches are padded to under ``compile``, so that the
    #: compiled graph is not re-specialised for every batch size).
    graph_batch_sizes: tuple[int, ...] = (1, 8, 32, 128)
    #: CPU intra-op threads (PyTorch and ONNX Runtime); null: leave the library default.
    num_threads: int | None = None
    #: ONNX Runtime's worker threads spin while waiting for work. Off (the default here, not ONNX Runtime's): on a
    #: machine whose cores are shared with other work, spinning threads wait for descheduled peers and a 2-thread
    #: session ran 3-4x slower than a 1-thread one (docs/speed.md); on an idle dedicated machine spinning saves a
    #: little latency. (PyTorch's OpenMP threads have the same choice, made by the environment variable
    #: ``OMP_WAIT_POLICY=PASSIVE`` before torch is imported.)
    ort_spin_wait: bool = False
    #: ``onnxruntime``: an ``eanet export`` file of the same checkpoint (an int8 copy is made beside it in a
    #: temporary folder for ``int8-dynamic``); null: export the model to a temporary file (about a minute).
    onnx_path: str | None = None

    def __post_init__(self) -> None:
        if self.backend == "onnxruntime":
            if self.precision not in ("fp32", "int8-dynamic"):
                raise ValueError(
                    f"precision {self.precision!r} is not available with backend onnxruntime; use fp32 or int8-dynamic"
                )
            torch_only = [
                name
                for name, on in (
                    ("channels_last", self.channels_last),
                    ("fold_batchnorm", self.fold_batchnorm),
                    ("compile", self.compile != "none"),
                    ("cuda_graphs", self.cuda_graphs),
                )
                if on
            ]
            if torch_only:
                raise ValueError(
                    f"{', '.join(torch_only)} apply to backend torch only (ONNX Runtime optimises the graph itself)"
                )
        elif self.precision == "int8-dynamic":
            raise ValueError("precision int8-dynamic needs backend onnxruntime (ONNX Runtime's dynamic quantisation)")
        if self.cuda_graphs and self.compile in ("reduce-overhead", "max-autotune"):
            raise ValueError(
                f"compile mode {self.compile!r} already uses CUDA graphs; set cuda_graphs false or use compile "
                "max-autotune-no-cudagraphs"
            )
        sizes = tuple(self.graph_batch_sizes)
        if not sizes or any(int(s) < 1 for s in sizes) or list(sizes) != sorted(set(sizes)):
            raise ValueError(f"graph_batch_sizes must be distinct positive sizes in increasing order, got {list(sizes)}")
        if self.num_threads is not None and self.num_threads < 1:
            raise ValueError(f"num_threads must be at least 1 or null, got {self.num_threads}")

    @property
    def needs_cuda(self) -> bool:
        """Whether this path only runs on a CUDA device."""
        return self.cuda_graphs or self.precision == "tf32"

    def label(self) -> str:
        """Short human-readable name, e.g. ``torch bf16 channels-last compile(max-autotune-no-cudagraphs) graphs``."""
        parts = [self.backend, self.precision]
        if self.fold_batchnorm:
            parts.append("fold-bn")
        if self.channels_last:
            parts.append("channels-last")
        if self.compile != "none":
            parts.append(f"compile({self.compile})")
        if self.cuda_graphs:
            parts.append("cuda-graphs")
        return " ".join(parts)

    def replace(self, **changes: Any) -> SpeedConfig:
        return dataclasses.replace(self, **changes)


def agreement_class(speed: SpeedConfig) -> Literal["fp32", "reduced", "int8"]:
    """Which agreement bound a path is held to (see the module docstring)."""
    if speed.precision == "int8-dynamic":
        return "int8"
    if speed.precision in ("bf16", "bf16-autocast", "tf32"):
        return "reduced"
    return "fp32"


#: Named configurations of the fast paths (``preset(name)``).
PRESETS: dict[str, SpeedConfig] = {
    # The exact fp32 eager path every other one is compared with.
    "reference": SpeedConfig(),
    # CPU, same numbers: ONNX Runtime (fp32) ran EANet 1.25-1.3x faster than PyTorch eager on a quiet 2-core box.
    "cpu": SpeedConfig(backend="onnxruntime"),
    # CPU, int8 transformer matrix products (separately measured agreement; see docs/speed.md).
    "cpu-int8": SpeedConfig(backend="onnxruntime", precision="int8-dynamic"),
    # CUDA, large batches: bf16 weights, channels-last, compiled, replayed as CUDA graphs at fixed batch sizes.
    "gpu-throughput": SpeedConfig(
        precision="bf16", channels_last=True, fold_batchnorm=True, compile="max-autotune-no-cudagraphs", cuda_graphs=True
    ),
    # CUDA, one image at a time: the same, captured at batch 1 only.
    "gpu-latency": SpeedConfig(
        precision="bf16",
        channels_last=True,
        fold_batchnorm=True,
        compile="max-autotune-no-cudagraphs",
        cuda_graphs=True,
        graph_batch_sizes=(1,),
    ),
    # CUDA without compilation (starts in seconds): bf16 weights, channels-last, folded BatchNorm, CUDA graphs.
    "gpu-eager": SpeedConfig(precision="bf16", channels_last=True, fold_batchnorm=True, cuda_graphs=True),
}


def preset(name: str) -> SpeedConfig:
    """The named :class:`SpeedConfig` (see :data:`PRESETS`)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown speed preset {name!r}; known: {', '.join(PRESETS)}") from None

