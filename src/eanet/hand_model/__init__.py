"""Hand models: the user's MANO files (loaded without chumpy) or the built-in open hand, run by one LBS layer.

Public API::

    from eanet.hand_model import build_hand_model, build_hand_models, HandModelLayer, load_hand_model_data

    right, left = build_hand_models(cfg.hand_model)          # (HandModelLayer, HandModelLayer)
    out = right(global_orient, hand_pose, betas)              # HandModelOutput: verts (B, 778, 3), joints (B, 21, 3)

Importing this package is cheap (``eanet.config`` imports :mod:`eanet.hand_model.config`); torch and NumPy load
when a layer or loader is first used (PEP 562 lazy attributes).
"""

from __future__ import annotations

from eanet._lazy import lazy_exports

__all__ = [
    "HAND_MODEL_KINDS",
    "HandModelData",
    "HandModelOutput",
    "HandModelLayer",
    "HandModelConfig",
    "build_hand_model",
    "build_hand_models",
    "load_hand_model_data",
    "load_hand_model_pair",
    "load_mano_data",
]

# Lazy: `eanet.config` imports eanet.hand_model.config, which runs this file, and a configuration must load and be
# checked (`eanet configs`, every command's config errors) without waiting for torch: the layers and loaders are
# imported on first use of these names.
_LAZY = {
    "HAND_MODEL_KINDS": "eanet.hand_model.build",
    "HandModelData": "eanet.hand_model.base",
    "HandModelOutput": "eanet.hand_model.base",
    "HandModelLayer": "eanet.hand_model.layer",
    "HandModelConfig": "eanet.hand_model.config",
    "build_hand_model": "eanet.hand_model.build",
    "build_hand_models": "eanet.hand_model.build",
    "load_hand_model_data": "eanet.hand_model.build",
    "load_hand_model_pair": "eanet.hand_model.build",
    "load_mano_data": "eanet.hand_model.mano",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
