"""``eanet bench``: inference, training-step, data-pipeline, CPU-latency and memory benchmarks of EANet.

    >>> from eanet.bench import BenchOptions, run_bench, format_report
    >>> results = run_bench(BenchOptions(sections=("cpu-latency",), cpu_threads=(1, 2)))  # doctest: +SKIP
    >>> print(format_report(results))                                                       # doctest: +SKIP

Every measurement warms up first, synchronises the device, and reports medians of repeated runs; CPU variants run
interleaved in one process. Every fast path's outputs are compared with the exact fp32 reference on the same
inputs and weights (:mod:`eanet.bench.agreement`). The result names the machine and the library versions and is
written as JSON. See ``docs/speed.md``.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from eanet.bench.context import SECTIONS, BenchContext, BenchOptions
from eanet.bench.cpu import run_cpu_latency
from eanet.bench.data import run_data
from eanet.bench.inference import run_inference
from eanet.bench.machine import machine_info
from eanet.bench.memsection import run_memory
from eanet.bench.report import format_report, write_json
from eanet.bench.training import run_train_step

__all__ = ["SECTIONS", "BenchOptions", "run_bench", "format_report", "write_json"]

logger = logging.getLogger(__name__)


def run_bench(options: BenchOptions) -> dict[str, Any]:
    """Run the chosen sections; returns a JSON-able dict (``machine``, ``model``, ``sections``, ...)."""
    import torch

    ctx = BenchContext.create(options)
    try:
        runners = _runners()
        results: dict[str, Any] = {
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "machine": machine_info(ctx.device),
            "options": options.as_dict(),
            "quick": options.quick,
            "model": {
                "config": options.config,
                "overrides": list(options.overrides),
                "parameters": sum(p.numel() for p in ctx.model.parameters()),
                "input_size": list(ctx.model.input_size),
                "hand_model": ctx.cfg.hand_model.kind,
                "weights": ctx.weights,
            },
            "sections": {},
        }
        for name in SECTIONS:
            if name in options.sections:
                logger.info("bench section %s", name)
                results["sections"][name] = runners[name](ctx)
                if ctx.cuda:
                    torch.cuda.empty_cache()
        results["timings_s"] = ctx.results.get("timings_s", {})
        results["machine"]["load_average_end"] = machine_info(None).get("load_average")
        return results
    finally:
        ctx.close()


def _runners() -> dict[str, Any]:
    return {
        "inference": run_inference,
        "train-step": run_train_step,
        "data": run_data,
        "cpu-latency": run_cpu_latency,
        "memory": run_memory,
    }


