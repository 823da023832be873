"""Fixtures for the analysis tests: a tiny EANet on random hand-model data (no MANO), one thread."""

from __future__ import annotations

import pytest
from analysis_helpers import TINY


@pytest.fixture(autouse=True)
def _single_thread():
    """One intra-op thread: the tensors are tiny and the machine is shared."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def hand_layers(make_random_hand_data):
    from eanet.hand_model import HandModelLayer

    return HandModelLayer(make_random_hand_data("right", seed=1)), HandModelLayer(make_random_hand_data("left", seed=1))


@pytest.fixture
def make_tiny_model(hand_layers):
    """``make_tiny_model(**changes)``: a tiny EANet in eval mode whose weights are spread out (std 0.2), so that the
    attention is far from uniform and mistakes in the recomputation show."""
    import torch

    from eanet.model import build_model
    from eanet.model.config import ModelConfig

    def make(**changes):
        torch.manual_seed(0)
        model = build_model(ModelConfig(**{**TINY, **changes}), hand_models=hand_layers).eval()
        with torch.no_grad():
            # The official init (conv N(0, 0.001)) makes the features of a random ResNet vanish (~1e-10); He init
            # keeps them of order 1, so the hands' tokens differ measurably.
            for m in model.backbone.modules():
                if isinstance(m, torch.nn.Conv2d):
                    torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            for m in model.hand_proj.modules():
                if isinstance(m, torch.nn.Conv2d):
                    torch.nn.init.normal_(m.weight, 0.0, 0.2)
            for _, p in model.interaction.named_parameters() if model.interaction is not None else []:
                if p.dim() > 1:
                    p.normal_(0.0, 0.2)
        return model

    return make


@pytest.fixture
def tiny_image():
    """A (2, 3, 96, 64) batch in [0, 1]."""
    import torch

    return torch.rand(2, 3, 96, 64, generator=torch.Generator().manual_seed(0))
