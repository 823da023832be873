"""Fixtures for the web-demo tests: a predictor on a tiny random EANet (the UI needs no trained weights) and
in-memory image files (``web_helpers``)."""

from __future__ import annotations

import pytest
from web_helpers import TINY


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
