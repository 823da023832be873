"""Section ``train-step``: one full training step (forward, the project's losses, backward, Adam) at batch 32.

Measured twice: with one batch already on the device (what the GPU can do), and fed by the real data pipeline
(data-loader workers decoding and augmenting synthetic release-size JPEGs, the hand-model targets computed on the
device, as ``eanet train`` does on GPUs).

The step is :meth:`eanet.train.loop.Trainer._train_step`'s arithmetic without its two host synchronisations per
step (the finite-loss and finite-gradient checks read values back to the host, which stops the CPU from queueing the
next step while the GPU works; see docs/speed.md).
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from eanet.bench.context import BenchContext, not_measured
from eanet.bench.memory import peak_memory_mb
from eanet.bench.timing import synchronize, time_calls
from eanet.bench.workload import data_config, load_batches, model_sizes, move_batch
from eanet.data import build_dataset
from eanet.data.collate import Collator, ManoTargetBuilder
from eanet.data.workers import init_loader_worker
from eanet.inference.fast import flatten_prediction, fp32_matmul_precision, unflatten_prediction
from eanet.losses import compute_losses, total_loss

__all__ = ["TrainVariant", "TrainStep", "train_variants", "run_train_step"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainVariant:
    name: str
    precision: str = "fp32"  # fp32 (TF32 off) or bf16 (autocast)
    channels_last: bool = False
    fused_adam: bool = False
    compile: str = "none"
    cuda_only: bool = False


def train_variants(compile_mode: str) -> list[TrainVariant]:
    return [
        TrainVariant("fp32 eager (reference)"),
        TrainVariant("bf16 autocast", precision="bf16"),
        TrainVariant("bf16 autocast + channels-last", precision="bf16", channels_last=True),
        TrainVariant("  + fused Adam", precision="bf16", channels_last=True, fused_adam=True, cuda_only=True),
        TrainVariant(f"  + compile({compile_mode})", precision="bf16", channels_last=True, fused_adam=True,
                     compile=compile_mode, cuda_only=True),  # fmt: skip
    ]


class TrainStep:
    """A training step on its own copy of the model (the benchmark's model is left untouched)."""

    def __init__(self, model: nn.Module, device: torch.device, variant: TrainVariant, lr: float = 1e-4) -> None:
        net = copy.deepcopy(model).to(device).train()
        if variant.channels_last:
            net.to(memory_format=torch.channels_last)
        params = [p for p in net.parameters() if p.requires_grad]
        kwargs = {"fused": True} if variant.fused_adam and device.type == "cuda" else {}
        self.optimizer = torch.optim.Adam(params, lr=lr, **kwargs)
        self.net = net
        self.forward = net
        if variant.compile != "none":
            mode = None if variant.compile == "default" else variant.compile
            # The compiled function returns a flat tuple of tensors (no dataclass crosses the graph boundary).
            flat = torch.compile(lambda img: flatten_prediction(net(img)), mode=mode, dynamic=False)
            self.forward = lambda img: unflatten_prediction(flat(img))
        self.variant = variant
        self.device = device

    def __call__(self, batch: dict[str, Any]) -> torch.Tensor:
        img = batch["img"]
        if self.variant.channels_last:
            img = img.contiguous(memory_format=torch.channels_last)
        self.optimizer.zero_grad(set_to_none=True)
        bf16 = self.variant.precision == "bf16"
        with fp32_matmul_precision(self.device, tf32=False), torch.autocast(
            self.device.type, dtype=torch.bfloat16, enabled=bf16
        ):
            pred = self.forward(img)
        if bf16:
            pred = pred.to(torch.float32)  # losses in fp32, as the trainer does
        loss = total_loss(compute_losses(pred, batch))
        loss.backward()
        self.optimizer.step()
        return loss.detach()


def _pipeline_rate(ctx: BenchContext, step: TrainStep, batch_size: int, workers: int, batches: int) -> dict[str, Any]:
    """Images/s of steps fed by the real data pipeline (workers decode/augment; hand-model targets on the device)."""
    from torch.utils.data import DataLoader, RandomSampler

    dcfg = data_config(ctx.cfg, ctx.synthetic("data"))
    dataset = build_dataset(dcfg, "train", ctx.cfg.hand_model, **model_sizes(ctx.cfg))
    hands = step.net.hand_models
    builder = ManoTargetBuilder(hands["right"], hands["left"], **model_sizes(ctx.cfg), bbox_3d_size=dcfg.bbox_3d_size)
    total = (batches + 3) * batch_size
    loader = DataLoader(
        dataset, batch_size=batch_size, sampler=RandomSampler(dataset, replacement=True, num_samples=total),
        num_workers=workers, collate_fn=Collator(None), pin_memory=ctx.cuda, drop_last=True,
        worker_init_fn=init_loader_worker if workers > 0 else None, persistent_workers=False, prefetch_factor=4 if workers else None,
    )  # fmt: skip
    it = iter(loader)
    for _ in range(3):  # warm-up: workers start, first batches
        step(builder(move_batch(next(it), ctx.device)))
    synchronize(ctx.device)
    t0 = time.perf_counter()
    n = 0
    for batch in it:
        step(builder(move_batch(batch, ctx.device)))
        n += 1
    synchronize(ctx.device)
    elapsed = time.perf_counter() - t0
    return {"images_per_s": n * batch_size / elapsed, "steps": n, "workers": workers}


def run_train_step(ctx: BenchContext) -> dict[str, Any]:
    opts, device = ctx.options, ctx.device
    if not ctx.cuda and not ctx.quick and opts.device == "auto":
        return {"device": str(device), "rows": [], "note": not_measured("no CUDA device")}
    B = 2 if ctx.quick else opts.train_batch_size
    hands = (ctx.model.hand_models["right"], ctx.model.hand_models["left"])
    batch = move_batch(load_batches(ctx.cfg, ctx.synthetic(), "train", B, 1, hands)[0], device)
    rows: list[dict[str, Any]] = []
    best: TrainVariant | None = None
    best_ms = float("inf")
    for variant in train_variants(opts.compile_mode):
        base = {"variant": variant.name, "batch": B}
        if variant.cuda_only and not ctx.cuda:
            rows.append({**base, "status": not_measured("no CUDA device")})
            continue
        try:
            step = TrainStep(ctx.model, device, variant)
            timing = time_calls(lambda step=step: step(batch), device, warmup=opts.warmup, repeats=opts.repeats)
            memory = peak_memory_mb(lambda step=step: step(batch), device)
        except torch.OutOfMemoryError:
            rows.append({**base, "status": not_measured("out of device memory")})
            continue
        except Exception as err:  # a compiler error in one variant must not lose the others' numbers
            logger.warning("train-step variant %s failed", variant.name, exc_info=True)
            rows.append({**base, "status": f"failed: {type(err).__name__}: {str(err)[:200]}"})
            continue
        finally:
            step = None
            if ctx.cuda:
                torch.cuda.empty_cache()
        rows.append({**base, "status": "ok", "ms_per_step": timing.median_ms, "images_per_s": timing.per_second(B),
                     "timing": timing.as_dict(), "memory": memory})  # fmt: skip
        logger.info("train step %-40s batch %d: %9.2f ms, %8.1f images/s", variant.name, B, timing.median_ms,
                    timing.per_second(B))  # fmt: skip
        if timing.median_ms < best_ms:
            best, best_ms = variant, timing.median_ms
    pipeline: dict[str, Any] = {}
    if best is not None:
        workers = opts.data_workers if opts.data_workers is not None else _default_workers()
        if ctx.quick:
            workers = min(workers, 1)
        try:
            step = TrainStep(ctx.model, device, best)
            pipeline = {"variant": best.name, "batch": B,
                        **_pipeline_rate(ctx, step, B, workers, 2 if ctx.quick else opts.data_batches)}  # fmt: skip
            logger.info("train step %s fed by the data pipeline (%d workers): %.1f images/s", best.name, workers,
                        pipeline["images_per_s"])  # fmt: skip
        except Exception as err:
            logger.warning("train step fed by the data pipeline failed", exc_info=True)
            pipeline = {"variant": best.name, "batch": B, "status": f"failed: {type(err).__name__}: {str(err)[:200]}"}
        step = None
    return {"device": str(device), "rows": rows, "real_pipeline": pipeline}


def _default_workers() -> int:
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(16, cores - 1))
