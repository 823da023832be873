"""Optimiser, learning-rate schedule and gradient scaler from a :class:`TrainConfig`.

The official code optimises the backbone, the position and the rotation networks with one Adam parameter group at
1e-4, no weight decay, and sets the learning rate per epoch: ``lr * 0.1 ** (number of milestones passed)``.
"""

from __future__ import annotations

import torch
from torch import nn

from eanet.train.config import TrainConfig

__all__ = ["build_optimizer", "build_scheduler", "build_grad_scaler", "trainable_parameters"]


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Parameters that require gradients (the hand-model layers hold buffers only, so they never appear)."""
    return [p for p in model.parameters() if p.requires_grad]


def build_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    params = trainable_parameters(model)
    if not params:
        raise ValueError("the model has no trainable parameters")
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}")


def build_scheduler(cfg: TrainConfig, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
    """Step decay stepped once per epoch: epochs ``[0, m1)`` at ``lr``, ``[m1, m2)`` at ``lr * gamma``, ..."""
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(cfg.lr_milestones), gamma=cfg.lr_gamma)


def build_grad_scaler(cfg: TrainConfig, device: torch.device) -> torch.amp.GradScaler:
    """A loss scaler for fp16 autocast; disabled (a no-op with an empty state) for fp32 and bf16."""
    return torch.amp.GradScaler(device.type, enabled=cfg.amp == "fp16")


def autocast_dtype(cfg: TrainConfig) -> torch.dtype | None:
    return {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[cfg.amp]
