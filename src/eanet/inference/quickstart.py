"""``eanet quickstart``: the whole pipeline on a fresh machine, with no licensed file and no internet, in minutes.

1. ``eanet synth``: a synthetic two-hand dataset (built-in open hand model, InterHand2.6M layout), with the
   viewpoints and hand orientations narrowed (``--view-spread 0.25``) so that minutes of training can learn it, and
   a smaller held-out split of other captures.
2. ``eanet train --config synthetic-cpu`` for a few hundred steps: the architecture of the CPU recipe that learns to
   read hands from pixels (light ResNet-18 trunk at stride 16: 128 px crops, an 8x8 heatmap; docs/train.md), trained
   for minutes instead of its hour, evaluated on held-out images before and after, next to the image-blind
   baselines (:mod:`eanet.train.baseline`): the summary says how far below the mean hand it got.
3. Evaluation of the exported model file (``model.safetensors``) on the held-out split (same protocol and
   samples as the "before" number).
4. ``eanet predict`` on held-out synthetic images (ground-truth crop boxes) and on the user's photos (``--photos``,
   already cropped to the hands, as the official demo's inputs): JSON, OBJ/PLY/GLB meshes, overlay, side view.

The model it trains has seen synthetic images of the open hand model for a few minutes: its meshes on real photos are
not meaningful, and its predictions say so (warnings in ``prediction.json``); for real photos use ``--fit keypoints``
or a model trained on InterHand2.6M.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eanet.config import load_config
from eanet.data import build_dataset
from eanet.data.synthetic_manifest import synthetic_gt_hand_model_data
from eanet.errors import UserError
from eanet.eval.runner import make_train_evaluate_fn
from eanet.inference.export import write_json
from eanet.inference.inputs import InputItem, collect_inputs
from eanet.inference.predictor import Predictor
from eanet.inference.runner import OutputOptions, predict_inputs
from eanet.run_checkpoint import load_checkpoint
from eanet.train.build import train

__all__ = ["QuickstartSettings", "QuickstartResult", "run_quickstart"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QuickstartSettings:
    """Sizes of the quickstart run (defaults: a few minutes on a 2-core CPU)."""

    #: Synthetic time steps of the training split; images = frames x cameras.
    frames: int = 600
    #: Time steps of the held-out split (other captures and subjects).
    test_frames: int = 64
    cameras: int = 2
    #: Frames per synthetic motion sequence: few, so that the training images hold many distinct poses.
    frames_per_sequence: int = 4
    #: Side of the square synthetic images (pixels); the two-hand crop is resampled to the model's 128 px.
    image_size: int = 160
    #: ``eanet synth --view-spread``: cameras and hand orientations narrowed around a front view (1: everything, which
    #: a network trained from scratch for minutes cannot learn; docs/synthetic.md).
    view_spread: float = 0.25
    #: Optimiser steps of the training run.
    train_steps: int = 300
    batch_size: int = 16
    #: Held-out images scored before and after training (and by the mean-pose baseline).
    eval_samples: int = 128
    #: Held-out synthetic images run through ``predict``.
    synthetic_predictions: int = 4
    #: Data-loader worker processes (one keeps a 2-core CPU busy without oversubscribing it).
    workers: int = 1
    seed: int = 0
    #: Photos (files, folders, globs) already cropped to the hands, run through ``predict --cropped``.
    photos: tuple[str, ...] = ()

    @classmethod
    def quick(cls, **changes: Any) -> QuickstartSettings:
        """A trimmed run for tests and smoke checks (well under a minute of work)."""
        base = dict(frames=4, test_frames=4, cameras=2, image_size=128, train_steps=2, batch_size=4, eval_samples=4,
                    synthetic_predictions=2, workers=0)  # fmt: skip
        return cls(**{**base, **changes})


@dataclass
class QuickstartResult:
    out_dir: Path
    data_dir: Path
    run_dir: Path
    checkpoint: Path
    eval_json: Path
    metrics_before: dict[str, float]
    metrics_after: dict[str, float]
    metrics_baseline: dict[str, float] = field(default_factory=dict)
    predictions: dict[str, Any] = field(default_factory=dict)
    failed_inputs: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def distance_from_mean_lines(self) -> list[str]:
        """How far the trained model got below the image-blind baselines (a share of each; below 100 %: it reads
        something from the pixels; the hour-long ``synthetic-cpu`` recipe gets under 60 % and 50 %)."""
        out = []
        for key, unit, what in (("mpjpe_all", "mm", "MPJPE against the training set's mean pose"),
                                ("joints2d_err_px_all", "px", "2D joint error against its mean 2D joints")):  # fmt: skip
            after, base = self.metrics_after.get(key, math.nan), self.metrics_baseline.get(key, math.nan)
            if not (math.isfinite(after) and math.isfinite(base) and base > 0):
                continue
            verdict = "below" if after < base else "NOT below"
            out.append(f"      {what}: {after:.2f} vs {base:.2f} {unit} = {after / base:.0%} of the baseline "
                       f"({verdict} the image-blind baseline)")  # fmt: skip
        return out

    def lines(self) -> list[str]:
        """What the user reads at the end: every output and where it is."""
        lines = ["", "eanet quickstart finished (" + ", ".join(f"{k} {v:.0f} s" for k, v in self.seconds.items()) + ")"]
        lines.append(f"  synthetic dataset      {self.data_dir}/")
        lines.append(f"  training run           {self.run_dir}/  (config.yaml, log.jsonl, tensorboard/, checkpoints/)")
        lines.append(f"  model file             {self.checkpoint}")
        lines.append(f"  evaluation             {self.eval_json}")
        lines.append(f"      {'held-out (mm; _px: px)':<28s} {'before':>8s}    {'after':>8s}  {'mean-pose baseline':>19s}")
        # 3D errors in mm; joints2d_err_px: 2D joint error in input-crop pixels (the heatmap branch, docs/eval.md).
        for key in sorted(set(self.metrics_before) & set(self.metrics_after)):
            if key.startswith(("mpjpe", "mpvpe", "mrrpe", "joints2d_err_px")) and "single" not in key:
                before, after = self.metrics_before[key], self.metrics_after[key]
                base = self.metrics_baseline.get(key, math.nan)
                if math.isfinite(before) and math.isfinite(after):
                    shown = f"{base:19.2f}" if math.isfinite(base) else f"{'-':>19s}"
                    lines.append(f"      {key:<28s} {before:8.2f} -> {after:8.2f}  {shown}  (before -> after training)")
        lines += self.distance_from_mean_lines()
        for name, info in self.predictions.items():
            lines.append(f"  predictions ({name}){' ' * max(1, 10 - len(name))}{info['dir']}/  summary: {info['summary']}")
            for folder in info["folders"]:
                lines.append(f"      {folder}/  prediction.json right.obj left.obj right.ply left.ply hands.glb "
                             "overlay.png side.png joints.png")  # fmt: skip
        if self.failed_inputs:
            lines.append(f"  {self.failed_inputs} input(s) failed; see the summaries above")
        lines += [
            "",
            "This model trained for minutes on synthetic images of the open hand model: the shares above say how much",
            "it reads from the pixels of held-out synthetic images (the hour-long recipe, eanet train --config",
            "synthetic-cpu, gets further: docs/train.md). On real photos it draws roughly the average hands, and its",
            "predictions carry that warning. For real photos: eanet predict PHOTO --fit keypoints (MediaPipe keypoints",
            "fitted by the hand model), a model trained on InterHand2.6M with the MANO files (eanet train --config",
            "eanet data.root=... hand_model.kind=mano), or the official checkpoint (eanet predict PHOTO --checkpoint",
            "snapshot_29.pth.tar --mano-dir MANO_DIR --out OUT).",
        ]
        return lines


def _prepare_out(out_dir: Path) -> None:
    """Create ``out_dir``; an earlier quickstart there is replaced, anything else there is left alone (refused)."""
    ours = ("data", "run", "predictions", "eval.json", "quickstart.json")
    if out_dir.exists() and any(out_dir.iterdir()):
        if not (out_dir / "quickstart.json").is_file():
            raise UserError(f"{out_dir} is not empty and was not written by `eanet quickstart` (no quickstart.json); "
                            "refusing to delete anything there. Choose another --out.")  # fmt: skip
        logger.info("replacing the earlier quickstart in %s", out_dir)
        for name in ours:
            path = out_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)


def _train_config(settings: QuickstartSettings, data_dir: Path, run_dir: Path, progress: bool):
    """The ``synthetic-cpu`` configuration sized to ``settings`` (epochs cover ``train_steps``)."""
    train_images = settings.frames * settings.cameras
    steps_per_epoch = max(1, train_images // settings.batch_size)
    epochs = max(1, math.ceil(settings.train_steps / steps_per_epoch))
    milestones = sorted({m for m in (int(epochs * 0.75), int(epochs * 0.9)) if 0 < m < epochs})
    overrides = [
        f"data.root='{data_dir}'",
        f"output_dir='{run_dir}'",
        f"seed={settings.seed}",
        f"data.num_workers={settings.workers}",
        f"train.batch_size={settings.batch_size}",
        f"train.epochs={epochs}",
        f"train.max_steps={settings.train_steps}",
        f"train.lr_milestones={milestones}",
        "train.eval_every_epochs=0",
        "train.eval_before_training=true",
        "train.eval_mean_baseline=true",
        "train.checkpoint_every_epochs=0",
        f"train.eval_max_samples={settings.eval_samples}",
        "train.checkpoint_every_steps=0",
        f"train.log_every_steps={max(1, min(10, settings.train_steps // 4))}",
        f"train.progress_bar={'true' if progress else 'false'}",
        # eval.num_workers stays at data.num_workers: with the pre-training evaluation run in this process without
        # workers, the training loader's forked workers hung (observed with `eanet train ... eval.num_workers=0`).
        f"eval.batch_size={min(32, max(1, settings.eval_samples))}",
        "device=cpu",
    ]
    return load_config("synthetic-cpu", overrides)


def _synthetic_items(cfg, data_dir: Path, count: int) -> list:
    """Held-out synthetic images with their ground-truth crop boxes (interacting hands first)."""
    import numpy as np

    dataset = build_dataset(cfg.data, "test", input_size=cfg.model.input_size, heatmap_shape=cfg.model.heatmap_shape,
                            hand_model_data=synthetic_gt_hand_model_data(data_dir))  # fmt: skip
    n = len(dataset)
    if n == 0 or count <= 0:
        return []
    hand_type = np.asarray(dataset.index.annotations["hand_type"])[np.asarray(dataset.rows)]
    interacting = [i for i in range(n) if hand_type[i] == 2]
    pool = interacting if len(interacting) >= count else list(range(n))
    picks = [pool[round(k * (len(pool) - 1) / max(1, count - 1))] for k in range(min(count, len(pool)))]
    items = []
    for i in dict.fromkeys(picks):
        path = dataset.image_path(i)
        items.append(InputItem(source=str(path), kind="image", path=path,
                               box=tuple(float(v) for v in dataset.bboxes[i]), box_format="crop"))  # fmt: skip
    return items


def _synthesize(settings: QuickstartSettings, data_dir: Path, progress: bool) -> None:
    """``eanet synth`` in a child process.

    Rendering loads Mesa's llvmpipe (LLVM) through EGL; importing torchvision's models afterwards (they load triton's
    own LLVM) crashes the process, and forking data-loader workers from a process holding a GL context is asking for
    trouble. A separate process keeps this one free of both.
    """
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "eanet", "synth", "--out", str(data_dir), "--num-frames", str(settings.frames),
           "--cameras", str(settings.cameras), "--splits", "train,test", "--seed", str(settings.seed),
           "--split-frames", f"test={settings.test_frames}",
           "--frames-per-sequence", str(settings.frames_per_sequence),
           "--image-size", f"{settings.image_size}x{settings.image_size}",
           "--view-spread", str(settings.view_spread)]  # fmt: skip
    if not progress:
        cmd.append("--no-progress")
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None, text=True)
    if proc.returncode != 0:
        raise UserError(f"generating the synthetic dataset failed (exit {proc.returncode}; command: {' '.join(cmd)})")


def run_quickstart(
    out_dir: str | Path,
    settings: QuickstartSettings = QuickstartSettings(),
    *,
    progress: bool = True,
) -> QuickstartResult:
    """Run the four stages (module docstring) under ``out_dir``; returns where everything is.

    ``out_dir`` must be empty, new, or hold an earlier quickstart (which is replaced).
    """
    import torch

    out_dir = Path(out_dir)
    _prepare_out(out_dir)
    write_json({"settings": dataclasses.asdict(settings), "status": "running"}, out_dir / "quickstart.json")
    data_dir, run_dir, pred_dir = out_dir / "data", out_dir / "run", out_dir / "predictions"
    seconds: dict[str, float] = {}

    # 1. data
    t0 = time.perf_counter()
    logger.info("quickstart 1/4: synthetic dataset (%d + %d held-out frames x %d cameras, %dx%d) -> %s",
                settings.frames, settings.test_frames, settings.cameras, settings.image_size, settings.image_size,
                data_dir)  # fmt: skip
    _synthesize(settings, data_dir, progress)
    seconds["data"] = time.perf_counter() - t0

    # 2. training
    t0 = time.perf_counter()
    cfg = _train_config(settings, data_dir, run_dir, progress)
    device = torch.device(cfg.device)
    logger.info("quickstart 2/4: training synthetic-cpu for %d steps on the CPU -> %s", settings.train_steps, run_dir)
    result = train(cfg, device)
    checkpoint = run_dir / "model.safetensors"
    if not checkpoint.is_file():
        raise UserError(f"training did not write {checkpoint}; see the log above")
    seconds["train"] = time.perf_counter() - t0

    # 3. evaluation of the exported file (what a user gets), same held-out samples as the "before" number
    t0 = time.perf_counter()
    logger.info("quickstart 3/4: evaluating %s on held-out synthetic images", checkpoint)
    model, model_cfg = load_checkpoint(checkpoint, device)
    evaluate = make_train_evaluate_fn(cfg, device, gt_hand_model_data=synthetic_gt_hand_model_data(data_dir),
                                      write_json=False)  # fmt: skip
    after = evaluate(model, 0)
    del model
    eval_json = write_json({"protocol": cfg.eval.protocol, "dataset": str(data_dir), "split": "test",
                            "samples": settings.eval_samples, "checkpoint": str(checkpoint),
                            "train_steps": result.global_step, "before_training": result.initial_metrics,
                            "after_training": after, "mean_pose_baseline": result.baseline_metrics},
                           out_dir / "eval.json")  # fmt: skip
    seconds["eval"] = time.perf_counter() - t0

    # 4. predictions
    t0 = time.perf_counter()
    logger.info("quickstart 4/4: eanet predict on held-out synthetic images and photos -> %s", pred_dir)
    predictions: dict[str, Any] = {}
    failed = 0
    with Predictor.from_checkpoint(checkpoint, device=device) as predictor:
        groups = [("synthetic", _synthetic_items(cfg, data_dir, settings.synthetic_predictions), OutputOptions(progress=progress))]
        if settings.photos:
            groups.append(("photos", collect_inputs(settings.photos), OutputOptions(cropped=True, progress=progress)))
        for name, items, options in groups:
            if not items:
                continue
            summary = predict_inputs(predictor, items, pred_dir / name, options)
            failed += len(summary.failed)
            folders = sorted({str(Path(r.outputs["json"]).parent) for r in summary.reports if r.status == "ok"})
            where = summary.summary_path or f"not written ({summary.summary_error})"
            predictions[name] = {"dir": str(pred_dir / name), "summary": str(where), "folders": folders}
            for line in summary.lines():
                logger.info("%s", line)
    seconds["predict"] = time.perf_counter() - t0

    out = QuickstartResult(out_dir, data_dir, run_dir, checkpoint, eval_json, result.initial_metrics, after,
                           result.baseline_metrics, predictions, failed, seconds)  # fmt: skip
    write_json({"settings": dataclasses.asdict(settings), "status": "complete", "seconds": seconds,
                "checkpoint": str(checkpoint), "eval": str(eval_json), "predictions": predictions,
                "failed_inputs": failed}, out_dir / "quickstart.json")  # fmt: skip
    return out


def settings_from_args(quick: bool, photos: Sequence[str], **changes: Any) -> QuickstartSettings:
    changes = {k: v for k, v in changes.items() if v is not None}
    changes["photos"] = tuple(photos)
    return QuickstartSettings.quick(**changes) if quick else QuickstartSettings(**changes)


def _jsonable(d: dict) -> str:  # pragma: no cover - debugging aid
    return json.dumps(d, indent=1, default=str)
