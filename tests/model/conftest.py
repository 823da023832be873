"""Fixtures for the model tests: tiny configurations and hand-model layers built from random data of MANO's shapes
(the shared ``make_random_hand_data`` factory of ``tests/conftest.py``; no MANO data)."""

from __future__ import annotations

import pytest
from model_helpers import OFFICIAL_KEYS_TSV


@pytest.fixture(autouse=True)
def _single_thread():
    """One intra-op thread: these tensors are tiny, and on a shared 2-core machine OpenMP's second thread mostly
    spins (measured ~10x slower forward passes with 2 threads under load)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def hand_data_pair(make_random_hand_data):
    """``(right, left)`` random :class:`HandModelData` (the left is the right's mirror image)."""
    return make_random_hand_data("right", seed=3), make_random_hand_data("left", seed=3)


@pytest.fixture
def hand_layers(hand_data_pair):
    """``(right, left)`` :class:`HandModelLayer` on random data."""
    from eanet.hand_model import HandModelLayer

    return tuple(HandModelLayer(d) for d in hand_data_pair)


@pytest.fixture
def official_keys() -> list[tuple[str, tuple[int, ...], str]]:
    """``(key, shape, dtype)`` of every entry of the official model's state dict (``snapshot_{epoch}.pth.tar``)."""
    rows = []
    for line in OFFICIAL_KEYS_TSV.read_text().splitlines():
        if not line.strip():
            continue
        key, shape, _numel, dtype, _kind = line.split("\t")
        rows.append((key, () if shape == "scalar" else tuple(int(s) for s in shape.split("x")), dtype))
    return rows
