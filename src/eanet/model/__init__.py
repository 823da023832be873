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

from eanet._lazy import lazy_exports
from eanet.model.config import ModelConfig

__all__ = [
    "ARCHITECTURES",
    "ModelConfig",
    "EANet",
    "build_model",
    "model_kwargs",
    "load_official",
    "save_model",
    "load_model",
]

# Lazy: `eanet.config` imports eanet.model.config, which runs this file, and a configuration must load and be checked
# (`eanet configs`, every command's config errors) without waiting for torch: the network's modules are imported on
# first use of these names.
_LAZY = {
    "ARCHITECTURES": "eanet.model.build",
    "build_model": "eanet.model.build",
    "model_kwargs": "eanet.model.build",
    "EANet": "eanet.model.eanet",
    "load_official": "eanet.model.official",
    "save_model": "eanet.model.checkpoint",
    "load_model": "eanet.model.checkpoint",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
