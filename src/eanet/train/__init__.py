"""Training: the loop, exact-resume checkpoints, DDP helpers and the configuration-to-trainer builder.

Public API (imported lazily, so ``import eanet.config`` stays free of torch)::

    from eanet.train import train, build_trainer, Trainer, TrainResult, TrainConfig
"""

from __future__ import annotations

from eanet._lazy import lazy_exports
from eanet.train.config import LossWeightsConfig, TrainConfig

__all__ = ["TrainConfig", "LossWeightsConfig", "train", "build_trainer", "Trainer", "TrainResult", "NonFiniteLossError"]

# Lazy: `eanet.config` imports eanet.train.config, which runs this file, and a configuration must load and be checked
# (`eanet configs`, every command's config errors) without waiting for torch: these names are imported on first use.
_LAZY = {
    "train": "eanet.train.build",
    "build_trainer": "eanet.train.build",
    "Trainer": "eanet.train.loop",
    "TrainResult": "eanet.train.loop",
    "NonFiniteLossError": "eanet.train.loop",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
