"""From a configuration to a ready :class:`~eanet.train.loop.Trainer`: the one place training reads a ``Config``.

``train(cfg, device)`` is what ``eanet train`` runs (once per process under torchrun)::

    from eanet.config import load_config
    from eanet.train import train
    result = train(load_config("eanet", ["data.root=/data/InterHand2.6M"]), torch.device("cuda"))
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from eanet.config import Config, ConfigError
from eanet.data import build_collator, build_dataset
from eanet.data.collate import ManoTargetBuilder
from eanet.data.synthetic_manifest import synthetic_gt_hand_model_data
from eanet.errors import DiskFullError, UserError, disk_full_cause
from eanet.eval.runner import make_train_evaluate_fn, resolve_eval_data
from eanet.hand_model.consistency import check_hand_models
from eanet.model import build_model
from eanet.model.provenance import training_data_for_run
from eanet.run_checkpoint import save_checkpoint
from eanet.train import distributed as dist_utils
from eanet.train.baseline import MeanJoints2DModel, MeanPoseModel, mean_training_joints_hm, mean_training_pose
from eanet.train.checkpoint import CheckpointManager, disk_full_error, load_model_state, load_training_checkpoint
from eanet.train.loop import Trainer, TrainResult
from eanet.train.seeding import get_rng_state, seed_everything, set_rng_state

__all__ = [
    "check_config",
    "check_hand_models_for_training",
    "check_output_dir",
    "build_trainer",
    "train",
    "export_model",
    "evaluate_mean_baseline",
]

logger = logging.getLogger(__name__)


def check_config(cfg: Config) -> None:
    """Reject section combinations that cannot train together, naming the keys to change."""
    milestones = cfg.train.lr_milestones
    if milestones and milestones[-1] >= cfg.train.epochs:
        logger.warning("train.lr_milestones %s include epochs past train.epochs=%d", list(milestones), cfg.train.epochs)


def check_hand_models_for_training(cfg: Config) -> None:
    """``hand_model.kind`` must be the hand model of the training data's parameters (the targets are built with it),
    and, when the run evaluates, ``eval.gt_hand_model`` that of the held-out data
    (:func:`eanet.hand_model.consistency.check_hand_models`, the check ``eanet eval`` makes too).

    Raises:
        InvalidInputError: a mismatch, naming the setting to change.
    """
    check_hand_models(data_root=cfg.data.root, dataset=cfg.data.dataset, model_kind=cfg.hand_model.kind, training=True)
    if cfg.train.eval_every_epochs > 0 or cfg.train.eval_before_training:
        ev_data = resolve_eval_data(cfg)
        check_hand_models(data_root=ev_data.data.root, dataset=ev_data.dataset, gt_hand_model=cfg.eval.gt_hand_model)


def check_output_dir(output_dir: str | Path) -> Path:
    """Create the run directory if needed and make sure this process can write files in it.

    Called before the model and the data are built, so that a run directory that is a file, sits under a file, or
    is not writable fails in a second with a message naming it, not with a traceback minutes later.

    Raises:
        ConfigError: ``output_dir`` cannot hold the run; the message says why and what to do.
    """
    import os
    import tempfile

    path = Path(output_dir)
    what = f"output_dir={output_dir}"
    if path.exists() and not path.is_dir():
        raise ConfigError(
            f"{what} is an existing file, not a directory; the run writes its configuration, logs and checkpoints "
            "into a directory: choose another output_dir (a new or existing directory)"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        raise ConfigError(
            f"{what} cannot be created: {blocking or 'a part of the path'} is a file, not a directory; choose "
            "another output_dir"
        ) from None
    except OSError as err:
        raise ConfigError(
            f"{what} cannot be created ({err.strerror or err}); choose an output_dir on a writable disk, or fix the "
            "permissions of its parent directory"
        ) from None
    try:  # os.access can be wrong (network file systems, root, read-only mounts): try an actual file
        fd, probe = tempfile.mkstemp(prefix=".eanet-write-test-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise ConfigError(
            f"{what} is not writable ({err.strerror or err}); choose another output_dir, or make {path} writable "
            "for this user"
        ) from None
    return path


def build_trainer(cfg: Config, device: torch.device) -> Trainer:
    """Build the model, training set, collation, hand-model targets and held-out evaluation for ``cfg``."""
    check_config(cfg)
    check_output_dir(cfg.output_dir)  # before the minutes of building the model and opening the data
    seed_everything(cfg.seed)  # same initial weights on every process
    model = build_model(cfg.model, cfg.hand_model)
    right, left = model.hand_models["right"], model.hand_models["left"]
    # The crops and the heatmap targets are the model's sizes.
    sizes = dict(input_size=cfg.model.input_size, heatmap_shape=cfg.model.heatmap_shape)
    dataset = build_dataset(cfg.data, "train", cfg.hand_model, **sizes, seed=cfg.seed)
    check_hand_models_for_training(cfg)  # the data exists now; before the first step
    if device.type == "cuda":
        # The batched hand-model pass runs on the GPU; the workers only decode and warp images.
        collate = build_collator(None)
        # shares the model's (buffer-only) hand layers
        builder = ManoTargetBuilder(right, left, **sizes, bbox_3d_size=cfg.data.bbox_3d_size)
        batch_transform: Any = builder
    else:
        # On the CPU the workers are the parallelism: they run the hand-model pass too.
        collate = build_collator((right, left), cfg.data, **sizes)
        batch_transform = None
    evaluate = None
    if cfg.train.eval_every_epochs > 0 or cfg.train.eval_before_training:
        evaluate = make_train_evaluate_fn(cfg, device, gt_hand_model_data=synthetic_gt_hand_model_data(cfg.data.root))
    return Trainer(cfg, device, model, dataset, collate_fn=collate, batch_transform=batch_transform, evaluate=evaluate)


#: The mean pose is averaged over at most this many training samples (evenly spaced).
BASELINE_MAX_SAMPLES = 4000
#: The sample fields :func:`eanet.train.baseline.mean_training_pose` and ``mean_training_joints_hm`` read.
_BASELINE_KEYS = (
    "mano_pose_aa", "mano_betas", "mano_valid", "rel_trans", "rel_trans_valid", "joints_hm", "joints_valid_2d",
)  # fmt: skip


def evaluate_mean_baseline(cfg: Config, model: torch.nn.Module, device: torch.device) -> dict[str, float]:
    """Held-out metrics of the training set's mean pose (:mod:`eanet.train.baseline`), same samples and protocol as
    the training run's evaluation; logged, and written to ``<output_dir>/eval/mean_baseline.json`` on rank 0."""
    import dataclasses
    import json

    plain = dataclasses.replace(cfg.data, augment=False)
    dataset = build_dataset(plain, "train", cfg.hand_model, input_size=cfg.model.input_size,
                            heatmap_shape=cfg.model.heatmap_shape, seed=cfg.seed)  # fmt: skip
    # Each sample decodes and crops an image: read the evenly spaced subset once and keep only the targets that the
    # two means below use (a few hundred bytes a sample).
    n = len(dataset)
    count = min(n, BASELINE_MAX_SAMPLES)
    targets = []
    for i in sorted({int(k * n / count) for k in range(count)}):
        sample = dataset[i]
        if "mano_pose_aa" in sample:  # not an unreadable sample's skip record
            targets.append({key: sample[key] for key in _BASELINE_KEYS if key in sample})
    try:
        mean = mean_training_pose(targets)
    except ValueError as err:  # e.g. a tiny set with one hand only: nothing to average for the other
        logger.warning("mean-pose baseline skipped: %s", err)
        return {}
    try:
        mean_hm: torch.Tensor | None = mean_training_joints_hm(targets)
    except ValueError as err:
        logger.warning("mean 2D joints of the baseline skipped (its 2D error is then that of all-zero joints): %s", err)
        mean_hm = None
    evaluate = make_train_evaluate_fn(
        cfg, device, gt_hand_model_data=synthetic_gt_hand_model_data(cfg.data.root), write_json=False
    )
    blind: torch.nn.Module = MeanPoseModel(model, mean)
    if mean_hm is not None:
        blind = MeanJoints2DModel(blind, mean_hm)
    blind = blind.to(device).eval()
    saved = get_rng_state()  # the baseline must not change what training draws
    try:
        with torch.no_grad():
            metrics = {k: float(v) for k, v in evaluate(blind, -1).items()}
    finally:
        set_rng_state(saved)
        model.train()
    shown = ", ".join(f"{k} {v:.3f}" for k, v in metrics.items() if k.startswith(("mpjpe", "mpvpe", "joints2d")))
    logger.info("mean-pose baseline (training-set mean over %d/%d hands, no image): %s", *mean.counts, shown)
    if dist_utils.is_main_process():
        path = Path(cfg.output_dir) / "eval" / "mean_baseline.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {"what": "training-set mean pose (3D) and mean 2D joint positions in the crop (joints2d_err_px) "
                          "predicted for every held-out image", "hands": list(mean.counts),
                  "metrics": metrics}  # fmt: skip
        path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return metrics


def export_model(trainer: Trainer, cfg: Config, path: str | Path, *, global_step: int | None = None) -> Path:
    """Write the trained weights as a released model file (``eanet.model.checkpoint`` safetensors format), with what
    they were trained on (:mod:`eanet.model.provenance`: dataset, data root, synthetic or not, steps).

    Args:
        global_step: the steps the model's weights have had (default: the trainer's position; the best checkpoint's
            own step when its weights were loaded into the model).
    """
    path = Path(path)
    step = trainer.position.global_step if global_step is None else global_step
    training_data = training_data_for_run(cfg.data, step)
    if training_data.synthetic:
        logger.warning(
            "%s was trained only on synthetic images (%s): on real photos it draws roughly the average hands, and "
            "its predictions say so", path.name, training_data.root,
        )  # fmt: skip
    try:
        save_checkpoint(trainer.model, cfg, path, extra_metadata={"global_step": str(step)}, training_data=training_data)
    except Exception as err:
        full = disk_full_error(
            err, path, "the model weights", f"The training checkpoints in {trainer.checkpoints.directory} are intact."
        )
        if full is not None:
            raise full from err
        raise
    return path


def train(cfg: Config, device: torch.device) -> TrainResult:
    """Train with ``cfg`` on ``device``; rank 0 exports ``<output_dir>/model.safetensors`` (and ``best.safetensors``).

    Raises:
        DiskFullError: a write into the run directory (checkpoint, log, TensorBoard event, exported weights) failed
            for lack of space; the message names the run directory and its newest complete checkpoint.
    """
    try:
        return _train(cfg, device)
    except Exception as err:
        cause = None if isinstance(err, UserError) else disk_full_cause(err)
        if cause is None:
            raise
        directory = Path(cfg.output_dir)
        newest = CheckpointManager(directory / "checkpoints").latest()
        raise DiskFullError(
            f"the disk is full: a write into the run directory {directory} failed ({cause.strerror or cause}). "
            + (f"The newest complete checkpoint is {newest}. " if newest else "No checkpoint had been written yet. ")
            + "Free some space there (or move output_dir to a larger disk), then continue with train.resume=auto."
        ) from err


def _train(cfg: Config, device: torch.device) -> TrainResult:
    trainer = build_trainer(cfg, device)
    baseline: dict[str, float] = {}
    if cfg.train.eval_mean_baseline and trainer.position.global_step == 0 and trainer.evaluate_fn is not None:
        baseline = evaluate_mean_baseline(cfg, trainer.model, device)
    result = trainer.fit()
    result.baseline_metrics = baseline
    if dist_utils.is_main_process() and result.global_step > 0:
        out = export_model(trainer, cfg, Path(cfg.output_dir) / "model.safetensors")
        logger.info("model weights: %s", out)
        best_ckpt = Path(cfg.output_dir) / "checkpoints" / "best.pt"
        if best_ckpt.is_file():
            # The best epoch's weights as a released model file too (loaded into the trainer's model, then exported).
            state = load_training_checkpoint(best_ckpt)
            load_model_state(trainer.model, state["model"], source=str(best_ckpt))
            export_model(trainer, cfg, Path(cfg.output_dir) / "best.safetensors",
                         global_step=state["position"]["global_step"])  # fmt: skip
            logger.info("best weights (%s): %s", result.best, Path(cfg.output_dir) / "best.safetensors")
    return result
