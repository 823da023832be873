"""Fixtures for the inference tests: tiny models, a fake network with known outputs, a tiny checkpoint, images.

torchvision's models are imported here, before any test renders: importing them (they load triton's LLVM) after
pyrender's EGL context has loaded Mesa's llvmpipe crashes the process (see docs/inference.md, "Known issues").
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torchvision.models  # noqa: F401  (see the module docstring)
from inference_helpers import FakeNetwork, tiny_model_config, write_test_image


@pytest.fixture(autouse=True)
def _single_thread():
    """Tiny tensors: one intra-op thread is faster on the shared 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def hand_layers(make_random_hand_data):
    """``(right, left)`` layers on random data of MANO's shapes (778 vertices; the left mirrors the right)."""
    from eanet.hand_model import HandModelLayer

    return HandModelLayer(make_random_hand_data("right", seed=5)), HandModelLayer(make_random_hand_data("left", seed=5))


@pytest.fixture
def fake_network(hand_layers):
    """A :class:`FakeNetwork` (64x64 input, 2x2 heatmap grid) over the random hand layers."""
    return FakeNetwork(hand_layers)


@pytest.fixture
def fake_predictor(fake_network, hand_layers):
    from eanet.inference.config import InferenceConfig
    from eanet.inference.predictor import Predictor

    return Predictor(fake_network, hand_layers, config=InferenceConfig(batch_size=2), device="cpu",
                     input_size=(64, 64), feature_grid=(2, 2))  # fmt: skip


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised tiny EANet with the built-in open hand model, saved in our checkpoint format."""
    import torch

    from eanet.model import build_model
    from eanet.run_checkpoint import save_checkpoint

    cfg = tiny_model_config()
    torch.manual_seed(0)
    model = build_model(cfg.model, cfg.hand_model)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save_checkpoint(model, cfg, path)
    return path


@pytest.fixture
def image_dir(tmp_path) -> Path:
    """A folder with two small RGB images (PNG and JPEG)."""
    folder = tmp_path / "images"
    folder.mkdir()
    write_test_image(folder / "a.png", 96, 80, seed=1)
    write_test_image(folder / "b.jpg", 120, 90, seed=2)
    return folder
