"""Configuration of the EANet network (widths, depths, variants). Defaults are the official release's."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelConfig:
    #: Registered architecture name (see ``eanet.model.build_model``).
    name: str = "eanet"
    #: ``None``: random init (tests); ``imagenet``: torchvision's ImageNet weights API; or a path to a state dict.
    backbone_weights: str | None = None
    #: Input image size (height, width); the token grids follow from it (stride 32).
    input_size: tuple[int, int] = (256, 256)
