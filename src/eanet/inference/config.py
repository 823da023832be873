"""Configuration of inference (predictor, detection, outputs, speed paths)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InferenceConfig:
    batch_size: int = 16
