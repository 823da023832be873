"""The EANet network: building it from a configuration, official checkpoints and our checkpoint format.

Public entry points:

* :func:`build_model` — the one place that turns a :class:`ModelConfig` into constructor arguments.
* :func:`load_official` — the official release's weights (``snapshot_*.pth.tar``) in our model.
* :func:`save_model` / :func:`load_model` — our checkpoints (safetensors + the resolved configuration; the
  ``Config``-level versions are :mod:`eanet.run_checkpoint`).

Example:
    >>> from eanet.model import load_official
    >>> model = load_official("snapshot_29.pth.tar", mano_dir="path/to/mano")  # doctest: +SKIP
    >>> pred = model(img)  # img: (B, 3, 256, 256) RGB in [0, 1]  # doctest: +SKIP
    >>> pred.right.verts_cam.shape  # (B, 778, 3), wrist-relative metres  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eanet.model.config import ModelConfig

if TYPE_CHECKING:
    from collections.abc import Mapping

    from torch import Tensor, nn

    from eanet.hand_model.config import HandModelConfig
    from eanet.model.eanet import EANet

__all__ = [
    "ARCHITECTURES",
    "ModelConfig",
    "build_model",
    "model_kwargs",
    "load_official",
    "save_model",
    "load_model",
]

#: Registered architecture names (``ModelConfig.name``). Every paper variant is a field value of ``eanet``.
ARCHITECTURES: tuple[str, ...] = ("eanet",)


def model_kwargs(cfg: ModelConfig) -> dict:
    """Constructor keyword arguments of :class:`~eanet.model.eanet.EANet` for a configuration."""
    if cfg.name not in ARCHITECTURES:
        from eanet.config_dict import ConfigError

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
        initialised as the official code does (spec §1.7).
    """
    import torch

    from eanet.model.eanet import EANet

    if hand_models is None:
        from eanet.hand_model import build_hand_models
        from eanet.hand_model.config import HandModelConfig

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


def __getattr__(name: str):
    # Lazy re-exports, so `import eanet.model` (e.g. for ModelConfig) does not import torch.
    if name == "load_official":
        from eanet.model.official import load_official

        return load_official
    if name in ("save_model", "load_model"):
        from eanet.model import checkpoint

        return getattr(checkpoint, name)
    if name == "EANet":
        from eanet.model.eanet import EANet

        return EANet
    raise AttributeError(f"module 'eanet.model' has no attribute {name!r}")
