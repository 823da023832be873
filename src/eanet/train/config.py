"""Configuration of training (optimiser, schedule, batch, precision, checkpoints, logging).

Defaults are the official release's (``main/config.py``, ``common/base.py``): Adam at 1e-4 without weight decay,
40 epochs with the learning rate divided by 10 at epochs 15 and 17, 32 images per GPU, fp32, no gradient clipping.
The paper's schedule (30 epochs, x0.1 at 10 and 15; the authors gave the factor in jkpark0825/EANet issue #2) is the
named configuration ``eanet-paper-schedule``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class LossWeightsConfig:
    """Weight of each loss term (``eanet.losses``); 0 turns a term off. Defaults: the official release's."""

    rel_trans: float = 1.0
    mano_pose: float = 1.0
    mano_betas: float = 1.0
    joints_cam: float = 10.0
    mano_joints_cam: float = 10.0
    joints_hm: float = 1.0
    mano_joints_hm: float = 1.0
    joints_proj: float = 1.0
    #: The vertex ("mesh") loss of the authors' list in issue #2; not in the released code, so off by default.
    verts_cam: float = 0.0


@dataclass(frozen=True)
class TrainConfig:
    # ---- optimisation
    #: ``adam`` (official), ``adamw`` or ``sgd`` (momentum).
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    #: Base learning rate.
    lr: float = 1e-4
    #: Weight decay (official: none).
    weight_decay: float = 0.0
    #: Adam/AdamW betas.
    betas: tuple[float, float] = (0.9, 0.999)
    #: SGD momentum.
    momentum: float = 0.9
    #: Epochs to train.
    epochs: int = 40
    #: Epochs at which the learning rate is multiplied by ``lr_gamma`` (official code: 15, 17; paper: 10, 15).
    lr_milestones: tuple[int, ...] = (15, 17)
    #: Learning-rate factor at each milestone (official: 0.1).
    lr_gamma: float = 0.1
    #: Clip the global gradient norm to this value; null: no clipping (official).
    grad_clip_norm: float | None = None
    #: Loss-term weights.
    loss_weights: LossWeightsConfig = field(default_factory=LossWeightsConfig)
    #: Stop after this many optimiser steps in total (smoke tests, benchmarks); null: run all epochs.
    max_steps: int | None = None

    # ---- initialisation
    #: Backbone weights loaded at the start of a *fresh* run (not on resume): ``imagenet`` (torchvision's weights
    #: API, as the official code), a path to a torchvision ResNet state dict, ``random`` (torchvision's own random
    #: initialisation, Kaiming-normal convolutions: no download, for training from scratch), or null (keep the model's
    #: official init, normal(0, 0.001) convolutions, which the official code always overwrote with ImageNet weights;
    #: measured on ``small-synthetic``: the backbone hardly learned in a few hundred Adam steps from it).
    backbone_init: str | None = "imagenet"

    # ---- batch (data-loader workers: ``data.num_workers``)
    #: Images per process and step (one process per GPU, so per GPU: official 32).
    batch_size: int = 32

    #: Intra-op threads of each training process (``torch.set_num_threads``); null: torch's default on a GPU, and on
    #: a CPU device the cores this process may use minus ``data.num_workers`` (at least 1). Workers plus compute
    #: threads beyond the core count oversubscribe the CPU: on the 2-core dev box (another process busy) a step of
    #: ``small-synthetic`` took 4-7 s with 2 threads and 1.1 s with 1 (docs/train.md).
    cpu_threads: int | None = None

    # ---- precision and distributed
    #: Autocast dtype: ``none`` (fp32, the official setting and exact resume), ``bf16`` or ``fp16`` (CUDA, with a
    #: gradient scaler).
    amp: Literal["none", "bf16", "fp16"] = "none"
    #: Synchronise BatchNorm statistics across processes (off: each process normalises its own batch, as the official
    #: DataParallel replicas did per GPU).
    sync_batchnorm: bool = False
    #: ``torch.use_deterministic_algorithms`` and no cuDNN autotuning (slower on GPU; CPU runs are deterministic).
    deterministic: bool = False

    # ---- checkpoints
    #: Resume from a training checkpoint: a path, ``auto`` (the latest in the run directory, if any) or null.
    resume: str | None = None
    #: Also write a checkpoint every this many steps inside an epoch (0: only at the end of each epoch).
    checkpoint_every_steps: int = 1000
    #: Write a checkpoint at the end of every this many epochs (0: none besides the ones below). A checkpoint is also
    #: written after every evaluation (so ``best.pt`` can point at it), at the end of the run and at
    #: ``train.max_steps``. A small model's checkpoint with its Adam state is still ~145 MB (``small-synthetic``).
    checkpoint_every_epochs: int = 1
    #: How many of the most recent checkpoints to keep (the best one is kept in addition).
    keep_last: int = 3
    #: Evaluation metric that selects ``best.pt`` (a key of the evaluator's result); null: no best checkpoint.
    best_metric: str | None = "mpjpe_all"
    #: ``min`` when a smaller value of ``best_metric`` is better (errors), ``max`` otherwise.
    best_mode: Literal["min", "max"] = "min"
    #: Stop with an error after this many consecutive steps whose loss or gradients are not finite.
    max_nonfinite_steps: int = 20

    # ---- logging and evaluation
    #: Log scalars (JSON lines, TensorBoard) every this many steps.
    log_every_steps: int = 20
    #: Evaluate on the held-out split every this many epochs and after the last one (also when ``train.max_steps``
    #: ends the run); 0: never.
    eval_every_epochs: int = 1
    #: Also evaluate once before the first step (the "from initialisation" number; fresh runs only).
    eval_before_training: bool = False
    #: Also score, before training, an image-blind predictor of the training set's mean pose (``eanet.train.baseline``)
    #: on the same held-out samples: the number a model must beat to show it learned from the images.
    eval_mean_baseline: bool = False
    #: Evaluate on at most this many held-out samples (null: all); quick checks on big test sets.
    eval_max_samples: int | None = None
    #: Show a progress bar on rank 0 (needs a terminal or a log that tolerates carriage returns).
    progress_bar: bool = True
    #: Write TensorBoard event files to ``<output_dir>/tensorboard``.
    tensorboard: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if list(self.lr_milestones) != sorted(self.lr_milestones):
            raise ValueError(f"lr_milestones must be increasing, got {list(self.lr_milestones)}")
        if not self.lr > 0:  # also false for NaN
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.keep_last < 1:
            raise ValueError(f"keep_last must be at least 1, got {self.keep_last}")
        if self.max_nonfinite_steps < 1:
            raise ValueError(f"max_nonfinite_steps must be at least 1, got {self.max_nonfinite_steps}")
        if self.grad_clip_norm is not None and not self.grad_clip_norm > 0:
            raise ValueError(f"grad_clip_norm must be positive or null, got {self.grad_clip_norm}")
        if self.checkpoint_every_epochs < 0:
            raise ValueError(f"checkpoint_every_epochs must be 0 or more, got {self.checkpoint_every_epochs}")
        if self.cpu_threads is not None and self.cpu_threads < 1:
            raise ValueError(f"cpu_threads must be at least 1 or null, got {self.cpu_threads}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be at least 1 or null, got {self.max_steps}")
