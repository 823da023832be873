"""Running an evaluation: the test data a protocol needs, the evaluation loop, ``eanet eval`` and the training hook.

* :func:`resolve_eval_data` turns the ``eval`` section into the test-data settings (dataset, subset, crops).
* :func:`evaluate_model` runs a model over a loader into an :class:`~eanet.eval.evaluator.Evaluator`.
* :func:`run_eval` is ``eanet eval``: checkpoint -> model, test set, evaluator, JSON and Figure 9 plot.
* :func:`make_train_evaluate_fn` gives the training loop its ``evaluate(model, epoch) -> metrics``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from eanet.config import config_to_dict
from eanet.data import build_dataloader, build_dataset
from eanet.data.collate import ManoTargetBuilder
from eanet.errors import InvalidInputError, MissingFileError
from eanet.eval.evaluator import Evaluator, HandRegressors
from eanet.eval.metrics import heatmap_to_crop_scale
from eanet.eval.pose_difference import plot_error_vs_pose_difference
from eanet.eval.protocols import Protocol, get_protocol
from eanet.eval.result import EvalResult, write_result_json
from eanet.hand_model import load_hand_model_data
from eanet.hand_model.config import HandModelConfig
from eanet.hand_model.consistency import check_hand_models
from eanet.hand_model.layer import HandModelLayer
from eanet.hand_model.mano import load_mano_pair
from eanet.model import load_official
from eanet.model.official import official_model_config
from eanet.run_checkpoint import load_checkpoint
from eanet.train import distributed as dist_utils

__all__ = [
    "EvalData",
    "resolve_eval_data",
    "load_gt_hand_model_data",
    "resolve_gt_hand_model",
    "build_evaluator",
    "evaluate_model",
    "run_eval",
    "EvalOutputs",
    "make_train_evaluate_fn",
]

logger = logging.getLogger(__name__)

#: Protocol subset label -> ``data.test_subset`` value, and back.
_DATA_SUBSET = {"H+M": "HM", "H": "H"}
_SUBSET_LABEL = {"HM": "H+M", "H": "H", "M": "M"}


@dataclass(frozen=True)
class EvalData:
    """Test-data settings an evaluation uses.

    Attributes:
        data: the ``data`` section with ``dataset``, ``test_subset`` and ``bbox_source`` set for the evaluation.
        dataset: ``interhand26m`` or ``hic``.
        subset: the subset label recorded with results (``H+M``, ``H``, ``M``; ``all`` for HIC).
        crops: ``gt`` or ``rootnet`` (InterHand2.6M), ``hic:<data.hic_bbox>`` for HIC.
    """

    data: Any
    dataset: str
    subset: str
    crops: str


def resolve_eval_data(cfg: Any) -> EvalData:
    """Apply ``eval.dataset``/``eval.subset``/``eval.crops`` (and the protocol's presets) to ``cfg.data``."""
    protocol = get_protocol(cfg.eval.protocol)
    dataset = cfg.eval.dataset or cfg.data.dataset
    data = dataclasses.replace(cfg.data, dataset=dataset)
    if dataset == "interhand26m":
        subset = _DATA_SUBSET[protocol.ih26m_subset] if cfg.eval.subset == "preset" else cfg.eval.subset
        if cfg.eval.crops == "preset":
            # The official test crops with the RootNet output's boxes (``rootnet_interhand2.6m_output_test.json``).
            crops = "rootnet" if protocol.name == "official" else "gt"
        else:
            crops = cfg.eval.crops
        data = dataclasses.replace(data, test_subset=subset, bbox_source=crops)
        return EvalData(data=data, dataset=dataset, subset=_SUBSET_LABEL[subset], crops=crops)
    if dataset == "hic":
        return EvalData(data=data, dataset=dataset, subset="all", crops=f"hic:{data.hic_bbox}")
    raise InvalidInputError(f"unknown evaluation dataset {dataset!r}; choose interhand26m or hic")


def load_gt_hand_model_data(hand_model_cfg: Any) -> tuple[Any, Any]:
    """MANO data (right, left) for the ground truth: NeuralAnnot fits and HIC meshes are MANO meshes.

    Raises:
        MissingFileError: the MANO files are not available, with what to do.
    """
    origin = "the config key hand_model.mano_dir" if hand_model_cfg.mano_dir else None
    try:
        return load_mano_pair(hand_model_cfg.mano_dir, origin=origin, cache=hand_model_cfg.mano_cache)
    except MissingFileError as err:
        raise MissingFileError(
            "evaluation needs the MANO files even for a model that uses another hand model: the ground truth "
            "(InterHand2.6M's NeuralAnnot fits, HIC's meshes) is MANO. (Data made by `eanet synth --hand-model "
            f"open` is evaluated without them: eval.gt_hand_model=open.) {err}"
        ) from err


def resolve_gt_hand_model(cfg: Any, ev_data: EvalData, model_kind: str | None = None) -> tuple[str, tuple[Any, Any]]:
    """The hand model the ground truth is rebuilt with (``eval.gt_hand_model``), checked against the data.

    Data written by ``eanet synth`` records its hand model in ``synthetic_manifest.json``: its ground truth holds
    that model's parameters, so scoring it with another model's meshes would give wrong numbers. Real InterHand2.6M
    and HIC (no manifest) are MANO.

    ``model_kind`` (the evaluated model's hand model, when known) is checked too
    (:func:`eanet.hand_model.consistency.check_hand_models`).

    Returns:
        ``(name, (right, left))``: ``"mano"`` or ``"open"`` and the :class:`~eanet.hand_model.HandModelData` pair.

    Raises:
        InvalidInputError: the choice contradicts the data (open-hand synthetic data scored against MANO, or the
            open hand asked for on data not made with it), saying which setting to use.
        MissingFileError: ``mano`` without MANO files.
    """
    choice = cfg.eval.gt_hand_model
    if choice not in ("mano", "open"):
        raise InvalidInputError(f"unknown eval.gt_hand_model {choice!r}; choose 'mano' or 'open'")
    # The one check of the hand models against the data, shared with training (eanet.hand_model.consistency).
    check_hand_models(data_root=ev_data.data.root, dataset=ev_data.dataset, gt_hand_model=choice,
                      model_kind=model_kind)  # fmt: skip
    if choice == "mano":
        return "mano", load_gt_hand_model_data(cfg.hand_model)
    return "open", (load_hand_model_data("open", "right"), load_hand_model_data("open", "left"))


def _hand_model_label(data: tuple[Any, Any]) -> str:
    return "mano" if getattr(data[0], "is_mano", False) else "open"


def _check_dataset_vertices(dataset: Any, gt_data: tuple[Any, Any]) -> None:
    """HIC meshes must have the ground-truth hand model's vertex count (they are scored against its regressors)."""
    check = getattr(dataset, "check_hand_model", None)
    if check is not None:
        check(int(gt_data[0].v_template.shape[0]), gt_data[0].name)


def _stop_opencv_threads() -> None:
    """Join the worker threads of OpenCV's pool, keeping its thread count.

    Loading test data in this process (``eval.num_workers=0``) starts OpenCV's pthreads pool. A DataLoader that
    forks its workers afterwards (training after ``train.eval_before_training``) copies the pool's state but not its
    threads, and a ``cv2.setNumThreads`` call in the child (``eanet.data.workers.init_loader_worker``) then often waits for
    them forever (opencv-python-headless 5.0.0). Setting one thread joins the pool; setting the old count back only
    records it (the pool restarts on the next parallel call), so a fork in between is safe.
    """
    cv2 = sys.modules.get("cv2")
    if cv2 is not None:
        count = cv2.getNumThreads()
        cv2.setNumThreads(1)
        cv2.setNumThreads(count)


def build_evaluator(
    protocol: Protocol | str,
    gt_hand_model_data: tuple[Any, Any],
    *,
    dataset: str,
    subset: str,
    pred_layers: tuple[nn.Module, nn.Module] | None = None,
    sequence_names: list[str] | None = None,
    precision: str = "float64",
    gt_hand_model: str | None = None,
    input_size: tuple[int, int] | None = None,
    heatmap_shape: tuple[int, int, int] | None = None,
) -> Evaluator:
    """An :class:`Evaluator` whose GT regressors are MANO's and whose prediction regressors are the model's.

    Args:
        protocol: preset name or :class:`Protocol`.
        gt_hand_model_data: the ground truth's ``(right, left)`` :class:`~eanet.hand_model.HandModelData` (MANO for
            real data; see :func:`resolve_gt_hand_model`).
        dataset, subset: recorded; ``dataset`` also selects the MRRPE ground truth.
        pred_layers: the model's ``(right, left)`` hand-model layers when they are not MANO (None: MANO).
        sequence_names: the dataset's ``seq_names``.
        precision: ``float64`` or ``float32``.
        gt_hand_model: its name, recorded in the result (default: ``mano`` for MANO data, else ``open``).
        input_size, heatmap_shape: ``(H, W)`` of the input crop and ``(D, h, w)`` of the heatmap, for the 2D joint
            error in crop pixels (``joints2d_err_px``); without them that metric is empty, with the reason.
    """
    gt = HandRegressors.from_model_data(*gt_hand_model_data)
    pred = None
    if pred_layers is not None and not all(getattr(layer, "is_mano", False) for layer in pred_layers):
        pred = HandRegressors.from_layers(*pred_layers)
    return Evaluator(
        protocol,
        gt,
        pred_regressors=pred,
        dataset=dataset,
        subset=subset,
        sequence_names=sequence_names,
        dtype=torch.float64 if precision == "float64" else torch.float32,
        gt_hand_model=gt_hand_model or _hand_model_label(gt_hand_model_data),
        crop_px_per_hm=None
        if input_size is None or heatmap_shape is None
        else heatmap_to_crop_scale(input_size, heatmap_shape),
    )


def _to_device(batch: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    non_blocking = device.type == "cuda"
    return {k: v.to(device, non_blocking=non_blocking) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


@torch.no_grad()
def evaluate_model(
    model: nn.Module,
    loader: Any,
    evaluator: Evaluator,
    device: torch.device,
    *,
    target_builder: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    log_every_s: float = 30.0,
) -> EvalResult:
    """Run ``model`` over ``loader`` and reduce with ``evaluator`` (which is reset first).

    Args:
        model: ``forward(img) -> TwoHandPrediction``; put in eval mode here.
        loader: yields batches of the data contract (``img`` plus ground truth); batches may be empty after
            unreadable images were dropped (``skipped``), they are counted and noted in the result.
        evaluator: the accumulator.
        device: where the model runs.
        target_builder: applied to each device batch before scoring (e.g. the batched MANO pass that adds
            ``mano_verts_cam``).
        log_every_s: progress log period.
    """
    model.eval()
    evaluator.reset()
    skipped = 0
    seen = 0
    t0 = last = time.perf_counter()
    total = len(loader) if hasattr(loader, "__len__") else None
    try:
        for i, batch in enumerate(loader):
            skipped += len(batch.get("skipped", ()))
            if "img" not in batch or batch["img"].shape[0] == 0:
                continue
            batch = _to_device(batch, device)
            if target_builder is not None:
                batch = target_builder(batch)
            prediction = model(batch["img"])
            evaluator.update(prediction, batch)
            seen += int(batch["img"].shape[0])
            now = time.perf_counter()
            if now - last > log_every_s:
                last = now
                where = f"batch {i + 1}/{total}" if total else f"batch {i + 1}"
                logger.info("evaluating: %s, %d images, %.0f images/s", where, seen, seen / (now - t0))
    finally:
        # Workers forked after this (training) would hang on OpenCV's pool otherwise (_stop_opencv_threads).
        _stop_opencv_threads()
    if skipped:
        evaluator.add_note(f"{skipped} test sample(s) had unreadable images and were not evaluated")
    logger.info("evaluated %d images in %.1f s", seen, time.perf_counter() - t0)
    return evaluator.compute()


# ----------------------------------------------------------------------------------------------------------------
# eanet eval


@dataclass
class EvalOutputs:
    """What :func:`run_eval` produced."""

    result: EvalResult
    json_path: Path | None
    figure9_path: Path | None
    #: False on the other processes of a distributed run (only rank 0 writes and prints).
    is_main: bool = True


def _load_model_for_eval(checkpoint: Path, cfg: Any, device: torch.device) -> tuple[nn.Module, Any]:
    """The model in eval mode and the configuration it was built with (checkpoint's model/hand-model sections)."""
    if not checkpoint.is_file():
        raise MissingFileError(f"checkpoint {str(checkpoint)!r} does not exist")
    if checkpoint.suffix == ".safetensors":
        model, ckpt_cfg = load_checkpoint(checkpoint, device, mano_dir=cfg.hand_model.mano_dir)
        return model, ckpt_cfg
    if checkpoint.name.endswith((".pth.tar", ".pth", ".pt", ".tar")):
        mano_dir = cfg.hand_model.mano_dir
        model = load_official(checkpoint, mano_dir, device=device)
        official_cfg = dataclasses.replace(
            cfg, model=official_model_config(), hand_model=HandModelConfig(kind="mano", mano_dir=mano_dir)
        )
        return model, official_cfg
    raise InvalidInputError(
        f"{checkpoint} is neither an eanet checkpoint (.safetensors) nor an official one (.pth.tar); "
        "convert other formats with `eanet convert-official`"
    )


def default_output_path(cfg: Any, data: EvalData) -> Path:
    subset = data.subset.replace("+", "")
    return Path(cfg.output_dir) / "eval" / f"{cfg.eval.protocol}-{data.dataset}-{subset}.json"


def _build_eval_run(
    cfg: Any,
    ev_data: Any,
    protocol: Any,
    gt_kind: str,
    gt_data: tuple[Any, Any],
    model: nn.Module,
    device: torch.device,
    *,
    model_cfg: Any,
    max_samples: int | None,
    pin_memory: bool = False,
) -> tuple[Any, Any, Any]:
    """The test loader, the ground-truth target builder (None but for InterHand2.6M) and the evaluator of one run.

    Shared by :func:`run_eval` and the training hook so that both score exactly the same way. Under DDP the loader
    gives each process its share (no shuffling); the evaluator gathers and de-duplicates. ``model_cfg`` is the
    :class:`~eanet.model.config.ModelConfig` the model was built with: the crops and the ground truth's heatmap
    joints take its input size and heatmap shape.
    """
    input_size, heatmap_shape = tuple(model_cfg.input_size), tuple(model_cfg.heatmap_shape)
    dataset = build_dataset(ev_data.data, "test", input_size=input_size, heatmap_shape=heatmap_shape,
                            hand_model_data=gt_data)  # fmt: skip
    _check_dataset_vertices(dataset, gt_data)
    sequence_names = list(getattr(dataset, "seq_names", None) or []) or None
    if max_samples is not None and max_samples < len(dataset):
        dataset = torch.utils.data.Subset(dataset, range(max_samples))
    sampler = None
    if dist_utils.is_distributed():
        sampler = torch.utils.data.distributed.DistributedSampler(dataset, shuffle=False, drop_last=False)
    loader = build_dataloader(
        dataset,
        cfg.eval.batch_size,
        None,
        data_cfg=ev_data.data,
        train=False,
        num_workers=cfg.eval.num_workers,
        sampler=sampler,
        hand_model_targets="device",
        pin_memory=pin_memory,
        drop_last=False,
    )
    builder = None
    if ev_data.dataset == "interhand26m":
        gt_layers = [HandModelLayer(d, flat_hand_mean=False) for d in gt_data]  # NeuralAnnot: relative to the mean
        builder = ManoTargetBuilder(
            *gt_layers,
            input_size=input_size,
            heatmap_shape=heatmap_shape,
            bbox_3d_size=ev_data.data.bbox_3d_size,
        ).to(device)
    hand_models = getattr(model, "hand_models", None)
    pred_layers = (hand_models["right"], hand_models["left"]) if hand_models is not None else None
    evaluator = build_evaluator(
        protocol,
        gt_data,
        dataset=ev_data.dataset,
        subset=ev_data.subset,
        pred_layers=pred_layers,
        sequence_names=sequence_names,
        precision=cfg.eval.precision,
        gt_hand_model=gt_kind,
        input_size=input_size,
        heatmap_shape=heatmap_shape,
    )
    return loader, builder, evaluator


def run_eval(
    cfg: Any,
    checkpoint: str | Path,
    *,
    device: torch.device | None = None,
    output: str | Path | None = None,
    command_line: str | None = None,
) -> EvalOutputs:
    """``eanet eval``: evaluate a checkpoint under ``cfg.eval`` and write the JSON result and Figure 9 plot.

    Args:
        cfg: resolved configuration (its ``eval``, ``data``, ``hand_model.mano_dir``, ``device`` and ``output_dir``
            are used; the model's architecture comes from the checkpoint).
        checkpoint: ``.safetensors`` (ours) or ``.pth.tar`` (official release).
        device: default ``cfg.device``.
        output: JSON path (default ``cfg.eval.output`` or ``<output_dir>/eval/<protocol>-<dataset>-<subset>.json``).
        command_line: recorded in the JSON.
    """
    checkpoint = Path(checkpoint)
    device = device or dist_utils.local_device(cfg.device)
    started_group = False
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist_utils.is_distributed():
        dist_utils.init_distributed(device)  # launched with torchrun: every process scores its share
        started_group = True
    try:
        return _run_eval(cfg, checkpoint, device, output, command_line)
    finally:
        if started_group:
            dist_utils.destroy_distributed()


def _run_eval(
    cfg: Any, checkpoint: Path, device: torch.device, output: str | Path | None, command_line: str | None
) -> EvalOutputs:
    protocol = get_protocol(cfg.eval.protocol)
    model, model_cfg = _load_model_for_eval(checkpoint, cfg, device)
    ev_data = resolve_eval_data(cfg)
    gt_kind, gt_data = resolve_gt_hand_model(cfg, ev_data, model_kind=model_cfg.hand_model.kind)

    loader, builder, evaluator = _build_eval_run(
        cfg, ev_data, protocol, gt_kind, gt_data, model, device, model_cfg=model_cfg.model,
        max_samples=cfg.eval.max_samples, pin_memory=device.type == "cuda",
    )  # fmt: skip
    logger.info("%s", protocol.signature())
    logger.info(
        "evaluating %s on %s (subset %s, crops %s, ground truth from the %s hand model): %d samples",
        checkpoint,
        ev_data.dataset,
        ev_data.subset,
        ev_data.crops,
        gt_kind,
        len(loader.dataset),
    )
    result = evaluate_model(model, loader, evaluator, device, target_builder=builder)
    result.notes.insert(0, f"crops: {ev_data.crops}")

    json_path = figure_path = None
    if dist_utils.is_main_process():
        json_path = Path(output or cfg.eval.output or default_output_path(cfg, ev_data))
        config = config_to_dict(dataclasses.replace(cfg, model=model_cfg.model, hand_model=model_cfg.hand_model))
        write_result_json(
            result,
            json_path,
            checkpoint=checkpoint,
            config=config,
            extra={"command": command_line, "device": str(device), "crops": ev_data.crops, "gt_hand_model": gt_kind},
        )
        if cfg.eval.figure9_plot and result.figure9:
            figure_path = json_path.with_name(json_path.stem + "-figure9.png")
            plot_error_vs_pose_difference(
                [f["sequence"] for f in result.figure9],
                [f["pose_difference_deg"] for f in result.figure9],
                [f["mpjpe_interacting_mm"] for f in result.figure9],
                figure_path,
                title=f"{checkpoint.name}: per-sequence MPJPE vs. pose difference ({len(result.figure9)} sequences)",
                footnote=protocol.signature(),
            )
    return EvalOutputs(
        result=result, json_path=json_path, figure9_path=figure_path, is_main=dist_utils.is_main_process()
    )


# ----------------------------------------------------------------------------------------------------------------
# training hook


def make_train_evaluate_fn(
    cfg: Any,
    device: torch.device,
    *,
    gt_hand_model_data: tuple[Any, Any] | None = None,
    write_json: bool = True,
) -> Callable[[nn.Module, int], dict[str, float]]:
    """``evaluate(model, epoch) -> metrics`` for :class:`eanet.train.loop.Trainer` (every process calls it).

    ``gt_hand_model_data`` is the ground truth's hand model when the caller has chosen it; None:
    :func:`resolve_gt_hand_model` (``eval.gt_hand_model``, checked against the data). The test set, loader and
    evaluator are built on the first call. Under DDP each process scores its share (a
    ``DistributedSampler`` without shuffling) and the evaluator gathers and de-duplicates. Metrics are
    :meth:`EvalResult.scalars` (``mpjpe_all``, ``mpvpe_interacting``, ...), at most ``train.eval_max_samples``
    samples; rank 0 writes ``<output_dir>/eval/epoch-<N>.json`` when ``write_json``.
    """
    state: dict[str, Any] = {}

    def setup(model: nn.Module) -> None:
        ev_data = resolve_eval_data(cfg)
        if gt_hand_model_data is not None:
            gt_kind, gt_data = _hand_model_label(gt_hand_model_data), gt_hand_model_data
        else:
            gt_kind, gt_data = resolve_gt_hand_model(cfg, ev_data)
        state["loader"], state["builder"], state["evaluator"] = _build_eval_run(
            cfg, ev_data, cfg.eval.protocol, gt_kind, gt_data, model, device, model_cfg=cfg.model,
            max_samples=cfg.train.eval_max_samples,
        )

    def evaluate(model: nn.Module, epoch: int) -> dict[str, float]:
        if not state:
            setup(model)
        result = evaluate_model(model, state["loader"], state["evaluator"], device, target_builder=state.get("builder"))
        for line in result.summary_lines():
            logger.info("%s", line)
        if write_json and dist_utils.is_main_process():
            write_result_json(
                result, Path(cfg.output_dir) / "eval" / f"epoch-{epoch + 1}.json", extra={"epoch": epoch + 1}
            )
        return result.scalars()

    return evaluate
