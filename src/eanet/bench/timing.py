"""Timing with warm-up, device synchronisation and medians of repeated runs; interleaved comparisons.

On CUDA each call is timed with CUDA events recorded on the current stream (the GPU's own clock), after a
synchronisation; on the CPU with ``time.perf_counter``. Warm-up calls (compilation, autotuning, graph capture,
allocator growth) are excluded and their first call's time is kept separately as ``first_call_s``.

:func:`time_interleaved` runs several variants round-robin (rotating the order every round), so that a shared,
noisy machine slows all of them alike and their ratios stay meaningful.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

__all__ = ["Timing", "synchronize", "time_calls", "time_interleaved"]


@dataclass
class Timing:
    """Times of repeated calls of one variant (milliseconds)."""

    median_ms: float
    min_ms: float
    max_ms: float
    repeats: int
    first_call_s: float
    times_ms: list[float] = field(default_factory=list)

    def per_second(self, items: int) -> float:
        """Items (images) per second at the median time of a call that processes ``items``."""
        return items * 1000.0 / self.median_ms if self.median_ms > 0 else float("nan")

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["times_ms"] = [round(t, 3) for t in self.times_ms]
        return out


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Clock:
    def __init__(self, device: torch.device) -> None:
        self.device = device

    def __call__(self, fn: Callable[[], Any]) -> float:
        """Milliseconds of one call, the device's work included."""
        if self.device.type == "cuda":
            synchronize(self.device)
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            return float(start.elapsed_time(end))
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1e3


def _warm(fn: Callable[[], Any], device: torch.device, warmup: int) -> float:
    t0 = time.perf_counter()
    fn()
    synchronize(device)
    first = time.perf_counter() - t0
    for _ in range(max(warmup - 1, 0)):
        fn()
    synchronize(device)
    return first


def _timing(times: list[float], first: float) -> Timing:
    return Timing(statistics.median(times), min(times), max(times), len(times), first, times)


def time_calls(fn: Callable[[], Any], device: torch.device, *, warmup: int = 5, repeats: int = 20) -> Timing:
    """Median time of ``repeats`` calls after ``warmup`` calls (at least one)."""
    clock = _Clock(device)
    first = _warm(fn, device, max(warmup, 1))
    return _timing([clock(fn) for _ in range(max(repeats, 1))], first)


def time_interleaved(
    fns: dict[str, Callable[[], Any]], device: torch.device, *, warmup: int = 2, repeats: int = 7
) -> dict[str, Timing]:
    """Time several variants round-robin: every round runs each once, in an order rotated by one each round."""
    clock = _Clock(device)
    names = list(fns)
    first = {name: _warm(fns[name], device, max(warmup, 1)) for name in names}
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(max(repeats, 1)):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            times[name].append(clock(fns[name]))
    return {name: _timing(times[name], first[name]) for name in names}
