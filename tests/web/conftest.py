"""Fixtures for the web-demo tests: a predictor on a tiny random EANet (the UI needs no trained weights) and
in-memory image files."""

from __future__ import annotations

import io

import numpy as np
import pytest

TINY = dict(
    backbone="resnet18", input_size=(64, 64), width=32, num_heads=2, sa_depth=1, ca_depth=1, sjt_depth=1,
    sjt_num_heads=2, heatmap_depth=4,
)  # fmt: skip


@pytest.fixture(scope="session")
def tiny_predictor():
    """A :class:`Predictor` on a tiny, randomly initialised EANet with the built-in open hand model."""
    import torch

    from eanet.hand_model import build_hand_models
    from eanet.hand_model.config import HandModelConfig
    from eanet.inference.predictor import Predictor
    from eanet.model import build_model
    from eanet.model.config import ModelConfig

    torch.manual_seed(0)
    hand_models = build_hand_models(HandModelConfig(kind="open"))
    model = build_model(ModelConfig(**TINY), hand_models=hand_models).eval()
    predictor = Predictor(model, hand_models, device="cpu")
    yield predictor
    predictor.close()


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
