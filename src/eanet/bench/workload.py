"""What the benchmark runs on: the model and its weights, synthetic data, batches, and images for agreement checks.

Agreement must be judged on weights that do something: the official initialisation leaves the
regressors near zero, where the 6D-to-rotation conversion amplifies rounding. :func:`train_briefly` therefore trains
the model for a few optimiser steps on synthetic data (``eanet synth``) with the project's losses before it is
measured, unless a trained checkpoint is given.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from eanet.data import build_dataset
from eanet.data.collate import Collator, ManoTargetBuilder
from eanet.data.synthetic_manifest import STATUS_COMPLETE, read_synthetic_manifest
from eanet.errors import InvalidInputError
from eanet.losses import compute_losses, total_loss
from eanet.model import build_model
from eanet.run_checkpoint import load_checkpoint
from eanet.synth.config import SynthConfig
from eanet.synth.generate import generate_synthetic_dataset

if TYPE_CHECKING:
    from eanet.config import Config
    from eanet.model.eanet import EANet

__all__ = [
    "QUICK_OVERRIDES",
    "load_bench_model",
    "synthetic_root",
    "data_config",
    "model_sizes",
    "load_batches",
    "agreement_images",
    "train_briefly",
    "state_fingerprint",
    "move_batch",
]

logger = logging.getLogger(__name__)

#: ``--quick``: a tiny network (ResNet-18 trunk, 64x64 input, width 32, one block per transformer) for tests.
QUICK_OVERRIDES: tuple[str, ...] = (
    "model.backbone=resnet18",
    "model.input_size=[64,64]",
    "model.width=32",
    "model.num_heads=2",
    "model.sa_depth=1",
    "model.ca_depth=1",
    "model.sjt_depth=1",
    "model.sjt_num_heads=2",
    "model.heatmap_depth=4",
)


def load_bench_model(cfg: Config, checkpoint: str | None, seed: int = 0) -> tuple[EANet, Config, str]:
    """``(model on the CPU in eval mode, its Config, a description of the weights)``."""
    if checkpoint is not None:
        model, ckpt_cfg = load_checkpoint(checkpoint, "cpu", hand_model_cfg=cfg.hand_model)
        return model.eval(), dataclasses.replace(cfg, model=ckpt_cfg.model, hand_model=ckpt_cfg.hand_model), (
            f"checkpoint {Path(checkpoint).name}"
        )
    torch.manual_seed(seed)
    model = build_model(cfg.model, cfg.hand_model)
    return model.eval(), cfg, f"random initialisation (seed {seed})"


def synthetic_root(work_dir: Path, num_frames: int, cameras: int, size: tuple[int, int]) -> Path:
    """A synthetic InterHand2.6M-format set (train and test) under ``work_dir``, written once and reused.

    Args:
        size: image ``(width, height)`` (the release's is 334 x 512; real-size JPEGs make the data benchmark
            decode what training would decode).
    """
    root = work_dir / f"synth-{num_frames}x{cameras}-{size[0]}x{size[1]}"
    try:
        manifest = read_synthetic_manifest(root)
    except InvalidInputError as err:  # the benchmark's own cache: rewrite it, and say so
        logger.warning("%s; writing the cached dataset again", err)
        manifest = None
    if manifest is not None and manifest.get("status") == STATUS_COMPLETE:
        return root
    cfg = SynthConfig(num_frames=num_frames, cameras=cameras, splits=("train", "test"), width=size[0],
                      height=size[1], backend="torch", hic_frames=0)  # fmt: skip
    logger.info("writing a synthetic dataset (%d images) to %s", 2 * num_frames * cameras, root)
    generate_synthetic_dataset(cfg, root, overwrite=True, progress=False)
    return root


def data_config(cfg: Config, root: Path, num_workers: int = 0) -> Any:
    """The configuration's ``data`` section pointed at ``root`` (crop and heatmap sizes: :func:`model_sizes`)."""
    return dataclasses.replace(cfg.data, root=str(root), num_workers=num_workers)


def model_sizes(cfg: Config) -> dict[str, tuple[int, ...]]:
    """``input_size`` and ``heatmap_shape`` keyword arguments for the datasets and targets: the model's."""
    return {"input_size": tuple(cfg.model.input_size), "heatmap_shape": tuple(cfg.model.heatmap_shape)}


def _collate(samples: list[dict[str, Any]], builder: nn.Module | None) -> dict[str, Any]:
    return Collator(builder)(samples)


def load_batches(
    cfg: Config, root: Path, role: str, batch_size: int, num_batches: int, hand_models: tuple[nn.Module, nn.Module]
) -> list[dict[str, Any]]:
    """``num_batches`` collated batches (CPU tensors, hand-model targets included) from the synthetic set."""
    dcfg = data_config(cfg, root)
    dataset = build_dataset(dcfg, role, cfg.hand_model, **model_sizes(cfg))
    builder = ManoTargetBuilder(*hand_models, **model_sizes(cfg), bbox_3d_size=dcfg.bbox_3d_size)
    g = torch.Generator().manual_seed(0)
    batches = []
    for _ in range(num_batches):
        index = torch.randint(len(dataset), (batch_size,), generator=g).tolist()
        with torch.no_grad():
            batches.append(_collate([dataset[i] for i in index], builder))
    return batches


def agreement_images(cfg: Config, root: Path, count: int) -> Tensor:
    """``(count, 3, H, W)`` test crops of the synthetic set (no augmentation), repeated if the set is smaller."""
    dataset = build_dataset(data_config(cfg, root), "test", cfg.hand_model, **model_sizes(cfg))
    return torch.stack([torch.as_tensor(dataset[i % len(dataset)]["img"]) for i in range(count)])  # (N, 3, H, W)


def move_batch(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if isinstance(v, Tensor) else v for k, v in batch.items()}


def _cycle(batches: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    while True:
        yield from batches


def train_briefly(
    model: nn.Module, batches: Sequence[dict[str, Any]], steps: int, device: torch.device, lr: float = 1e-3
) -> nn.Module:
    """Train ``model`` for ``steps`` Adam steps on ``batches`` with the project's losses; returns it in eval mode.

    The BatchNorm statistics move with the data too, so every layer of the measured model carries trained values.
    """
    if steps <= 0:
        return model.eval()
    model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr)
    it = _cycle(batches)
    for step in range(steps):
        batch = move_batch(next(it), device)
        optimizer.zero_grad(set_to_none=True)
        loss = total_loss(compute_losses(model(batch["img"]), batch))
        loss.backward()
        optimizer.step()
        if step == 0 or step == steps - 1:
            logger.info("brief training step %d/%d: loss %.4f", step + 1, steps, float(loss.detach()))
    return model.eval()


def state_fingerprint(model: nn.Module) -> str:
    """Hash of the model's weights (CPU copies), to cache ONNX exports of exactly these weights."""
    digest = hashlib.sha256()
    for name, value in model.state_dict().items():
        digest.update(name.encode())
        digest.update(value.detach().to("cpu").contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def copy_model(model: nn.Module) -> nn.Module:
    return copy.deepcopy(model)
