"""The machinery behind :class:`eanet.speed.SpeedConfig`: faster ways to run the same EANet at inference.

:func:`apply_speed_options` returns a callable with the model's contract (``(B, 3, H, W)`` float RGB in ``[0, 1]``
-> :class:`~eanet.structures.TwoHandPrediction` in fp32, plus ``input_size``, ``feature_grid`` and
``hand_models``), so it drops into :class:`eanet.inference.Predictor` in place of the module:

* :class:`SpeedModel` (backend ``torch``): a copy of the network, optionally with BatchNorm folded into the
  convolutions, channels-last weights, bf16 weights, ``torch.compile`` and CUDA-graph replay at fixed batch sizes.
  Whatever the precision, the rotation conversions and the hand-model layer run in fp32 (in bf16 a 0.1 m coordinate
  rounds by ~0.4 mm, the size of the errors evaluation measures), and so do the heatmap convolution and the final
  regressors (under 0.1 % of the arithmetic, but their outputs are what the conversions amplify).
* :class:`OrtSpeedModel` (backend ``onnxruntime``): an ``eanet export`` file run by ONNX Runtime, in fp32 or with
  the transformer matrix products quantised to int8 (:func:`quantize_onnx_int8`).

Nothing here changes the reference: ``apply_speed_options(model, SpeedConfig())`` computes exactly what
``model(img)`` computes (on CUDA with TF32 explicitly off).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from eanet.config_dict import config_to_dict
from eanet.errors import InvalidInputError, UserError
from eanet.export_onnx.export import export_onnx
from eanet.export_onnx.names import HAND_FIELDS
from eanet.export_onnx.runtime import OnnxModel, read_onnx_metadata
from eanet.hand_model.skeleton import HANDS
from eanet.model.heads import HandRegression
from eanet.speed import SpeedConfig
from eanet.structures import HandPrediction, TwoHandPrediction

if TYPE_CHECKING:
    from eanet.config import Config
    from eanet.model.eanet import EANet

__all__ = [
    "apply_speed_options",
    "SpeedModel",
    "OrtSpeedModel",
    "fold_batchnorm",
    "quantize_onnx_int8",
    "flatten_prediction",
    "unflatten_prediction",
    "fp32_matmul_precision",
    "ort_session",
    "folded_copy",
]

logger = logging.getLogger(__name__)

#: Sub-modules that always compute in fp32 under the reduced-precision paths (see the module docstring).
FP32_MODULES: tuple[str, ...] = (
    "position_head.heatmap",
    "rotation_head.root_pose",
    "rotation_head.hand_pose",
    "rotation_head.shape",
    "rotation_head.cam",
    "rotation_head.rel_trans",
)


# ----------------------------------------------------------------------------------------------------------------
# flat outputs (what compiled functions and CUDA graphs return)


def flatten_prediction(pred: TwoHandPrediction) -> tuple[Tensor, ...]:
    """Every field of both hands (``HAND_FIELDS`` order, right first), then ``rel_trans``: the ONNX output order."""
    return (*(getattr(hand, name) for _, hand in pred.hands() for name in HAND_FIELDS), pred.rel_trans)


def unflatten_prediction(flat: tuple[Tensor, ...] | list[Tensor]) -> TwoHandPrediction:
    """Inverse of :func:`flatten_prediction`."""
    n = len(HAND_FIELDS)
    hands = {side: HandPrediction(**dict(zip(HAND_FIELDS, flat[k * n : (k + 1) * n], strict=True))) for k, side in
             enumerate(HANDS)}  # fmt: skip
    return TwoHandPrediction(right=hands["right"], left=hands["left"], rel_trans=flat[2 * n])


# ----------------------------------------------------------------------------------------------------------------
# model rewrites that keep the function


def _conv_bn_pairs(module: nn.Module) -> Iterator[tuple[nn.Module, str, str]]:
    """``(parent, conv_name, bn_name)`` for each convolution directly followed by its BatchNorm.

    Two layouts occur in EANet: attribute pairs ``conv<k>``/``bn<k>`` (torchvision's ResNet stem and blocks;
    ``conv``/``bn`` of :class:`~eanet.model.layers.ConvBNReLU`), whose forward applies the BatchNorm right after
    the convolution, and ``nn.Sequential(Conv2d, BatchNorm2d)`` (ResNet downsample branches).
    """
    for parent in module.modules():
        children = dict(parent.named_children())
        if isinstance(parent, nn.Sequential):
            names = list(children)
            for a, b in zip(names, names[1:], strict=False):
                if isinstance(children[a], nn.Conv2d) and isinstance(children[b], nn.BatchNorm2d):
                    yield parent, a, b
            continue
        for name, child in children.items():
            if not (isinstance(child, nn.Conv2d) and name.startswith("conv")):
                continue
            bn_name = "bn" + name[len("conv") :]
            bn = children.get(bn_name)
            if isinstance(bn, nn.BatchNorm2d) and bn.num_features == child.out_channels:
                yield parent, name, bn_name


@torch.no_grad()
def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every BatchNorm of ``model`` into the convolution before it, in place; returns ``model``.

    ``W' = W * gamma / sqrt(var + eps)``, ``b' = (b - mean) * gamma / sqrt(var + eps) + beta`` (eval-mode
    BatchNorm is this affine map), and the BatchNorm becomes ``nn.Identity``. Only valid for inference: the model
    must be in eval mode (training would update the statistics that are folded).
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    if model.training:
        raise InvalidInputError("fold_batchnorm needs the model in eval mode (call model.eval() first)")
    pairs = list(_conv_bn_pairs(model))
    for parent, conv_name, bn_name in pairs:
        fused = fuse_conv_bn_eval(getattr(parent, conv_name), getattr(parent, bn_name))
        setattr(parent, conv_name, fused)
        setattr(parent, bn_name, nn.Identity())
    logger.debug("folded %d BatchNorm layers into their convolutions", len(pairs))
    return model


def folded_copy(model: nn.Module) -> nn.Module:
    """A CPU copy of ``model`` in eval mode with its BatchNorms folded (what ONNX Runtime should run).

    ONNX Runtime left the exported BatchNormalization nodes unfused (2.4 % of its time on EANet, plus the ReLU
    fusions they block); folding them before the export removes them. The function is the same within fp32 rounding.
    """
    return fold_batchnorm(copy.deepcopy(model).to("cpu").eval())


class _Fp32Island(nn.Module):
    """Runs the wrapped layer in fp32 with autocast off (its input is cast up); see :data:`FP32_MODULES`."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner.float()

    def forward(self, x: Tensor) -> Tensor:
        with _autocast_off(x.device):
            return self.inner(x.float())


def _autocast_off(device: torch.device):
    if torch.amp.is_autocast_available(device.type):
        return torch.autocast(device_type=device.type, enabled=False)
    return contextlib.nullcontext()


def _fp32_islands_(net: nn.Module) -> None:
    """Replace every module below the :data:`FP32_MODULES` prefixes by an :class:`_Fp32Island` of itself."""
    for prefix in FP32_MODULES:
        parent: Any = net
        for part in prefix.split("."):
            parent = getattr(parent, part, None)
            if parent is None:
                break
        if parent is None:
            continue
        if not isinstance(parent, nn.ModuleDict):
            raise TypeError(f"expected a ModuleDict at {prefix}, got {type(parent).__name__}")
        for key, leaf in list(parent.items()):  # per hand / branch (rel_trans: fc1, fc2)
            parent[key] = _Fp32Island(leaf)


def _to_bf16_weights_(net: nn.Module) -> None:
    """bf16 weights and biases for the matrix-product layers (Linear, Conv2d) of the network.

    These are the operands autocast would cast to bf16 on every call anyway. Everything else keeps fp32: the
    hand-model layers, the :data:`FP32_MODULES` islands, norms, positional embeddings and cls tokens (so the
    residual streams stay fp32, as under plain autocast).
    """
    islands = {id(m) for island in net.modules() if isinstance(island, _Fp32Island) for m in island.modules()}
    hand_models = {id(m) for m in net.hand_models.modules()} if net.hand_models is not None else set()
    for module in net.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)) and id(module) not in islands | hand_models:
            module.to(torch.bfloat16)


# ----------------------------------------------------------------------------------------------------------------
# precision contexts


@contextlib.contextmanager
def fp32_matmul_precision(device: torch.device, tf32: bool) -> Iterator[None]:
    """On CUDA, set TF32 for matrix products and cuDNN convolutions on (``tf32``) or off for this call.

    PyTorch lets cuDNN convolutions use TF32 by default; the fp32 reference switches it off so that it is exact.
    The ``allow_tf32`` flags are used (not the newer per-backend ``fp32_precision`` strings): code inside the call
    (cuDNN, inductor) still reads the old flags, and reading them raises once the new API has set cuDNN's
    convolution and RNN precisions differently. A process that already mixed the two APIs gets the new one.
    """
    if device.type != "cuda":
        yield
        return
    cuda, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    try:
        saved = cuda.allow_tf32, cudnn.allow_tf32
    except RuntimeError:  # flags already set through the new API, inconsistently for the old getters
        value = "tf32" if tf32 else "ieee"
        saved_new = cuda.fp32_precision, cudnn.conv.fp32_precision, cudnn.rnn.fp32_precision
        cuda.fp32_precision = cudnn.conv.fp32_precision = cudnn.rnn.fp32_precision = value
        try:
            yield
        finally:
            cuda.fp32_precision, cudnn.conv.fp32_precision, cudnn.rnn.fp32_precision = saved_new
        return
    cuda.allow_tf32 = cudnn.allow_tf32 = tf32
    try:
        yield
    finally:
        cuda.allow_tf32, cudnn.allow_tf32 = saved


# ----------------------------------------------------------------------------------------------------------------
# the PyTorch fast path


class SpeedModel(nn.Module):
    """EANet inference with the options of a :class:`SpeedConfig` (backend ``torch``).

    Args:
        model: an :class:`~eanet.model.eanet.EANet` with its hand-model layers. Its weights are never changed: a
            copy is made when a path changes weights (folding, bf16, layout); otherwise the model itself is used
            (moved to ``device``, in eval mode).
        speed: the options.
        device: where to run (default: the model's device). CUDA graphs and TF32 need CUDA.

    ``forward(img)`` takes ``(B, 3, H, W)`` float RGB in ``[0, 1]`` and returns a
    :class:`~eanet.structures.TwoHandPrediction` in fp32 on ``device``. With ``cuda_graphs`` the outputs are fresh
    tensors (copied out of the graph's buffers), so they stay valid across calls. Inference only: the network is in
    eval mode and no autograd graph is kept.
    """

    def __init__(self, model: EANet, speed: SpeedConfig, device: str | torch.device | None = None) -> None:
        super().__init__()
        if getattr(model, "hand_models", None) is None:
            raise InvalidInputError("the model has no hand-model layers; build it with build_model() or load_model()")
        if speed.backend != "torch":
            raise InvalidInputError(f"SpeedModel runs backend torch, got {speed.backend!r}; use apply_speed_options")
        dev = torch.device(device) if device is not None else next(model.parameters()).device
        if dev.type == "cuda" and dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
        if dev.type != "cuda" and (speed.cuda_graphs or speed.precision == "tf32"):
            what = "cuda_graphs" if speed.cuda_graphs else "precision tf32"
            raise UserError(f"{what} needs a CUDA device, but the model runs on {dev}; choose another speed option")
        self.speed = speed
        self.device = dev
        reduced = speed.precision in ("bf16", "bf16-autocast")
        changes_weights = speed.fold_batchnorm or speed.channels_last or reduced
        net = copy.deepcopy(model) if changes_weights else model
        net = net.eval().to(dev)
        if speed.fold_batchnorm:
            fold_batchnorm(net)
        if reduced:
            _fp32_islands_(net)
        if speed.precision == "bf16":
            _to_bf16_weights_(net)
        if speed.channels_last:
            net.to(memory_format=torch.channels_last)
        self.net = net
        self.input_size = tuple(net.input_size)
        self.feature_grid = tuple(net.feature_grid)
        self.hand_models = net.hand_models
        self._autocast_dtype = torch.bfloat16 if reduced else None
        self._sizes = tuple(int(s) for s in speed.graph_batch_sizes)
        # Fixed batch shapes: CUDA graphs need them, and a compiled graph would otherwise be specialised again for
        # every new batch size (the last, partial batch of a run).
        self._pad = speed.cuda_graphs or speed.compile != "none"
        self._fn: Callable[[Tensor], tuple[Tensor, ...]] = self._compute
        if speed.compile != "none":
            self._fn = torch.compile(self._compute, mode=None if speed.compile == "default" else speed.compile,
                                     dynamic=False)  # fmt: skip
        self._graphs: dict[int, tuple[Any, Tensor, tuple[Tensor, ...]]] = {}
        self._pool = None

    def extra_repr(self) -> str:
        return f"speed={self.speed.label()!r}, device={self.device}"

    def train(self, mode: bool = True) -> SpeedModel:
        if mode:
            raise InvalidInputError("SpeedModel is for inference only; train the EANet module itself")
        return super().train(False)

    # ------------------------------------------------------------------------------------------------------------

    def _compute(self, img: Tensor) -> tuple[Tensor, ...]:
        """Network (in the configured precision), then rotations and hand model in fp32; flat fp32 outputs."""
        net = self.net
        if self._autocast_dtype is not None:
            # No autocast weight-cast cache under CUDA graphs: cached casts made outside a capture are freed when
            # autocast exits (PyTorch's CUDA-graph notes). With bf16 weights there is nothing to cast anyway.
            with torch.autocast(device_type=img.device.type, dtype=self._autocast_dtype,
                                cache_enabled=not self.speed.cuda_graphs):  # fmt: skip
                regressions, joints_hm, rel_trans = net.predict_parameters(img)
        else:
            regressions, joints_hm, rel_trans = net.predict_parameters(img)
        with _autocast_off(img.device):
            hands = {}
            for hand in HANDS:
                reg = regressions[hand]
                reg = HandRegression(reg.root_pose_6d.float(), reg.hand_pose_6d.float(), reg.betas.float(),
                                     reg.cam.float())  # fmt: skip
                hands[hand] = net.hand_prediction(hand, reg, joints_hm[hand].float())
        pred = TwoHandPrediction(right=hands["right"], left=hands["left"], rel_trans=rel_trans.float())
        return flatten_prediction(pred)

    def _padded_size(self, batch: int) -> int:
        for size in self._sizes:
            if size >= batch:
                return size
        return self._sizes[-1]

    def _capture(self, size: int, like: Tensor) -> tuple[Any, Tensor, tuple[Tensor, ...]]:
        """Capture the forward pass for batch ``size`` (warm-up on a side stream first, as CUDA graphs need)."""
        static_in = torch.full((size, *like.shape[1:]), 0.5, dtype=like.dtype, device=like.device)
        if self.speed.channels_last:
            static_in = static_in.contiguous(memory_format=torch.channels_last)
        stream = torch.cuda.Stream(device=like.device)
        stream.wait_stream(torch.cuda.current_stream(like.device))
        with torch.cuda.stream(stream):
            for _ in range(3):  # compilation, autotuning, cuDNN/cuBLAS workspace set-up happen here, not in capture
                self._fn(static_in)
        torch.cuda.current_stream(like.device).wait_stream(stream)
        if self._pool is None:
            self._pool = torch.cuda.graph_pool_handle()
        graph = torch.cuda.CUDAGraph()
        # One memory pool for all sizes: safe here because every replay's outputs are copied out before the next
        # replay, and the static inputs live outside the pool.
        with torch.cuda.graph(graph, pool=self._pool):
            static_out = self._fn(static_in)
        logger.info("captured a CUDA graph for batch %d (%s)", size, self.speed.label())
        return graph, static_in, static_out

    def _run_fixed(self, img: Tensor) -> tuple[Tensor, ...]:
        """One chunk of at most the largest size, padded to a fixed size (graphs / compile) or as is."""
        B = img.shape[0]
        if not self._pad:
            return self._fn(img)
        size = self._padded_size(B)
        if self.speed.cuda_graphs:
            entry = self._graphs.get(size)
            if entry is None:
                entry = self._graphs[size] = self._capture(size, img)
            graph, static_in, static_out = entry
            static_in[:B].copy_(img)  # rows B.. keep earlier valid images: rows never mix in eval mode
            graph.replay()
            return tuple(t[:B].clone() for t in static_out)
        if size > B:
            img = torch.cat([img, img[:1].expand(size - B, *img.shape[1:])], dim=0)  # (size, 3, H, W)
            if self.speed.channels_last:
                img = img.contiguous(memory_format=torch.channels_last)  # the layout the graph was compiled for
        return tuple(t[:B] for t in self._fn(img))

    def forward(self, img: Tensor) -> TwoHandPrediction:
        """``(B, 3, H, W)`` float in ``[0, 1]`` -> :class:`TwoHandPrediction` (fp32, on ``self.device``)."""
        if img.dim() != 4 or img.shape[0] == 0:
            raise InvalidInputError(f"expected a non-empty image batch (B, 3, H, W), got shape {tuple(img.shape)}")
        img = img.to(self.device, torch.float32)
        if self.speed.channels_last:
            img = img.contiguous(memory_format=torch.channels_last)
        limit = self._sizes[-1] if self._pad else img.shape[0]
        with torch.inference_mode(), fp32_matmul_precision(self.device, self.speed.precision == "tf32"):
            chunks = [self._run_fixed(img[i : i + limit]) for i in range(0, img.shape[0], max(limit, 1))]
        if len(chunks) == 1:
            return unflatten_prediction(chunks[0])
        return unflatten_prediction([torch.cat(parts, dim=0) for parts in zip(*chunks, strict=True)])


# ----------------------------------------------------------------------------------------------------------------
# ONNX Runtime


def quantize_onnx_int8(src: str | Path, dst: str | Path, min_dim: int | None = None) -> Path:
    """Copy an ``eanet export`` file with the network's large matrix products in dynamic int8.

    ONNX Runtime's dynamic quantisation: int8 weights (per tensor), activations quantised per call. Only
    ``MatMul``/``Gemm`` nodes with a constant weight of at least ``min_dim`` rows and columns (default: the model's
    token width ``c`` read from the file) are quantised: the transformer and relative-translation layers (about
    60 % of EANet's arithmetic). Convolutions, the pose/shape/camera regressors (a few output columns), the rotation
    conversions and the hand-model layer (its constants are excluded by name) stay fp32.

    The graph is first constant-folded by ONNX Runtime (basic level), which turns the exporter's transposed weights
    into constants the quantiser recognises. The result keeps the file's metadata (configuration, hand model).
    """
    # Optional extras (eanet[onnx]), imported when a file is quantised.
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise InvalidInputError(f"ONNX file {str(src)!r} does not exist; make one with `eanet export`")
    if min_dim is None:
        min_dim = int(json.loads(read_onnx_metadata(src)["config"])["model"]["width"])
    dst.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        folded = Path(tmp) / "folded.onnx"
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(folded)
        options.log_severity_level = 3
        ort.InferenceSession(str(src), options, providers=["CPUExecutionProvider"])
        graph = onnx.load(str(folded), load_external_data=False)
        constants = {init.name: tuple(init.dims) for init in graph.graph.initializer}
        nodes = [
            node.name
            for node in graph.graph.node
            if node.op_type in ("MatMul", "Gemm")
            and len(node.input) > 1
            and len(constants.get(node.input[1], ())) == 2
            and min(constants[node.input[1]]) >= min_dim
            and "hand_models" not in node.input[1]
        ]
        if not nodes:
            raise InvalidInputError(f"{src}: no matrix product with a constant weight of at least {min_dim}x{min_dim}")
        quantize_dynamic(str(folded), str(dst), nodes_to_quantize=nodes, weight_type=QuantType.QInt8,
                         extra_options={"MatMulConstBOnly": True})  # fmt: skip
    model = onnx.load(str(dst))
    props = {p.key: p.value for p in model.metadata_props}
    props["quantization"] = f"int8-dynamic ({len(nodes)} matrix products)"
    del model.metadata_props[:]
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(dst))
    logger.info("wrote %s: %d matrix products in dynamic int8", dst, len(nodes))
    return dst


def ort_session(path: Path, num_threads: int | None, spin: bool) -> Any:
    """An ONNX Runtime CPU session with all graph optimisations, ``num_threads`` and spin-waiting on or off."""
    import onnxruntime as ort  # optional extra (eanet[onnx])

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if num_threads:
        options.intra_op_num_threads = int(num_threads)
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    options.log_severity_level = 3  # errors only (the traced graph has unused initializers ORT warns about)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OrtSpeedModel:
    """An ``eanet export`` file run by ONNX Runtime, with the model's contract (backend ``onnxruntime``).

    Args:
        onnx_model: an :class:`eanet.export_onnx.runtime.OnnxModel`.
        hand_models: the ``(right, left)`` layers of the model it was exported from (checked by fingerprint).
        speed: the options it was made with.
    """

    def __init__(self, onnx_model: OnnxModel, hand_models: Any, speed: SpeedConfig) -> None:
        onnx_model.check_hand_models(hand_models["right"], hand_models["left"])
        self.onnx_model = onnx_model
        self.hand_models = hand_models
        self.speed = speed
        self.input_size = tuple(onnx_model.input_size)
        self.feature_grid = tuple(onnx_model.feature_grid)
        self.device = torch.device("cpu")

    def __repr__(self) -> str:
        return f"OrtSpeedModel({self.onnx_model.path.name!r}, {self.speed.label()!r})"

    def eval(self) -> OrtSpeedModel:
        return self

    def __call__(self, img: Tensor) -> TwoHandPrediction:
        return self.onnx_model(img)


def _ort_model(model: EANet, speed: SpeedConfig, config: Config | None, work_dir: str | Path | None) -> OrtSpeedModel:
    if speed.onnx_path is not None:
        path = Path(speed.onnx_path)
        if not path.is_file():
            raise InvalidInputError(f"speed.onnx_path {str(path)!r} does not exist; make it with `eanet export`")
    else:
        if config is None:
            raise InvalidInputError(
                "backend onnxruntime needs an ONNX file: set speed.onnx_path (`eanet export`), or pass config= (the "
                "Config the model was built from) to export one now"
            )
        folder = Path(work_dir) if work_dir is not None else Path(tempfile.mkdtemp(prefix="eanet-onnx-"))
        path = folder / "model.onnx"
        logger.info("exporting the model to %s for ONNX Runtime (about a minute for the full network)", path)
        export_onnx(folded_copy(model), config.model, config.hand_model, config_to_dict(config), path)
    onnx_model = OnnxModel(path, num_threads=speed.num_threads)
    quantized = "quantization" in onnx_model.metadata
    if speed.precision == "int8-dynamic" and not quantized:
        folder = Path(work_dir) if work_dir is not None else Path(tempfile.mkdtemp(prefix="eanet-onnx-"))
        path = quantize_onnx_int8(path, folder / f"{path.stem}.int8.onnx")
        onnx_model = OnnxModel(path, num_threads=speed.num_threads)
    elif speed.precision == "fp32" and quantized:
        raise InvalidInputError(f"{path} is quantised ({onnx_model.metadata['quantization']}); use precision "
                                "int8-dynamic for it, or the fp32 export")  # fmt: skip
    if not speed.ort_spin_wait:
        onnx_model.session = ort_session(path, speed.num_threads, spin=False)
    if config is not None and onnx_model.model_config != config.model:
        raise InvalidInputError(f"{path} was exported from another architecture than the model given")
    return OrtSpeedModel(onnx_model, model.hand_models, speed)


# ----------------------------------------------------------------------------------------------------------------


def apply_speed_options(
    model: EANet,
    speed: SpeedConfig | None = None,
    *,
    device: str | torch.device | None = None,
    config: Config | None = None,
    work_dir: str | Path | None = None,
) -> SpeedModel | OrtSpeedModel:
    """Wrap ``model`` for fast inference as ``speed`` says.

    Args:
        model: an :class:`~eanet.model.eanet.EANet` with hand-model layers (its weights are left unchanged; see
            :class:`SpeedModel` for when it is copied).
        speed: the options (default: the exact fp32 reference).
        device: where to run (torch backend; default: the model's device). ONNX Runtime runs on the CPU.
        config: the :class:`~eanet.config.Config` the model was built from; needed by ``onnxruntime`` when
            ``speed.onnx_path`` is not set (the model is then exported) and used to check a given file.
        work_dir: where ONNX exports / int8 copies are written (default: a new temporary folder).

    Returns:
        A callable ``(B, 3, H, W) -> TwoHandPrediction`` with ``input_size``, ``feature_grid``, ``hand_models``.

    Note:
        ``speed.num_threads`` sets PyTorch's process-wide intra-op thread count (``torch.set_num_threads``).
    """
    speed = speed or SpeedConfig()
    if speed.num_threads is not None and speed.backend == "torch":
        torch.set_num_threads(speed.num_threads)
    if speed.backend == "onnxruntime":
        if device is not None and torch.device(device).type != "cpu":
            raise UserError(f"backend onnxruntime runs on the CPU here, not {device}; use backend torch on GPUs")
        return _ort_model(model, speed, config, work_dir)
    return SpeedModel(model, speed, device)
