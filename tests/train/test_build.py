"""Configuration checks and process settings of ``eanet.train.build`` / ``eanet.train.loop``."""

from __future__ import annotations

import os

import pytest
import torch


def test_input_and_heatmap_sizes_must_agree():
    from eanet.config import ConfigError, load_config
    from eanet.train.build import check_config

    check_config(load_config("small-synthetic"))  # consistent as shipped
    cfg = load_config("small-synthetic", ["data.input_size=[128,128]"])
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    assert "data.input_size" in str(err.value) and "model.input_size" in str(err.value)
    cfg = load_config("small-synthetic", ["model.input_size=[64,64]", "data.input_size=[64,64]"])
    with pytest.raises(ConfigError) as err:  # the model's heatmap is now 8 x 2 x 2
        check_config(cfg)
    assert "data.heatmap_shape" in str(err.value) and "[8, 2, 2]" in str(err.value)


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

    cfg = load_config("small-synthetic", ["model.input_size=[64,64]", "data.heatmap_shape=[8,2,2]"])
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
