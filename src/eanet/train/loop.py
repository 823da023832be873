"""The training loop: one process on the CPU or a GPU, or many GPUs/nodes under ``torchrun`` with DDP.

A plain loop in the style of torchvision's reference scripts and detectron2's ``plain_train_net.py``: each step is
``pred = model(img)`` → :func:`eanet.losses.compute_losses` → backward → optimiser step. Around it:

* the official schedule (``main/config.py``, ``common/base.py``): Adam, step decay per epoch, ``train.batch_size``
  images per process;
* optional autocast (bf16, or fp16 with a gradient scaler) and gradient clipping, both off by default as upstream;
* a step whose loss (on any process) or gradients are not finite is skipped — no update, counted, logged — and
  ``train.max_nonfinite_steps`` of them in a row stop the run with :class:`NonFiniteLossError`;
* checkpoints that resume exactly (:mod:`eanet.train.checkpoint`, :mod:`eanet.train.seeding`): an interrupted and
  resumed run ends with the same parameters, bit for bit on the CPU, as an uninterrupted one;
* rank 0 alone writes the configuration, logs (:class:`eanet.train.monitor.RunMonitor`) and checkpoints.

BatchNorm: the official code trained with ``nn.DataParallel``, whose replicas normalise each GPU's share of the batch
with its own statistics. One DDP process per GPU does the same (``train.batch_size`` images per BatchNorm), so the
per-GPU batch keeps the official meaning; ``train.sync_batchnorm`` normalises over all processes instead.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, default_collate

from eanet.config import Config, config_to_dict, dump_config
from eanet.data.sample import SkipCounter
from eanet.data.workers import init_loader_worker, single_threaded_opencv
from eanet.errors import InvalidInputError, UserError
from eanet.losses import compute_losses, total_loss
from eanet.model.backbone import init_backbone
from eanet.model.provenance import training_data_for_run
from eanet.train import distributed as dist_utils
from eanet.train.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    CheckpointManager,
    atomic_write,
    load_model_state,
    load_training_checkpoint,
    nonfinite_tensors,
)
from eanet.train.monitor import RunMonitor, format_duration
from eanet.train.optim import autocast_dtype, build_grad_scaler, build_optimizer, build_scheduler
from eanet.train.sampler import ResumableSampler
from eanet.train.seeding import (
    SeededDataset,
    get_rng_state,
    loader_generator,
    process_seed,
    seed_everything,
    set_rng_state,
)
from eanet.version import __version__

__all__ = [
    "Trainer",
    "TrainResult",
    "NonFiniteLossError",
    "NonFiniteModelError",
    "EvaluateFn",
    "move_to_device",
    "cpu_threads_for",
]

logger = logging.getLogger(__name__)

#: ``evaluate(model, epoch) -> metrics``: called on every process with the unwrapped model in eval mode; returns
#: scalar metrics (at least on rank 0), e.g. ``{"mpjpe_all": 12.3}``.
EvaluateFn = Callable[[nn.Module, int], Mapping[str, float]]


class NonFiniteLossError(UserError):
    """Too many consecutive training steps had a non-finite loss or gradient."""


class NonFiniteModelError(NonFiniteLossError):
    """The model's parameters or buffers (e.g. BatchNorm statistics) hold NaN or infinity: nothing is saved."""


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` leaves behind."""

    output_dir: Path
    global_step: int
    epochs_completed: int
    metrics: dict[str, float] = field(default_factory=dict)
    initial_metrics: dict[str, float] = field(default_factory=dict)
    #: Held-out metrics of the training set's mean pose (``train.eval_mean_baseline``), when computed.
    baseline_metrics: dict[str, float] = field(default_factory=dict)
    best: dict[str, Any] | None = None
    nonfinite_steps: int = 0
    stopped_at_max_steps: bool = False
    last_checkpoint: Path | None = None


@dataclass
class _Position:
    epoch: int = 0  # the epoch being trained (or the next one, when batches_done == 0)
    batches_done: int = 0  # batches of ``epoch`` already trained on
    global_step: int = 0  # batches trained on since the start of the run (skipped non-finite steps included)


def move_to_device(batch: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    """Tensors to ``device`` (asynchronously from pinned memory); other values unchanged."""
    non_blocking = device.type == "cuda"
    return {k: v.to(device, non_blocking=non_blocking) if isinstance(v, Tensor) else v for k, v in batch.items()}


def _collate(samples: list[Any]) -> Any:
    return default_collate(samples)


class Trainer:
    """Train a model on a dataset with the ``train`` section of a configuration.

    Args:
        cfg: the resolved configuration (``cfg.train``, ``cfg.seed`` and ``cfg.output_dir`` are used here; it is
            saved with the run and in every checkpoint).
        device: this process's device (``cuda:LOCAL_RANK`` under torchrun on GPUs).
        model: the network, on the CPU or ``device``; ``forward(img) -> TwoHandPrediction``.
        train_dataset: a map-style dataset of sample dicts (see ``eanet.data.sample``).
        collate_fn: batches samples (default: ``torch.utils.data.default_collate``).
        batch_transform: applied to each batch on the device before the forward pass (e.g. the batched hand-model
            pass that adds ``mano_*`` targets).
        evaluate: the held-out evaluation (see :data:`EvaluateFn`), or None.
    """

    def __init__(
        self,
        cfg: Config,
        device: torch.device,
        model: nn.Module,
        train_dataset: Dataset,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        batch_transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        evaluate: EvaluateFn | None = None,
    ) -> None:
        self.cfg = cfg
        self.tcfg = cfg.train
        self.device = device
        self.rank = dist_utils.get_rank()
        self.world_size = dist_utils.get_world_size()
        self.is_main = self.rank == 0
        self.output_dir = Path(cfg.output_dir)
        self.collate_fn = collate_fn or _collate
        self.batch_transform = batch_transform
        self.evaluate_fn = evaluate
        self.loss_weights = asdict(self.tcfg.loss_weights)
        self.num_workers = cfg.data.num_workers
        self.amp_dtype = autocast_dtype(self.tcfg)
        if self.amp_dtype is torch.float16 and device.type != "cuda":
            raise UserError("train.amp=fp16 needs a CUDA device; use train.amp=bf16 or none on the CPU")

        single_threaded_opencv()
        threads = cpu_threads_for(self.tcfg.cpu_threads, device, self.num_workers)
        if threads is not None and threads != torch.get_num_threads():
            logger.info("intra-op threads: %d (was %d; train.cpu_threads)", threads, torch.get_num_threads())
            torch.set_num_threads(threads)

        if self.tcfg.deterministic:
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        elif device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed input size, as upstream

        self.train_dataset = SeededDataset(train_dataset, cfg.seed)
        self.sampler = ResumableSampler(
            len(train_dataset), self.world_size, self.rank, shuffle=True, seed=cfg.seed, drop_last=True
        )
        self.steps_per_epoch = self.sampler.num_samples // self.tcfg.batch_size
        if self.steps_per_epoch < 1:
            raise UserError(
                f"the training set has {len(train_dataset)} samples, fewer than one batch of "
                f"{self.tcfg.batch_size} per process x {self.world_size} process(es); lower train.batch_size"
            )

        model = model.to(device)
        if self.tcfg.sync_batchnorm and self.world_size > 1:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        self.model = model  # unwrapped: what is saved and evaluated
        self.optimizer = build_optimizer(self.tcfg, model)
        self.scheduler = build_scheduler(self.tcfg, self.optimizer)
        self.scaler = build_grad_scaler(self.tcfg, device)
        self.params = [p for group in self.optimizer.param_groups for p in group["params"]]
        self.checkpoints = CheckpointManager(self.output_dir / "checkpoints", self.tcfg.keep_last, self.tcfg.best_mode)

        self.position = _Position()
        self.nonfinite_total = 0
        self.nonfinite_consecutive = 0
        self.last_metrics: dict[str, float] = {}
        self._saved_step = -1
        #: The newest checkpoint known to hold a finite model (every one this run writes is checked first).
        self.last_good_checkpoint: Path | None = None
        if self.is_main:
            self.checkpoints.best()  # a damaged best.json is an error now, not after hours of training
        resume_path = self._resolve_resume()
        if resume_path is not None:
            self._load(resume_path)
            self._saved_step = self.position.global_step
            self.last_good_checkpoint = resume_path
        else:
            self._fresh_start()

        if self.world_size > 1:
            self.ddp_model: nn.Module = nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None
            )
        else:
            self.ddp_model = model

        self.monitor = RunMonitor(
            self.output_dir,
            enabled=self.is_main,
            progress_bar=self.tcfg.progress_bar,
            tensorboard=self.tcfg.tensorboard,
            resume_step=self.position.global_step,
        )
        if self.is_main:
            text = dump_config(cfg).encode()
            atomic_write(self.output_dir / "config.yaml", lambda f: f.write(text))  # a full disk keeps the old one

    # ------------------------------------------------------------------------------------------------------------
    # start and resume

    def _resolve_resume(self) -> Path | None:
        spec = self.tcfg.resume
        if spec is None:
            existing = self.checkpoints.latest()
            if existing is not None:
                raise UserError(
                    f"{self.output_dir} already holds checkpoints of a run (newest: {existing.name}); continue it with "
                    f"train.resume=auto, or choose a new output_dir=... to start another run"
                )
            return None
        if spec == "auto":
            path = self.checkpoints.latest()
            if path is None:
                logger.info("train.resume=auto: no checkpoint in %s, starting a new run", self.checkpoints.directory)
            return path
        return Path(spec)

    def _fresh_start(self) -> None:
        init = self.tcfg.backbone_init
        if init is not None:
            backbone = getattr(self.model, "backbone", None)
            if backbone is None or not hasattr(backbone, "load_pretrained"):
                raise UserError(
                    f"train.backbone_init={init!r}, but the model has no backbone with pretrained weights to load; "
                    "set train.backbone_init=null"
                )
            init_backbone(backbone, init)
        # Same seed on every process: identical data order bookkeeping; DDP broadcasts rank 0's weights anyway.
        # Per-process generators (dropout) then differ by rank.
        seed_everything(process_seed(self.cfg.seed, self.rank))

    def _load(self, path: Path) -> None:
        state = load_training_checkpoint(path)
        load_model_state(self.model, state["model"], source=str(path))
        bad, count = nonfinite_tensors(self.model)
        if count:
            others = [p.name for _, p in self.checkpoints.step_files() if p.resolve() != path.resolve()]
            raise InvalidInputError(
                f"{path} holds a model with NaN or infinite values in {count} tensor(s) ({', '.join(bad)}); training "
                "from it cannot recover. Resume from an earlier checkpoint with train.resume=PATH"
                + (f" (others in {self.checkpoints.directory}: {', '.join(others)})" if others else "")
                + ", or start a new run."
            )
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self._apply_configured_schedule()
        self.scaler.load_state_dict(state["scaler"])
        pos = state["position"]
        self.position = _Position(pos["epoch"], pos["batches_done"], pos["global_step"])
        counters = state.get("counters", {})
        self.nonfinite_total = counters.get("nonfinite_total", 0)
        self.nonfinite_consecutive = counters.get("nonfinite_consecutive", 0)
        self.last_metrics = dict(state.get("metrics", {}))
        same_layout = pos.get("world_size") == self.world_size and pos.get("batch_size") == self.tcfg.batch_size
        if self.position.batches_done and not same_layout:
            logger.warning(
                "the checkpoint was written with %s process(es) x batch %s, this run has %d x %d: the interrupted epoch "
                "%d restarts from its beginning",
                pos.get("world_size"),
                pos.get("batch_size"),
                self.world_size,
                self.tcfg.batch_size,
                self.position.epoch + 1,
            )
            self.position.global_step -= self.position.batches_done
            self.position.batches_done = 0
        rng = state.get("rng", [])
        if len(rng) == self.world_size:
            set_rng_state(rng[self.rank])
        else:
            seed_everything(process_seed(self.cfg.seed, self.rank, self.position.global_step))
        logger.info(
            "resumed from %s: epoch %d, batch %d of %d, step %d",
            path,
            self.position.epoch + 1,
            self.position.batches_done,
            self.steps_per_epoch,
            self.position.global_step,
        )
        old_cfg = state.get("config_dict")
        if isinstance(old_cfg, dict):
            changed = _diff_configs(old_cfg, config_to_dict(self.cfg))
            if changed:
                logger.warning("the configuration differs from the checkpoint's in: %s", ", ".join(changed))

    def _apply_configured_schedule(self) -> None:
        """After loading a scheduler state: if the configuration now asks for another schedule, follow it.

        The loaded state carries the milestones, factor and base rate of the run that wrote it; a resumed run whose
        configuration changed them (e.g. a longer schedule) gets the configured ones, with the rate of the current
        epoch recomputed. An unchanged configuration leaves the loaded state untouched (bit-exact resume).
        """
        sched, tcfg = self.scheduler, self.tcfg
        wanted = (sorted(tcfg.lr_milestones), tcfg.lr_gamma, [tcfg.lr] * len(sched.base_lrs))
        loaded = (sorted(sched.milestones.elements()), sched.gamma, list(sched.base_lrs))
        if wanted == loaded:
            return
        sched.milestones = Counter(tcfg.lr_milestones)
        sched.gamma = tcfg.lr_gamma
        sched.base_lrs = [tcfg.lr] * len(sched.base_lrs)
        passed = sum(1 for m in tcfg.lr_milestones if m <= sched.last_epoch)
        lr = tcfg.lr * tcfg.lr_gamma**passed
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        sched._last_lr = [lr] * len(self.optimizer.param_groups)
        logger.warning(
            "the learning-rate schedule differs from the checkpoint's (milestones, gamma, lr %s -> %s); following the "
            "configuration: lr %.3g from epoch %d",
            loaded,
            wanted,
            lr,
            sched.last_epoch + 1,
        )

    # ------------------------------------------------------------------------------------------------------------
    # checkpoints

    def _state(self) -> dict[str, Any]:
        rng = dist_utils.all_gather(get_rng_state())  # collective: every process calls _state
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "eanet_version": __version__,
            "config": dump_config(self.cfg),
            "config_dict": config_to_dict(self.cfg),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rng,
            "position": {
                "epoch": self.position.epoch,
                "batches_done": self.position.batches_done,
                "global_step": self.position.global_step,
                "steps_per_epoch": self.steps_per_epoch,
                "world_size": self.world_size,
                "batch_size": self.tcfg.batch_size,
            },
            "counters": {
                "nonfinite_total": self.nonfinite_total,
                "nonfinite_consecutive": self.nonfinite_consecutive,
            },
            "metrics": dict(self.last_metrics),
            # What these weights were trained on: exported model files record it, predictions warn from it.
            "training_data": training_data_for_run(self.cfg.data, self.position.global_step).to_dict(),
        }

    def save_checkpoint(self) -> Path | None:
        """Write a checkpoint of the current position (collective; rank 0 writes). Returns its path on rank 0.

        Raises:
            NonFiniteModelError: a parameter or buffer is NaN or infinite. Nothing is written and nothing is pruned:
                a poisoned checkpoint would replace the good ones under ``train.keep_last`` and be what
                ``train.resume=auto`` reloads.
        """
        if self._saved_step == self.position.global_step:
            return self.checkpoints.latest() if self.is_main else None
        self._check_model_finite()
        state = self._state()
        path = None
        if self.is_main:
            path = self.checkpoints.save(state, self.position.global_step)
            logger.info("checkpoint %s", path)
        self._saved_step = self.position.global_step
        self.last_good_checkpoint = self.checkpoints.directory / f"step_{self.position.global_step:08d}.pt"
        return path

    def _check_model_finite(self) -> None:
        """Raise :class:`NonFiniteModelError` (on every process alike) when the model holds NaN or infinity."""
        bad, count = nonfinite_tensors(self.model)
        # BatchNorm statistics are per process: every process must agree, or only some would stop.
        finite = dist_utils.all_reduce_min(torch.tensor([0 if count else 1], dtype=torch.int32, device=self.device))
        if bool(finite.item()):
            return
        where = f"{count} tensor(s) such as {', '.join(bad)}" if count else "tensors of another process"
        raise NonFiniteModelError(
            f"training stopped at step {self.position.global_step}: the model holds NaN or infinite values in "
            f"{where} (e.g. BatchNorm statistics after an overflowing batch, or weights that diverged). No "
            f"checkpoint was written for this step and none was pruned. {self._resume_advice()}"
        )

    def _resume_advice(self) -> str:
        """Where to continue after a numerical failure: the last checkpoint known to hold a finite model."""
        advice = (
            "What to try: lower train.lr, set train.grad_clip_norm (e.g. 1.0), use train.amp=none or bf16, check the "
            "data; then "
        )
        if self.last_good_checkpoint is None:
            return advice + f"start again: no checkpoint of a finite model was written in {self.checkpoints.directory}."
        return advice + f"resume from the last checkpoint of a finite model: train.resume={self.last_good_checkpoint}"

    # ------------------------------------------------------------------------------------------------------------
    # one step

    def _train_step(self, batch: dict[str, Any]) -> tuple[dict[str, Tensor], Tensor | None, bool]:
        """Forward, backward and update. Returns the detached loss terms, the gradient norm and whether it stepped."""
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(
            self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None
        ):
            pred = self.ddp_model(batch["img"])
        if self.amp_dtype is not None:
            pred = pred.to(torch.float32)  # losses in fp32
        losses = compute_losses(pred, batch, self.loss_weights)
        loss = total_loss(losses)
        finite = dist_utils.all_reduce_min(torch.isfinite(loss.detach()).to(torch.int32).reshape(1))
        detached = {k: v.detach() for k, v in losses.items()}
        if not bool(finite.item()):
            # No backward at all, on every process, so DDP's gradient all-reduce stays in step.
            return detached, None, False
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        grads = [p.grad for p in self.params if p.grad is not None]
        if self.tcfg.grad_clip_norm is not None:
            grad_norm = nn.utils.clip_grad_norm_(self.params, self.tcfg.grad_clip_norm)
        else:
            grad_norm = nn.utils.get_total_norm(grads) if grads else torch.zeros((), device=self.device)
        if not self.scaler.is_enabled() and not bool(torch.isfinite(grad_norm).item()):
            # Gradients are identical on every process after DDP's all-reduce, so every process agrees here.
            self.optimizer.zero_grad(set_to_none=True)
            return detached, grad_norm.detach(), False
        self.scaler.step(self.optimizer)  # with fp16, skips the update itself when gradients overflowed
        self.scaler.update()
        return detached, grad_norm.detach(), True

    def _count_nonfinite(self, stepped: bool, losses: Mapping[str, Tensor]) -> None:
        if stepped:
            self.nonfinite_consecutive = 0
            return
        self.nonfinite_total += 1
        self.nonfinite_consecutive += 1
        bad = sorted(k for k, v in losses.items() if not torch.isfinite(v))
        logger.warning(
            "step %d skipped: non-finite %s (%d in a row, %d in all)",
            self.position.global_step,
            f"loss term(s) {', '.join(bad)}" if bad else "gradients",
            self.nonfinite_consecutive,
            self.nonfinite_total,
        )
        self.monitor.record(
            "event",
            self.position.global_step,
            {"nonfinite_consecutive": self.nonfinite_consecutive, "nonfinite_total": self.nonfinite_total},
            event="nonfinite_step",
            terms=bad,
        )
        if self.nonfinite_consecutive >= self.tcfg.max_nonfinite_steps:
            raise NonFiniteLossError(
                f"training stopped at step {self.position.global_step}: {self.nonfinite_consecutive} consecutive steps "
                f"had a non-finite loss or gradient (last bad terms: {', '.join(bad) or 'gradients only'}); no update "
                "was applied for them. Likely causes: a learning rate too high for this batch size, fp16 overflow, "
                f"or NaN/inf in *valid* targets of the data. {self._resume_advice()}"
            )

    # ------------------------------------------------------------------------------------------------------------
    # the loop

    def _loader(self, epoch: int) -> DataLoader:
        self.sampler.set_epoch(epoch, start=self.position.batches_done * self.tcfg.batch_size)
        workers = self.num_workers
        return DataLoader(
            self.train_dataset,
            batch_size=self.tcfg.batch_size,
            sampler=self.sampler,
            num_workers=workers,
            collate_fn=self.collate_fn,
            pin_memory=self.device.type == "cuda",
            drop_last=True,
            generator=loader_generator(self.cfg.seed, epoch),
            worker_init_fn=init_loader_worker if workers > 0 else None,
            persistent_workers=False,
        )

    def _lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def _evaluate(self, epoch: int) -> dict[str, float]:
        if self.evaluate_fn is None:
            return {}
        # Evaluation must not change the randomness training sees (dropout, augmentation seeds are per sample).
        saved = get_rng_state()
        # Each process updated its own BatchNorm statistics since DDP's last broadcast; evaluate with rank 0's,
        # the ones that are saved.
        dist_utils.broadcast_buffers(self.model)
        self.model.eval()
        try:
            with torch.no_grad():
                metrics = {k: float(v) for k, v in self.evaluate_fn(self.model, epoch).items()}
        finally:
            self.model.train()
            set_rng_state(saved)
        return metrics

    def _at_max_steps(self) -> bool:
        return self.tcfg.max_steps is not None and self.position.global_step >= self.tcfg.max_steps

    def _evaluate_and_record(self, epoch: int, label: str) -> dict[str, float]:
        t0 = time.perf_counter()
        metrics = self._evaluate(epoch)
        self.last_metrics = metrics
        shown = ", ".join(f"{k} {v:.3f}" for k, v in metrics.items())
        logger.info("%s evaluation (%.0f s): %s", label, time.perf_counter() - t0, shown)
        self.monitor.record("eval", self.position.global_step, metrics, epoch=epoch + 1)
        return metrics

    def _stop_mid_epoch(self, epoch: int) -> Path | None:
        """``train.max_steps`` ended the run inside an epoch: the final evaluation (if any) and a checkpoint."""
        metrics: dict[str, float] = {}
        if self.tcfg.eval_every_epochs > 0 and self.evaluate_fn is not None:
            label = f"step {self.position.global_step} (train.max_steps, epoch {epoch + 1} unfinished)"
            metrics = self._evaluate_and_record(epoch, label)
        path = self.save_checkpoint()
        self._update_best(path, metrics, epoch)
        return path

    def _end_of_epoch(self, epoch: int, epoch_losses: dict[str, float], epoch_time: float, skipped: int) -> None:
        epochs = self.tcfg.epochs
        self.scheduler.step()
        self.position = _Position(epoch + 1, 0, self.position.global_step)
        record = {f"loss/{k}": v for k, v in epoch_losses.items()}
        record.update({"time_s": epoch_time, "lr_next": self._lr(), "skipped_samples": skipped})
        self.monitor.record("epoch", self.position.global_step, record, epoch=epoch + 1)
        final = epoch + 1 == epochs or self._at_max_steps()
        due = self.tcfg.eval_every_epochs > 0 and ((epoch + 1) % self.tcfg.eval_every_epochs == 0 or final)
        metrics: dict[str, float] = {}
        if due and self.evaluate_fn is not None:
            metrics = self._evaluate_and_record(epoch, f"epoch {epoch + 1}/{epochs}")
        every = self.tcfg.checkpoint_every_epochs
        if final or metrics or (every > 0 and (epoch + 1) % every == 0):
            path = self.save_checkpoint()
            self._update_best(path, metrics, epoch)

    def _update_best(self, path: Path | None, metrics: Mapping[str, float], epoch: int) -> None:
        metric = self.tcfg.best_metric
        if self.is_main and path is not None and metric and metric in metrics:
            value = metrics[metric]
            if math.isfinite(value) and self.checkpoints.update_best(
                path, metric, value, {"epoch": epoch + 1, "global_step": self.position.global_step}
            ):
                logger.info("new best %s %.4f at epoch %d: %s", metric, value, epoch + 1, path.parent / "best.pt")
        elif self.is_main and metric and metrics and metric not in metrics:
            logger.warning("train.best_metric %r is not among the evaluation's metrics %s", metric, sorted(metrics))

    def fit(self) -> TrainResult:
        """Train from the current position to the end of ``train.epochs`` (or ``train.max_steps``)."""
        tcfg = self.tcfg
        clock = _StepClock(total_steps=self._total_steps(), images_per_step=tcfg.batch_size * self.world_size)
        if self.is_main:
            self._log_run_start(clock.images_per_step)
        last_path: Path | None = None
        stopped = False
        skip_counter = SkipCounter()  # unreadable samples, reported (and reset) at the end of each epoch
        initial = self._evaluate_before_training()
        self.model.train()
        with contextlib.closing(self.monitor):
            while self.position.epoch < tcfg.epochs and not stopped:
                if self._at_max_steps():
                    stopped = True
                    break
                epoch = self.position.epoch
                outcome = self.train_one_epoch(epoch, clock, skip_counter)
                last_path = outcome.checkpoint or last_path
                if outcome.completed:
                    skipped = _report_skipped(skip_counter, epoch)
                    self._end_of_epoch(epoch, outcome.losses, time.perf_counter() - outcome.started, skipped)
                    last_path = self.checkpoints.latest() if self.is_main else None
                    stopped = self._at_max_steps()
                elif outcome.stopped:
                    stopped = True
                    last_path = self._stop_mid_epoch(epoch) or last_path
        if stopped and self.is_main:
            logger.info("stopped at train.max_steps=%d (step %d)", tcfg.max_steps, self.position.global_step)
        best = self.checkpoints.best() if self.is_main else None
        return TrainResult(
            output_dir=self.output_dir,
            global_step=self.position.global_step,
            epochs_completed=self.position.epoch,
            metrics=dict(self.last_metrics),
            initial_metrics=initial,
            best=best,
            nonfinite_steps=self.nonfinite_total,
            stopped_at_max_steps=stopped,
            last_checkpoint=last_path,
        )

    def train_one_epoch(self, epoch: int, clock: _StepClock, skip_counter: SkipCounter) -> _EpochOutcome:
        """Train on the batches of ``epoch`` from the current position, until the epoch ends or ``train.max_steps``.

        Each step: forward, losses, backward and optimiser step (:meth:`_train_step`), the non-finite bookkeeping,
        the progress bar, a ``train`` log record every ``train.log_every_steps`` steps and a checkpoint every
        ``train.checkpoint_every_steps`` steps. The end of the epoch (scheduler step, evaluation, epoch checkpoint)
        is :meth:`fit`'s.
        """
        tcfg = self.tcfg
        loader = self._loader(epoch)
        self.monitor.start_epoch(epoch, tcfg.epochs, self.steps_per_epoch, initial=self.position.batches_done)
        losses_so_far = _EpochLosses()
        outcome = _EpochOutcome(started=time.perf_counter())
        t_last = time.perf_counter()
        t_log = t_last
        for batch in loader:
            if "skipped" in batch:
                skip_counter.update(batch["skipped"])
            t_data = time.perf_counter() - t_last
            losses = self._train_on_batch(batch, losses_so_far)
            now = time.perf_counter()
            clock.tick(now - t_last)
            t_last = now
            self._update_progress_bar(losses, clock)
            if tcfg.log_every_steps and self.position.global_step % tcfg.log_every_steps == 0:
                self._log_train_steps(epoch, losses_so_far, clock, t_data, elapsed=now - t_log)
                t_log = now
            if self.position.batches_done >= self.steps_per_epoch:
                break
            every = tcfg.checkpoint_every_steps
            if every and self.position.global_step % every == 0:
                outcome.checkpoint = self.save_checkpoint() or outcome.checkpoint
            if self._at_max_steps():
                outcome.stopped = True
                break
        self.monitor.end_epoch()
        if self.position.batches_done >= self.steps_per_epoch:
            outcome.completed = True
            if losses_so_far.steps_since_log:  # the tail since the last log line
                losses_so_far.reduce_since_log()
            outcome.losses = losses_so_far.epoch_means()
        return outcome

    def _train_on_batch(self, batch: dict[str, Any], losses_so_far: _EpochLosses) -> dict[str, Tensor]:
        """One training step on a loader batch; advances the position. Returns the step's detached loss terms."""
        batch = move_to_device(batch, self.device)
        if self.batch_transform is not None:
            batch = self.batch_transform(batch)
        losses, grad_norm, stepped = self._train_step(batch)
        self.position.batches_done += 1
        self.position.global_step += 1
        self._count_nonfinite(stepped, losses)
        if stepped:
            losses_so_far.add(losses, grad_norm)
        return losses

    def _update_progress_bar(self, losses: Mapping[str, Tensor], clock: _StepClock) -> None:
        step_time = clock.step_time_ema
        self.monitor.update_bar(
            loss=f"{sum(v.item() for v in losses.values()):.4g}" if self.monitor.show_bar else "",
            lr=f"{self._lr():.2e}",
            img_s=f"{clock.images_per_step / max(step_time, 1e-9):.1f}",
            eta=format_duration(clock.remaining(self.position.global_step) * step_time),
        )

    def _log_train_steps(
        self, epoch: int, losses_so_far: _EpochLosses, clock: _StepClock, data_time: float, elapsed: float
    ) -> None:
        """The ``train`` record of the steps since the last one: mean losses over them and every process (collective)."""
        grad_norm = losses_so_far.grad_norm_last
        reduced = losses_so_far.reduce_since_log()
        values: dict[str, Any] = {f"loss/{k}": v.item() for k, v in reduced.items()}
        values["loss"] = sum(values.values()) if values else float("nan")
        values.update(
            {
                "lr": self._lr(),
                "grad_norm": grad_norm.item() if grad_norm is not None else float("nan"),
                "images_per_s": clock.images_per_step * self.tcfg.log_every_steps / max(elapsed, 1e-9),
                "data_time_s": data_time,
                "eta_s": clock.remaining(self.position.global_step) * (clock.step_time_ema or 0.0),
                "nonfinite_total": self.nonfinite_total,
            }
        )
        if self.device.type == "cuda":
            values["max_memory_gb"] = torch.cuda.max_memory_allocated(self.device) / 2**30
        self.monitor.record("train", self.position.global_step, values, epoch=epoch + 1)

    def _total_steps(self) -> int:
        total = self.tcfg.epochs * self.steps_per_epoch
        return total if self.tcfg.max_steps is None else min(total, self.tcfg.max_steps)

    def _log_run_start(self, images_per_step: int) -> None:
        n_params = sum(p.numel() for p in self.params)
        logger.info(
            "training %s trainable parameters on %s x %d process(es), %d images per step, %d steps per epoch, "
            "epochs %d (milestones %s), output %s",
            f"{n_params:,}",
            self.device,
            self.world_size,
            images_per_step,
            self.steps_per_epoch,
            self.tcfg.epochs,
            list(self.tcfg.lr_milestones),
            self.output_dir,
        )

    def _evaluate_before_training(self) -> dict[str, float]:
        """``train.eval_before_training`` on a new run: the untrained model's metrics (recorded at step 0)."""
        if not self.tcfg.eval_before_training or self.position.global_step != 0 or self.evaluate_fn is None:
            return {}
        initial = self._evaluate(-1)
        shown = ", ".join(f"{k} {v:.3f}" for k, v in initial.items())
        logger.info("evaluation before training: %s", shown)
        self.monitor.record("eval", 0, initial, epoch=0)
        return initial


@dataclass
class _StepClock:
    """Step timing across epochs: an exponential moving average of the seconds per step, for rates and the ETA."""

    total_steps: int
    images_per_step: int
    step_time_ema: float | None = None

    def tick(self, seconds: float) -> None:
        ema = self.step_time_ema
        self.step_time_ema = seconds if ema is None else 0.9 * ema + 0.1 * seconds

    def remaining(self, global_step: int) -> int:
        return self.total_steps - global_step


@dataclass
class _EpochLosses:
    """The loss terms of one epoch's updating steps: summed on this process since the last log line, and the
    process-averaged means of the logged windows weighted by their steps (the epoch's mean losses)."""

    since_log: dict[str, Tensor] = field(default_factory=dict)
    steps_since_log: int = 0
    epoch_sums: dict[str, float] = field(default_factory=dict)
    epoch_steps: int = 0
    grad_norm_last: Tensor | None = None

    def add(self, losses: Mapping[str, Tensor], grad_norm: Tensor | None) -> None:
        for k, v in losses.items():
            self.since_log[k] = self.since_log.get(k, 0) + v
        self.steps_since_log += 1
        self.grad_norm_last = grad_norm

    def reduce_since_log(self) -> dict[str, Tensor]:
        """Mean of each term since the last log line, averaged over processes (collective); starts a new window."""
        steps = self.steps_since_log
        reduced = dist_utils.reduce_dict({k: v / max(steps, 1) for k, v in self.since_log.items()})
        for k, v in reduced.items():
            self.epoch_sums[k] = self.epoch_sums.get(k, 0.0) + v.item() * steps
        self.epoch_steps += steps
        self.since_log, self.steps_since_log = {}, 0
        return reduced

    def epoch_means(self) -> dict[str, float]:
        means = {k: v / max(self.epoch_steps, 1) for k, v in self.epoch_sums.items()}
        means["total"] = sum(means.values())
        return means


@dataclass
class _EpochOutcome:
    """How :meth:`Trainer.train_one_epoch` ended."""

    started: float  # ``time.perf_counter()`` when the epoch's loader was ready
    completed: bool = False  # every batch of the epoch was trained on
    stopped: bool = False  # ``train.max_steps`` was reached inside the epoch
    losses: dict[str, float] = field(default_factory=dict)  # the epoch's mean loss terms, when completed
    checkpoint: Path | None = None  # the newest step checkpoint written during the epoch (rank 0)


def cpu_threads_for(configured: int | None, device: torch.device, num_workers: int) -> int | None:
    """Intra-op threads for a training process (``train.cpu_threads``); None: leave torch's setting alone.

    On a CPU device the default is the cores this process may use, shared among the processes of this node
    (``LOCAL_WORLD_SIZE`` under torchrun), minus the data-loader workers, at least 1: the workers run one thread each
    (:func:`eanet.data.workers.init_loader_worker`), so more would oversubscribe the cores, and a thread waiting for a core stalls every parallel
    operator of the step.
    """
    if configured is not None:
        return configured
    if device.type != "cpu":
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    local_processes = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(1, cores // local_processes - num_workers)


def _report_skipped(counter: SkipCounter, epoch: int) -> int:
    """Surface the samples the dataset could not read this epoch (summed over processes)."""
    local = len(counter)
    if local:
        counter.report(f"epoch {epoch + 1} (rank {dist_utils.get_rank()})")
    total = sum(dist_utils.all_gather(local))
    if total and dist_utils.is_main_process():
        logger.warning("epoch %d: %d training sample(s) were unreadable and replaced by others", epoch + 1, total)
    return total


def _diff_configs(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    changed = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        name = f"{prefix}{key}"
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            changed += _diff_configs(a, b, name + ".")
        elif a != b:
            changed.append(f"{name} ({a!r} -> {b!r})")
    return changed
