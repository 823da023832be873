"""Section ``cpu-latency``: batch-1 latency on the CPU, the unoptimised PyTorch path and the fast paths side by side.

All variants run interleaved in one process (every round runs each once, in a rotated order), so that the load of a
shared machine hits them alike and the speed-ups are fair; medians over the rounds. Each thread count is measured
separately. The ONNX Runtime file is exported once per set of weights and cached in the work folder.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import torch

from eanet.bench.agreement import compare_predictions
from eanet.bench.ceilings import matmul_call
from eanet.bench.child import ChildModel
from eanet.bench.context import BenchContext, not_measured
from eanet.bench.inference import reference_outputs
from eanet.bench.machine import has_native_bf16
from eanet.bench.timing import time_interleaved
from eanet.bench.workload import state_fingerprint
from eanet.config import config_to_dict
from eanet.export_onnx.export import export_onnx
from eanet.inference.fast import apply_speed_options, folded_copy, quantize_onnx_int8
from eanet.speed import SpeedConfig, agreement_class

__all__ = ["CpuVariant", "cpu_variants", "run_cpu_latency", "onnx_export"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CpuVariant:
    name: str
    speed: SpeedConfig
    note: str = ""


def cpu_variants(onnx: bool, compile_cpu: bool, bf16: bool = False) -> list[CpuVariant]:
    """CPU variants; bf16 only where the CPU has bf16 matrix instructions (or ``bf16``: emulated, ~30x slower)."""
    variants = [
        CpuVariant("torch fp32 eager", SpeedConfig(), "this process's environment (see omp_wait_policy)"),
        CpuVariant("torch fp32 fold-BN", SpeedConfig(fold_batchnorm=True)),
        CpuVariant("torch fp32 fold-BN + channels-last", SpeedConfig(fold_batchnorm=True, channels_last=True)),
    ]
    if has_native_bf16() or bf16:
        note = "" if has_native_bf16() else "this CPU has no bf16 matrix instructions: emulated"
        variants.append(CpuVariant("torch bf16 autocast", SpeedConfig(precision="bf16-autocast", fold_batchnorm=True),
                                   note))  # fmt: skip
    if compile_cpu:
        variants.append(CpuVariant("torch fp32 compile(default)", SpeedConfig(fold_batchnorm=True, compile="default")))
    if onnx:
        variants += [
            CpuVariant("onnxruntime fp32", SpeedConfig(backend="onnxruntime")),
            CpuVariant("onnxruntime fp32, spin-waiting threads", SpeedConfig(backend="onnxruntime", ort_spin_wait=True),
                       "ONNX Runtime's own default"),  # fmt: skip
            CpuVariant("onnxruntime int8-dynamic (separate path)", SpeedConfig(backend="onnxruntime",
                       precision="int8-dynamic"), "int8 transformer matrix products; agreement reported, not judged"),
        ]  # fmt: skip
    return variants


def onnx_export(ctx: BenchContext) -> Any:
    """``(fp32 file, int8 file)`` of the benchmark's weights, exported once and cached in the work folder."""
    key = state_fingerprint(ctx.model)
    folder = ctx.work_dir / f"onnx-folded-{key}"
    fp32, int8 = folder / "model.onnx", folder / "model.int8.onnx"
    if not fp32.is_file():
        t0 = time.perf_counter()
        export_onnx(folded_copy(ctx.model), ctx.cfg.model, ctx.cfg.hand_model, config_to_dict(ctx.cfg), fp32)
        ctx.results.setdefault("timings_s", {})["onnx_export"] = time.perf_counter() - t0
    if not int8.is_file():
        quantize_onnx_int8(fp32, int8)
    return fp32, int8


def run_cpu_latency(ctx: BenchContext) -> dict[str, Any]:
    opts = ctx.options
    cpu = torch.device("cpu")
    onnx = opts.onnx and not ctx.quick
    notes = []
    if opts.onnx and ctx.quick:
        notes.append("ONNX Runtime paths skipped in --quick (the export takes a minute)")
    if onnx:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            onnx = False
            notes.append(not_measured("onnxruntime is not installed (ONNX Runtime paths)"))
    bf16 = opts.cpu_bf16 or ctx.quick
    variants = cpu_variants(onnx, opts.cpu_compile, bf16)
    if not has_native_bf16() and not bf16:
        notes.append(not_measured("torch bf16, this CPU has no AVX512-BF16/AMX (emulated bf16 is ~30x slower than "
                                  "fp32; --cpu-bf16 measures it)"))  # fmt: skip
    paths = onnx_export(ctx) if onnx else None
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads_list = tuple(opts.cpu_threads) if opts.cpu_threads else tuple(sorted({1, usable}))
    reference = reference_outputs(ctx, cpu)
    images = ctx.agreement_images()
    gflop = ctx.model_gflop()
    one = [images[i : i + 1] for i in range(min(4, images.shape[0]))]  # (1, 3, H, W) each, used in rotation
    saved_threads = torch.get_num_threads()
    per_threads = []
    agreements: dict[str, Any] = {}
    try:
        for threads in threads_list:
            torch.set_num_threads(threads)
            models = {}
            for v in variants:
                speed = v.speed.replace(num_threads=threads)
                if v.speed.backend == "onnxruntime":
                    path = paths[1] if v.speed.precision == "int8-dynamic" else paths[0]
                    speed = speed.replace(onnx_path=str(path))
                models[v.name] = apply_speed_options(ctx.model, speed, device=cpu, config=ctx.cfg)
                if v.name not in agreements:
                    pred = models[v.name](images)
                    agreements[v.name] = compare_predictions(reference, pred, agreement_class(v.speed)).as_dict()
            fns = {name: _rotating_caller(model, one) for name, model in models.items()}
            child = _default_environment_child(ctx, threads, one)
            if child is not None:
                fns = {DEFAULT_ENV_VARIANT: child, **fns}
            # The ceiling, timed in the same rounds (same load): one fp32 matrix product as large as the model's.
            matmul, matmul_flop = matmul_call(cpu, torch.float32, 256 if ctx.quick else 2048)
            fns[CEILING] = matmul
            warmup = 1 if ctx.quick else 2
            timings = time_interleaved(fns, cpu, warmup=warmup, repeats=opts.cpu_repeats)
            sgemm = matmul_flop / timings.pop(CEILING).median_ms / 1e6  # GFLOP/s
            ref_name = DEFAULT_ENV_VARIANT if child is not None else variants[0].name
            ref_ms = timings[ref_name].median_ms
            rows = []
            shown = ([CpuVariant(DEFAULT_ENV_VARIANT, SpeedConfig(), DEFAULT_ENV_NOTE)] if child is not None else [])
            for v in shown + variants:
                t = timings[v.name]
                rows.append({"variant": v.name, "speed": v.speed.label(), "threads": threads, "ms": t.median_ms,
                             "speedup": ref_ms / t.median_ms, "gflop_per_s": gflop / t.median_ms * 1e3,
                             "timing": t.as_dict(), "note": v.note})  # fmt: skip
                logger.info("cpu %d thread(s) %-45s %8.1f ms (x%.2f)", threads, v.name, t.median_ms,
                            ref_ms / t.median_ms)  # fmt: skip
            if child is not None:
                child.close()
            per_threads.append({"threads": threads, "rows": rows, "sgemm_gflop_per_s": sgemm,
                                "fp32_floor_ms": gflop / sgemm * 1e3})  # fmt: skip
            del models, fns
    finally:
        torch.set_num_threads(saved_threads)
    if DEFAULT_ENV_VARIANT in {r["variant"] for run in per_threads for r in run["rows"]}:
        agreements[DEFAULT_ENV_VARIANT] = dict(agreements[variants[0].name], note="same computation as the reference")
    return {"batch": 1, "rounds": opts.cpu_repeats, "model_gflop": gflop, "runs": per_threads, "agreement": agreements,
            "agreement_samples": int(images.shape[0]), "notes": notes,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}  # fmt: skip


#: Key of the matrix-product ceiling timed among the variants.
CEILING = "fp32 matrix product (ceiling)"
#: The unoptimised path exactly as a user gets it: PyTorch eager fp32 with the library's default environment.
DEFAULT_ENV_VARIANT = "torch fp32 eager, default environment (unoptimised)"
DEFAULT_ENV_NOTE = "separate process without OMP_WAIT_POLICY (OpenMP threads spin while waiting)"


def _default_environment_child(ctx: BenchContext, threads: int, images: list[torch.Tensor]) -> Any:
    """The reference model in a child process with the default OpenMP wait policy, when this process changed it."""
    if "OMP_WAIT_POLICY" not in os.environ:
        return None  # this process already runs with the defaults: its eager reference is the unoptimised path
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    return ChildModel(ctx.work_dir / "child", config_to_dict(ctx.cfg), ctx.model.state_dict(), images, threads, env)


def _rotating_caller(model: Any, inputs: list[torch.Tensor]):
    """A no-argument call of ``model`` on the next of ``inputs`` (so no call reuses the previous one's input)."""
    state = {"k": 0}

    def call():
        state["k"] += 1
        with torch.inference_mode():
            return model(inputs[state["k"] % len(inputs)])

    return call
