"""Helpers shared by the web tests (importable as ``web_helpers``: pytest puts this directory on sys.path)."""

from __future__ import annotations

import io

import numpy as np

#: A fast EANet: ResNet-18 trunk, 64x64 input (2x2 token grid), width 32, one block per transformer.
TINY = dict(
    backbone="resnet18", input_size=(64, 64), width=32, num_heads=2, sa_depth=1, ca_depth=1, sjt_depth=1,
    sjt_num_heads=2, heatmap_depth=4,
)  # fmt: skip


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (96, 80), seed: int = 0, **save_kwargs) -> bytes:
    """A random-ish RGB image encoded as ``fmt`` in memory."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    pixels = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), rng.integers(0, 255, (h, w))], -1)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format=fmt, **save_kwargs)
    return buffer.getvalue()
