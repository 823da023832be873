"""Section ``memory``: weight bytes and peak memory of inference and of a training step.

On CUDA: the allocator's peak during one call (after one warm-up call) for the fp32 reference and the bf16 path at
every batch size, and for a training step (fp32 and bf16) at the training batch size. On the CPU: the process's
peak resident set during a batch-1 call of the PyTorch reference and of ONNX Runtime.
"""

from __future__ import annotations

import gc
from typing import Any

import torch

from eanet.bench.child import ChildModel
from eanet.bench.context import BenchContext
from eanet.bench.cpu import onnx_export
from eanet.bench.memory import peak_memory_mb
from eanet.bench.training import TrainStep, TrainVariant
from eanet.bench.workload import load_batches, move_batch
from eanet.config import config_to_dict
from eanet.inference.fast import apply_speed_options
from eanet.speed import SpeedConfig

__all__ = ["run_memory"]


def _two_calls(fn) -> Any:
    fn()  # warm-up: allocator pools, workspaces, graph capture
    return fn


def run_memory(ctx: BenchContext) -> dict[str, Any]:
    opts = ctx.options
    params = sum(p.numel() for p in ctx.model.parameters())
    out: dict[str, Any] = {
        "parameters": params,
        "weights_fp32_mb": params * 4 / 2**20,
        "weights_bf16_mb": params * 2 / 2**20,
        "inference": [],
        "train_step": [],
        "cpu_batch1": [],
    }
    H, W = ctx.model.input_size
    devices = [ctx.device] if (ctx.cuda or ctx.quick or opts.device != "auto") else []
    for device in devices:
        for name, speed in (("fp32 (reference)", SpeedConfig()),
                            ("bf16 weights + channels-last + fold-BN",
                             SpeedConfig(precision="bf16", channels_last=True, fold_batchnorm=True))):  # fmt: skip
            fast = apply_speed_options(ctx.model, speed, device=device)
            for b in opts.batch_sizes:
                img = torch.rand(b, 3, H, W, generator=torch.Generator().manual_seed(b)).to(device)
                try:
                    mem = peak_memory_mb(_two_calls(lambda fast=fast, img=img: fast(img)), device)
                except torch.OutOfMemoryError:
                    mem = {"error": "out of device memory"}
                out["inference"].append({"variant": name, "device": str(device), "batch": b, **mem})
                del img
            del fast
            gc.collect()
        B = 2 if ctx.quick else opts.train_batch_size
        hands = (ctx.model.hand_models["right"], ctx.model.hand_models["left"])
        batch = move_batch(load_batches(ctx.cfg, ctx.synthetic(), "train", B, 1, hands)[0], device)
        for variant in (TrainVariant("fp32"), TrainVariant("bf16 autocast + channels-last", "bf16", True)):
            step = TrainStep(ctx.model, device, variant)
            try:
                mem = peak_memory_mb(_two_calls(lambda step=step, batch=batch: step(batch)), device)
            except torch.OutOfMemoryError:
                mem = {"error": "out of device memory"}
            out["train_step"].append({"variant": variant.name, "device": str(device), "batch": B, **mem})
            del step
            gc.collect()
    # CPU: each path in a fresh process (this one holds many models), resident set after importing the libraries,
    # after loading the model, and the peak after a few batch-1 calls.
    images = [ctx.agreement_images()[:1]]
    candidates: list[tuple[str, Any]] = [("torch fp32 eager", None)]
    if opts.onnx and not ctx.quick:
        fp32, int8 = onnx_export(ctx)
        candidates += [("onnxruntime fp32", fp32), ("onnxruntime int8-dynamic", int8)]
    state = ctx.model.state_dict()
    for name, onnx_path in candidates:
        child = ChildModel(ctx.work_dir / "child-memory", config_to_dict(ctx.cfg), state, images, 1,
                           onnx_path=onnx_path)  # fmt: skip
        try:
            for _ in range(3):
                child()
            rss = child.memory()
        finally:
            child.close()
        out["cpu_batch1"].append({"variant": name, "imported_mb": rss["imported"], "loaded_mb": rss["loaded"],
                                  "peak_rss_mb": rss["peak"], "peak_above_start_mb": rss["peak"] - rss["imported"]})  # fmt: skip
    return out
