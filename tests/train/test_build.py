"""Configuration checks and process settings of ``eanet.train.build`` / ``eanet.train.loop``."""

from __future__ import annotations

import os

import pytest
import torch


def test_shipped_configs_size_crops_and_heatmaps_from_the_model_alone():
    from eanet.config import load_config
    from eanet.train.build import check_config

    for name, heatmap in (("small-synthetic", (8, 3, 3)), ("synthetic-cpu", (8, 8, 8)), ("eanet", (8, 8, 8))):
        cfg = load_config(name)
        check_config(cfg)
        assert cfg.model.heatmap_shape == heatmap  # the sizes these recipes were trained and measured with
        assert not hasattr(cfg.data, "input_size") and not hasattr(cfg.data, "heatmap_shape")


def test_cpu_threads_leave_room_for_the_workers(monkeypatch):
    from eanet.train.loop import cpu_threads_for

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    cpu = torch.device("cpu")
    assert cpu_threads_for(3, cpu, 8) == 3  # configured: as given
    assert cpu_threads_for(None, torch.device("cuda", 0), 2) is None  # GPU: torch's default
    assert cpu_threads_for(None, cpu, 0) == cores
    assert cpu_threads_for(None, cpu, cores + 5) == 1
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(cores))
    assert cpu_threads_for(None, cpu, 0) == 1


def test_cpu_threads_must_be_positive():
    from eanet.config import ConfigError, load_config

    with pytest.raises((ConfigError, ValueError), match="cpu_threads"):
        load_config("small-synthetic", ["train.cpu_threads=0"])


def test_backbone_init_random_replaces_the_tiny_official_init():
    from eanet.config import load_config
    from eanet.model import build_model
    from eanet.model.backbone import torchvision_random_init

    cfg = load_config("small-synthetic", ["model.input_size=[64,64]"])
    model = build_model(cfg.model, cfg.hand_model)
    conv = model.backbone.state_dict()["layer1.0.conv1.weight"]
    assert conv.std() < 0.01  # official init: normal(0, 0.001)
    torch.manual_seed(0)
    torchvision_random_init(model.backbone)
    first = model.backbone.state_dict()["layer1.0.conv1.weight"].clone()
    assert 0.02 < first.std() < 0.2  # Kaiming normal (fan-out) for a 3x3x64 convolution: ~0.06
    torch.manual_seed(0)
    torchvision_random_init(model.backbone)
    assert torch.equal(model.backbone.state_dict()["layer1.0.conv1.weight"], first)  # follows the seed
