"""Overfit check: the real network, losses and data pipeline memorise 16 fixed synthetic images.

A model that cannot drive its training error to near zero on a handful of images has a bug between the pixels and the
loss (targets in the wrong frame, a detached branch, a mis-ordered joint table); one that can, but only learns the
average hand on held-out data, lacks data or capacity instead. This test tells the two apart in CI.

What is trained: the ``synthetic-cpu`` architecture family shrunk to 64 px crops (light ResNet-18 trunk, stride 16:
a 4x4 heatmap), on one fixed batch of the 16 images of a generated dataset, no augmentation, the release's loss
weights, Adam. What is measured, in eval mode (BatchNorm running statistics) on the same 16 images: the wrist-relative
MPJPE of the hand-model joints (mm, valid 3D joints) and the 2D joint error of the heatmap branch in crop pixels.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from eanet.config import load_config
from eanet.data import build_collator, build_dataset
from eanet.eval.metrics import heatmap_to_crop_scale, joint_errors_2d
from eanet.losses import compute_losses, total_loss
from eanet.model import build_model
from eanet.synth.config import SynthConfig
from eanet.synth.generate import generate_synthetic_dataset

#: Optimiser steps allowed; the run stops as soon as both bounds hold (checked every CHECK_EVERY steps).
MAX_STEPS = 600
CHECK_EVERY = 25
MPJPE_BOUND_MM = 5.0
JOINTS2D_BOUND_PX = 1.0


def _errors(model, batch, cfg) -> tuple[float, float]:
    """``(MPJPE mm, 2D joint error px)`` of ``model`` in eval mode on ``batch``."""
    model.eval()
    with torch.no_grad():
        pred = model(batch["img"])
    model.train()
    joints_cam = torch.cat([pred.right.joints_cam, pred.left.joints_cam], dim=1)  # (B, 42, 3) metres, wrist-relative
    valid_3d = batch["joints_valid"] * batch["is_3d"][:, None]  # (B, 42)
    dist_mm = (joints_cam - batch["joints_cam"]).norm(dim=-1) * 1000.0  # (B, 42)
    mpjpe_mm = float((dist_mm * valid_3d).sum() / valid_3d.sum())
    joints_hm = torch.cat([pred.right.joints_hm, pred.left.joints_hm], dim=1)  # (B, 42, 3)
    scale = heatmap_to_crop_scale(cfg.model.input_size, cfg.model.heatmap_shape)
    dist_px = joint_errors_2d(joints_hm, batch["joints_hm"], scale)  # (B, 42)
    valid_2d = batch["joints_trunc"]  # joints inside the crop and heatmap depth range, as the 2D loss uses
    return mpjpe_mm, float((dist_px * valid_2d).sum() / valid_2d.sum())


@pytest.mark.slow
def test_network_memorises_16_synthetic_images(tmp_path):
    root = tmp_path / "synth"
    synth = SynthConfig(num_frames=8, cameras=2, splits=("train",), seed=5, width=128, height=128,
                        frames_per_sequence=4, view_spread=0.25, hic_frames=0)  # fmt: skip
    generate_synthetic_dataset(synth, root, progress=False)
    cfg = load_config(
        "synthetic-cpu",
        [f"data.root={root}", "model.input_size=[64,64]", "data.augment=false"],
    )  # fmt: skip
    torch.manual_seed(0)
    model = build_model(cfg.model, cfg.hand_model)
    sizes = dict(input_size=cfg.model.input_size, heatmap_shape=cfg.model.heatmap_shape)  # (64, 64), (8, 4, 4)
    dataset = build_dataset(cfg.data, "train", cfg.hand_model, **sizes, seed=0)
    assert len(dataset) == 16
    collate = build_collator((model.hand_models["right"], model.hand_models["left"]), cfg.data, **sizes)
    batch = collate([dataset[i] for i in range(len(dataset))])
    weights = dataclasses.asdict(cfg.train.loss_weights)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=MAX_STEPS)

    before = _errors(model, batch, cfg)
    history = []
    for step in range(1, MAX_STEPS + 1):
        loss = total_loss(compute_losses(model(batch["img"]), batch, weights))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if step % CHECK_EVERY == 0:
            history.append((step, *_errors(model, batch, cfg)))
            if history[-1][1] < MPJPE_BOUND_MM and history[-1][2] < JOINTS2D_BOUND_PX:
                break
    step, mpjpe_mm, joints2d_px = history[-1]
    shown = ", ".join(f"step {s}: {m:.2f} mm {p:.2f} px" for s, m, p in history)
    assert before[0] > 20.0 and before[1] > 5.0, f"an untrained model should be far off, got {before}"
    assert mpjpe_mm < MPJPE_BOUND_MM, f"training MPJPE did not fall below {MPJPE_BOUND_MM} mm: {shown}"
    assert joints2d_px < JOINTS2D_BOUND_PX, f"training 2D error did not fall below {JOINTS2D_BOUND_PX} px: {shown}"
