"""Turning a :class:`~eanet.model.config.ModelConfig` into an :class:`~eanet.model.eanet.EANet`: the one place that
maps configuration fields onto constructor arguments."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from eanet.config_dict import ConfigError
from eanet.hand_model import build_hand_models
from eanet.hand_model.config import HandModelConfig
from eanet.model.config import ModelConfig
from eanet.model.eanet import EANet

__all__ = ["ARCHITECTURES", "model_kwargs", "build_model"]

#: Registered architecture names (``ModelConfig.name``). Every paper variant is a field value of ``eanet``.
ARCHITECTURES: tuple[str, ...] = ("eanet",)


def model_kwargs(cfg: ModelConfig) -> dict:
    """Constructor keyword arguments of :class:`~eanet.model.eanet.EANet` for a configuration."""
    if cfg.name not in ARCHITECTURES:
        raise ConfigError(f"model.name {cfg.name!r} is not a known architecture; known: {', '.join(ARCHITECTURES)}")
    return dict(
        backbone=cfg.backbone,
        backbone_weights=cfg.backbone_weights,
        input_size=tuple(cfg.input_size),
        output_stride=cfg.output_stride,
        backbone_stages=cfg.backbone_stages,
        width=cfg.width,
        num_heads=cfg.num_heads,
        mlp_ratio=cfg.mlp_ratio,
        sa_depth=cfg.sa_depth,
        ca_depth=cfg.ca_depth,
        sjt_depth=cfg.sjt_depth,
        sjt_num_heads=cfg.sjt_num_heads,
        heatmap_depth=cfg.heatmap_depth,
        separate_hands=cfg.separate_hands,
        interaction=cfg.interaction,
        cross_attention_query=cfg.cross_attention_query,
        cross_attention_kv=cfg.cross_attention_kv,
    )


def build_model(
    model_cfg: ModelConfig,
    hand_model_cfg: HandModelConfig | None = None,
    *,
    hand_models: tuple[nn.Module, nn.Module] | None = None,
    state_dict: Mapping[str, Tensor] | None = None,
) -> EANet:
    """Build an :class:`~eanet.model.eanet.EANet` from its configuration.

    Args:
        model_cfg: the ``model`` section.
        hand_model_cfg: the ``hand_model`` section; the two hand-model layers are built from it. Ignored when
            ``hand_models`` is given.
        hand_models: ready ``(right, left)`` hand-model layers (e.g. from tests).
        state_dict: weights to load (strictly). The network is then created without initialising or downloading
            anything (on the meta device) and these tensors are assigned, which makes loading a checkpoint fast.

    Returns:
        The model on the CPU (or wherever ``state_dict`` lives) in training mode; without ``state_dict``
        initialised as the official code does (``init_weights``, ``main/model.py:118-144``).
    """
    if hand_models is None:
        hand_models = build_hand_models(hand_model_cfg if hand_model_cfg is not None else HandModelConfig())
    right, left = hand_models
    kwargs = model_kwargs(model_cfg)
    if state_dict is None:
        return EANet(right, left, **kwargs)
    with torch.device("meta"):
        model = EANet(None, None, **{**kwargs, "backbone_weights": None})
    model.load_state_dict(state_dict, strict=True, assign=True)
    model.set_hand_models(right, left)
    return model
