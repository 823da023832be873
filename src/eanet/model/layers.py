"""Small building blocks and pure functions shared by the EANet modules.

Numerics follow the official code (github.com/jkpark0825/EANet): ``PositionNet`` and ``RotationNet`` in
``common/nets/module.py``, ``soft_argmax_3d`` and ``sample_joint_features`` in ``common/utils/transforms.py``, and
``init_weights`` in ``main/model.py``; docstrings name the official function each choice comes from.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ConvBNReLU", "soft_argmax_3d", "sample_joint_features", "init_official_"]


class ConvBNReLU(nn.Module):
    """1x1 convolution (with bias) + BatchNorm + ReLU: the official ``make_conv_layers([in, out], kernel=1)``.

    Args:
        in_channels: input channels.
        out_channels: output channels.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, in, h, w) -> (B, out, h, w)``."""
        return F.relu(self.bn(self.conv(x)))


def soft_argmax_3d(heatmap: Tensor) -> Tensor:
    """Soft-argmax over a 2.5D heatmap (Sun et al., "Integral human pose regression").

    A softmax over all ``D * h * w`` voxels of each joint (no temperature), then the expected voxel index along
    each axis, so coordinates are in voxel units: x in ``[0, w-1]``, y in ``[0, h-1]``, z in ``[0, D-1]``.
    Same as the official ``soft_argmax_3d`` (``common/utils/transforms.py:108``).

    Args:
        heatmap: ``(B, J, D, h, w)`` logits.

    Returns:
        ``(B, J, 3)`` ``(x, y, z)``.
    """
    B, J, D, h, w = heatmap.shape
    prob = F.softmax(heatmap.reshape(B, J, D * h * w), dim=2).reshape(B, J, D, h, w)  # (B, J, D, h, w)
    x = (prob.sum(dim=(2, 3)) * torch.arange(w, dtype=prob.dtype, device=prob.device)).sum(-1)  # (B, J)
    y = (prob.sum(dim=(2, 4)) * torch.arange(h, dtype=prob.dtype, device=prob.device)).sum(-1)  # (B, J)
    z = (prob.sum(dim=(3, 4)) * torch.arange(D, dtype=prob.dtype, device=prob.device)).sum(-1)  # (B, J)
    return torch.stack((x, y, z), dim=2)  # (B, J, 3)


def sample_joint_features(feat: Tensor, joints_xy: Tensor) -> Tensor:
    """Bilinear features at sub-pixel joint positions (official ``sample_joint_features``, ``transforms.py:80``).

    Pixel ``x`` maps to ``x / (w - 1) * 2 - 1`` with ``align_corners=True``, which matches the soft-argmax
    convention (pixel centres at integer indices 0..w-1); outside the map the padding is zero.

    Args:
        feat: ``(B, C, h, w)`` feature map.
        joints_xy: ``(B, J, 2)`` positions in feature-map pixels.

    Returns:
        ``(B, J, C)``.
    """
    h, w = feat.shape[2:]
    x = joints_xy[..., 0] / (w - 1) * 2 - 1  # (B, J)
    y = joints_xy[..., 1] / (h - 1) * 2 - 1  # (B, J)
    grid = torch.stack((x, y), dim=2)[:, :, None, :]  # (B, J, 1, 2)
    sampled = F.grid_sample(feat, grid, mode="bilinear", padding_mode="zeros", align_corners=True)  # (B, C, J, 1)
    return sampled[..., 0].transpose(1, 2)  # (B, J, C)


@torch.no_grad()
def init_official_(module: nn.Module) -> None:
    """The official ``init_weights`` (``main/model.py:118-144``), for use with ``Module.apply``.

    Conv2d: weights N(0, 0.001), bias 0. Linear: weights N(0, 0.01), bias 0 (bias-less Linears get the weight
    init only, as the official ``try/except AttributeError`` ends up doing). BatchNorm: (1, 0). LayerNorm keeps
    PyTorch's default (1, 0). Free parameters (positional embeddings, cls tokens) are not touched: they are drawn
    from ``randn`` (std 1) where they are created.
    """
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, std=0.001)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=0.01)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
