"""Our checkpoints with their run configuration as a :class:`~eanet.config.Config`: save, load, export to ONNX.

:mod:`eanet.model.checkpoint` and :mod:`eanet.export_onnx` store the run configuration as a plain dict and read
only the ``model`` and ``hand_model`` sections they are given; this is the ``Config``-level layer over them that
training, the commands and the loaders use (``config_to_dict`` going in, :func:`eanet.config.recorded_config`
coming out).

    >>> from eanet.run_checkpoint import load_checkpoint, save_checkpoint
    >>> save_checkpoint(model, cfg, "model.safetensors")                        # doctest: +SKIP
    >>> model, cfg = load_checkpoint("model.safetensors", "cpu")                # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from eanet.config import Config, config_to_dict, recorded_config
from eanet.errors import MissingFileError
from eanet.export_onnx.export import (
    LatencyReport,
    ParityReport,
    benchmark_latency,
    compare_with_torch,
    export_onnx,
)
from eanet.fileio import file_sha256
from eanet.hand_model.config import HandModelConfig, resolve_recorded_hand_model
from eanet.model.checkpoint import load_model, read_run_config, read_training_data, save_model
from eanet.model.official import load_official, official_model_config
from eanet.model.provenance import TrainingData, official_training_data

if TYPE_CHECKING:
    from eanet.model.eanet import EANet

__all__ = [
    "save_checkpoint",
    "read_checkpoint_config",
    "load_checkpoint",
    "load_for_export",
    "export_checkpoint",
]


def save_checkpoint(
    model: EANet,
    cfg: Config,
    path: str | Path,
    *,
    extra_metadata: Mapping[str, str] | None = None,
    training_data: TrainingData | None = None,
) -> None:
    """Save ``model``'s weights and the resolved configuration ``cfg`` it was built from to one safetensors file
    (:func:`eanet.model.checkpoint.save_model`; see there for the arguments)."""
    save_model(model, cfg.model, cfg.hand_model, config_to_dict(cfg), path, extra_metadata=extra_metadata,
               training_data=training_data)  # fmt: skip


def read_checkpoint_config(path: str | Path) -> Config:
    """The resolved configuration one of our checkpoints records (its weights are not read).

    Raises:
        InvalidInputError: the record is missing, not JSON or not a valid configuration (the message names the file).
    """
    return recorded_config(read_run_config(path), path)


def load_checkpoint(
    path: str | Path,
    device: str | torch.device = "cpu",
    *,
    mano_dir: str | Path | None = None,
    hand_model_cfg: HandModelConfig | None = None,
    hand_models: tuple[nn.Module, nn.Module] | None = None,
) -> tuple[EANet, Config]:
    """Rebuild a model from one of our checkpoints.

    Args:
        path: ``.safetensors`` checkpoint written by :func:`save_checkpoint` or ``eanet convert-official``.
        device: where the model runs.
        mano_dir: MANO directory, for checkpoints trained with MANO (default: the recorded one or
            ``$EANET_MANO_DIR``).
        hand_model_cfg: a full hand-model configuration instead; it must match the recorded kind, mean-pose and
            fingertip settings.
        hand_models: ready ``(right, left)`` hand-model layers instead (tests); still fingerprint-checked.

    Returns:
        ``(model in eval mode on device, the checkpoint's resolved Config with the hand model actually used)``.

    Raises:
        CheckpointMismatchError: a different hand model than the one the weights were trained with, or weights
            that do not fit the recorded architecture.
    """
    path = Path(path)
    cfg = read_checkpoint_config(path)
    hand_cfg = resolve_recorded_hand_model(cfg.hand_model, hand_model_cfg, mano_dir, source=path, made="trained")
    model = load_model(path, cfg.model, hand_cfg, device, hand_models=hand_models)
    return model, dataclasses.replace(cfg, hand_model=hand_cfg)


def load_for_export(
    checkpoint: str | Path,
    *,
    mano_dir: str | Path | None = None,
    hand_model_cfg: HandModelConfig | None = None,
) -> tuple[EANet, Config, TrainingData | None]:
    """Load our ``.safetensors`` checkpoint, or an official ``.pth.tar`` (MANO), on the CPU for export, with what it
    was trained on (:mod:`eanet.model.provenance`; None when unknown)."""
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise MissingFileError(f"checkpoint {str(checkpoint)!r} does not exist")
    if checkpoint.suffix == ".safetensors":
        model, cfg = load_checkpoint(checkpoint, "cpu", mano_dir=mano_dir, hand_model_cfg=hand_model_cfg)
        return model, cfg, read_training_data(checkpoint)
    model, meta = load_official(checkpoint, mano_dir, hand_model_cfg=hand_model_cfg, device="cpu", with_metadata=True)
    hand_cfg = hand_model_cfg or HandModelConfig(kind="mano", mano_dir=None if mano_dir is None else str(mano_dir))
    cfg = dataclasses.replace(Config(), model=official_model_config(), hand_model=hand_cfg)
    return model.eval(), cfg, official_training_data(meta, str(checkpoint))


def export_checkpoint(
    checkpoint: str | Path,
    out: str | Path,
    *,
    mano_dir: str | Path | None = None,
    hand_model_cfg: HandModelConfig | None = None,
    opset: int | None = None,
    check: bool = False,
    check_batch_sizes: Sequence[int] = (1, 2),
    benchmark_repeats: int = 0,
) -> tuple[dict[str, str], ParityReport | None, LatencyReport | None]:
    """Export a checkpoint to ONNX; with ``check``, compare ONNX Runtime with PyTorch on random images; with
    ``benchmark_repeats``, time both at batch 1.

    Raises:
        CheckpointMismatchError: the checkpoint was trained with another hand model than the one given (or found).

    Returns:
        ``(metadata written, parity report or None, latency report or None)``.
    """
    model, cfg, training_data = load_for_export(checkpoint, mano_dir=mano_dir, hand_model_cfg=hand_model_cfg)
    checkpoint = Path(checkpoint)
    metadata = export_onnx(
        model, cfg.model, cfg.hand_model, config_to_dict(cfg), out, opset=opset,
        checkpoint_sha256=file_sha256(checkpoint), checkpoint_name=checkpoint.name, training_data=training_data,
    )  # fmt: skip
    report = compare_with_torch(model, out, check_batch_sizes) if check else None
    latency = benchmark_latency(model, out, repeats=benchmark_repeats) if benchmark_repeats > 0 else None
    return metadata, report, latency
