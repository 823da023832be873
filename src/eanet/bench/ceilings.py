"""The two numbers a timing is read against: the model's arithmetic per image and the device's matrix-product rate.

``model_gflop`` counts the forward pass's floating-point operations (``torch.utils.flop_counter``: matrix products
and convolutions, the arithmetic that matters here). ``matmul_rate`` is the measured rate of one large square matrix
product on the device (median of repeats): no EANet path can run its matrix products faster, so
``model_gflop / rate`` is the arithmetic floor of a call.
"""

from __future__ import annotations

from typing import Any

import torch

from eanet.bench.timing import time_calls

__all__ = ["model_gflop", "matmul_rate", "matmul_call"]


def model_gflop(model: Any, input_size: tuple[int, int]) -> float:
    """GFLOP of one forward pass of ``model`` on one ``(3, H, W)`` image (counted on the CPU)."""
    from torch.utils.flop_counter import FlopCounterMode

    device = next(model.parameters()).device
    x = torch.rand(1, 3, *input_size, device=device)
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(x)
    return counter.get_total_flops() / 1e9


def matmul_call(device: torch.device, dtype: torch.dtype, n: int):
    """``(call, flop)``: a no-argument ``n x n x n`` matrix product on ``device`` (random operands) and its FLOP."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(device, dtype)
    b = torch.randn(n, n, generator=g).to(device, dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    return (lambda: torch.mm(a, b, out=out)), 2.0 * n**3


def matmul_rate(device: torch.device, dtype: torch.dtype = torch.float32, n: int = 2048, repeats: int = 5) -> dict:
    """Measured FLOP/s of an ``n``-cube matrix product (median of ``repeats`` after one warm-up)."""
    call, flop = matmul_call(device, dtype, n)
    timing = time_calls(call, device, warmup=1, repeats=repeats)
    return {"n": n, "dtype": str(dtype).replace("torch.", ""), "gflop_per_s": flop / timing.median_ms / 1e6,
            "times_ms": timing.times_ms}  # fmt: skip
