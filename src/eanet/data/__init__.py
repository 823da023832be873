"""Datasets and the training/testing data pipeline: InterHand2.6M and HIC readers, the annotation index, batching.

Public API::

    from eanet.data import build_dataset, build_dataloader, DATASETS

    sizes = dict(input_size=cfg.model.input_size, heatmap_shape=cfg.model.heatmap_shape)  # the model's
    train_set = build_dataset(cfg.data, "train", cfg.hand_model, **sizes, seed=cfg.seed)
    loader = build_dataloader(train_set, cfg.train.batch_size, (right_layer, left_layer), data_cfg=cfg.data, **sizes)
    for batch in loader:          # dict[str, Tensor] (see eanet.data.sample) + batch["skipped"]
        ...

Importing this package is cheap (``eanet.config`` imports :mod:`eanet.data.config`): torch, OpenCV and the readers
load on first use (PEP 562 lazy attributes).
"""

from __future__ import annotations

from eanet._lazy import lazy_exports

__all__ = [
    "DATASETS",
    "build_dataset",
    "build_collator",
    "build_dataloader",
    "InterHand26M",
    "HIC",
    "Collator",
    "ManoTargetBuilder",
    "SkipCounter",
    "SkippedSample",
]

# Lazy: `eanet.config` imports eanet.data.config, which runs this file, and a configuration must load and be checked
# (`eanet configs`, every command's config errors) without waiting for torch: the datasets and builders are imported
# on first use of these names.
_LAZY = {
    "DATASETS": "eanet.data.build",
    "build_dataset": "eanet.data.build",
    "build_collator": "eanet.data.build",
    "build_dataloader": "eanet.data.build",
    "InterHand26M": "eanet.data.interhand26m",
    "HIC": "eanet.data.hic",
    "Collator": "eanet.data.collate",
    "ManoTargetBuilder": "eanet.data.collate",
    "SkipCounter": "eanet.data.sample",
    "SkippedSample": "eanet.data.sample",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
