"""Peak memory of one call: CUDA allocator peaks on GPUs, the process's peak resident set on the CPU."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

__all__ = ["peak_memory_mb", "rss_mb"]


def _status_kb(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def rss_mb() -> float | None:
    """Current resident set size of this process (MB), or None where /proc is unavailable."""
    kb = _status_kb("VmRSS")
    return None if kb is None else kb / 1024


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (``VmHWM``) of this process; False where not supported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_memory_mb(fn: Callable[[], Any], device: torch.device) -> dict[str, float | None]:
    """Run ``fn`` once and report its peak memory.

    CUDA: ``peak_allocated_mb`` (allocator peak during the call, everything resident included) and
    ``peak_above_start_mb`` (what the call added on top of what was allocated before it, e.g. activations).
    CPU: ``peak_rss_mb`` (the process's peak resident set during the call) and ``peak_above_start_mb``.
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        start = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
        return {"peak_allocated_mb": peak / 2**20, "peak_above_start_mb": (peak - start) / 2**20}
    start_rss = rss_mb()
    reset = _reset_peak_rss()
    fn()
    hwm = _status_kb("VmHWM")
    if not reset or hwm is None or start_rss is None:
        return {"peak_rss_mb": None, "peak_above_start_mb": None}
    return {"peak_rss_mb": hwm / 1024, "peak_above_start_mb": hwm / 1024 - start_rss}
