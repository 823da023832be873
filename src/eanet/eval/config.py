"""Configuration of evaluation (protocol preset, subset, batch)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EvalConfig:
    #: Protocol preset: ``official``, ``intaghand`` or ``interwild``.
    protocol: str = "official"
    batch_size: int = 8
