"""Section ``inference``: the full model (network, rotation conversions, both hand-model layers) per batch size.

Every variant is a :class:`~eanet.speed.SpeedConfig` run through :func:`~eanet.inference.fast.apply_speed_options`, timed on
the benchmark device (CUDA events, median of repeated calls after warm-up, four input batches in rotation so no
call reads a cached input), with its peak memory and its agreement with the fp32 reference on synthetic test crops.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from dataclasses import dataclass
from typing import Any

import torch

from eanet.bench.agreement import compare_predictions
from eanet.bench.ceilings import matmul_rate
from eanet.bench.context import BenchContext, not_measured
from eanet.bench.memory import peak_memory_mb
from eanet.bench.timing import time_calls
from eanet.inference.fast import apply_speed_options, fp32_matmul_precision
from eanet.speed import SpeedConfig, agreement_class

__all__ = ["Variant", "inference_variants", "run_inference", "reference_outputs"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Variant:
    name: str
    speed: SpeedConfig
    #: ``math`` runs attention through PyTorch's unfused reference kernel (to show what fused attention gives).
    attention: str = "fused"
    #: Only on CUDA (CUDA graphs, TF32, and variants whose point is a GPU kernel choice).
    cuda_only: bool = False


def inference_variants(compile_mode: str, cpu_compile: bool = False) -> list[Variant]:
    """The measured variants, reference first."""
    bf16_cl = SpeedConfig(precision="bf16", channels_last=True, fold_batchnorm=True)
    variants = [
        Variant("fp32 eager (reference)", SpeedConfig()),
        Variant("fp32 fold-BN", SpeedConfig(fold_batchnorm=True)),
        Variant("tf32", SpeedConfig(precision="tf32"), cuda_only=True),
        Variant("bf16 autocast", SpeedConfig(precision="bf16-autocast")),
        Variant("bf16 autocast, unfused attention", SpeedConfig(precision="bf16-autocast"), attention="math",
                cuda_only=True),  # fmt: skip
        Variant("bf16 autocast + channels-last", SpeedConfig(precision="bf16-autocast", channels_last=True)),
        Variant("bf16 weights + channels-last + fold-BN", bf16_cl),
        Variant("  + CUDA graphs", bf16_cl.replace(cuda_graphs=True), cuda_only=True),
        Variant(f"  + compile({compile_mode})", bf16_cl.replace(compile=compile_mode), cuda_only=not cpu_compile),
        Variant(f"  + compile({compile_mode}) + CUDA graphs", bf16_cl.replace(compile=compile_mode, cuda_graphs=True),
                cuda_only=True),  # fmt: skip
    ]
    return variants


def _attention(kind: str):
    if kind == "fused":
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel(SDPBackend.MATH)


def _speed_for_batches(speed: SpeedConfig, batch_sizes: tuple[int, ...]) -> SpeedConfig:
    """CUDA graphs / compiled shapes at exactly the measured batch sizes (and the agreement batch)."""
    if speed.cuda_graphs or speed.compile != "none":
        return speed.replace(graph_batch_sizes=tuple(sorted(set(batch_sizes))))
    return speed


def reference_outputs(ctx: BenchContext, device: torch.device) -> Any:
    """The fp32 reference prediction on the agreement images (computed once per device)."""
    key = f"reference_outputs_{device}"
    if key not in ctx.results:
        ref = apply_speed_options(ctx.model, SpeedConfig(), device=device)
        ctx.results[key] = ref(ctx.agreement_images()).to("cpu")
        del ref
    return ctx.results[key]


def _release(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def run_inference(ctx: BenchContext) -> dict[str, Any]:
    """Time every variant at every batch size on ``ctx.device``."""
    opts, device = ctx.options, ctx.device
    if not ctx.cuda and not ctx.quick and opts.device == "auto":
        return {"device": str(device), "rows": [], "note": not_measured("no CUDA device (CPU numbers: cpu-latency)")}
    batch_sizes = tuple(opts.batch_sizes)
    n_agree = ctx.agreement_images().shape[0]
    reference = reference_outputs(ctx, device)
    ceilings = _ceilings(ctx)
    rows: list[dict[str, Any]] = []
    for variant in inference_variants(opts.compile_mode, opts.cpu_compile):
        base = {"variant": variant.name, "speed": variant.speed.label(), "attention": variant.attention}
        if variant.cuda_only and not ctx.cuda:
            rows.extend({**base, "batch": b, "status": not_measured("no CUDA device")} for b in batch_sizes)
            continue
        variant_rows: list[dict[str, Any]] = []
        try:
            _measure_variant(ctx, variant, reference, batch_sizes, n_agree, base, variant_rows)
        except Exception as err:  # one broken variant (e.g. a compiler error) must not lose the others' numbers
            logger.warning("inference variant %s failed", variant.name, exc_info=True)
            done = {r["batch"] for r in variant_rows}
            variant_rows += [{**base, "batch": b, "status": f"failed: {type(err).__name__}: {str(err)[:200]}"}
                             for b in batch_sizes if b not in done]  # fmt: skip
        rows.extend(variant_rows)
        _release(device)
    return {"device": str(device), "rows": rows, "model_gflop": ctx.model_gflop(), "ceilings": ceilings}


def _ceilings(ctx: BenchContext) -> dict[str, Any]:
    """Matrix-product rates of the device (fp32 without TF32, TF32, bf16) and the arithmetic floor per image."""
    n = 8192 if ctx.cuda else (256 if ctx.quick else 2048)
    out: dict[str, Any] = {}
    for name, dtype, tf32 in (("fp32", torch.float32, False), ("tf32", torch.float32, True),
                              ("bf16", torch.bfloat16, False)):  # fmt: skip
        if name == "tf32" and not ctx.cuda:
            continue
        with fp32_matmul_precision(ctx.device, tf32):
            rate = matmul_rate(ctx.device, dtype, n)
        rate["floor_images_per_s"] = rate["gflop_per_s"] / ctx.model_gflop()
        out[name] = rate
    return out


def _measure_variant(
    ctx: BenchContext,
    variant: Variant,
    reference: Any,
    batch_sizes: tuple[int, ...],
    n_agree: int,
    base: dict[str, Any],
    rows: list[dict[str, Any]],
) -> None:
    """Append one row per batch size to ``rows`` (as they are measured, so a later failure keeps them)."""
    opts, device = ctx.options, ctx.device
    H, W = ctx.model.input_size
    speed = _speed_for_batches(variant.speed, (*batch_sizes, n_agree))
    t0 = time.perf_counter()
    fast = apply_speed_options(ctx.model, speed, device=device)
    build_s = time.perf_counter() - t0
    with _attention(variant.attention):
        agreement = compare_predictions(reference, fast(ctx.agreement_images()).to("cpu"),
                                        agreement_class(variant.speed))  # fmt: skip
        for b in batch_sizes:
            g = torch.Generator(device="cpu").manual_seed(b)
            inputs = [torch.rand(b, 3, H, W, generator=g).to(device) for _ in range(4)]  # (B, 3, H, W) each
            state = {"k": 0}

            def call(inputs=inputs, state=state, fast=fast):
                state["k"] += 1
                return fast(inputs[state["k"] % len(inputs)])

            try:
                timing = time_calls(call, device, warmup=opts.warmup, repeats=opts.repeats)
                memory = peak_memory_mb(call, device)
            except torch.OutOfMemoryError:
                rows.append({**base, "batch": b, "status": not_measured("out of device memory")})
                _release(device)
                continue
            rows.append({
                **base, "batch": b, "status": "ok", "ms_per_call": timing.median_ms,
                "images_per_s": timing.per_second(b), "timing": timing.as_dict(), "memory": memory,
                "build_s": build_s, "agreement": agreement.as_dict(),
            })  # fmt: skip
            logger.info("inference %-45s batch %4d: %9.3f ms, %9.1f images/s", variant.name, b,
                        timing.median_ms, timing.per_second(b))  # fmt: skip
            del inputs
