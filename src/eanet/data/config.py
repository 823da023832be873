"""Configuration of datasets and the training/testing data pipeline."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DataConfig:
    #: Dataset name in ``eanet.data.DATASETS`` (``interhand26m``, ``hic``).
    dataset: str = "interhand26m"
    #: Root of the dataset in its release layout.
    root: str = "data/InterHand2.6M"
