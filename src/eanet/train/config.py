"""Configuration of training (optimiser, schedule, batch, checkpoints, logging)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrainConfig:
    #: Images per GPU (or per process on CPU) and step.
    batch_size: int = 32
    #: Adam learning rate.
    lr: float = 1e-4
