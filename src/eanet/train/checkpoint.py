"""Training checkpoints: full state for exact resume, written atomically, last N kept plus the best.

A training checkpoint is a ``torch.save`` file of plain containers and tensors (loadable with
``torch.load(weights_only=True)``, so a crafted file cannot run code) holding the model, optimiser, scheduler and
gradient-scaler states, every process's random-generator states, the position in the run (epoch, batches done in
it, global step), the non-finite-step counters, the best metric so far, the resolved configuration (YAML text) and
what the weights were trained on (``training_data``, :mod:`eanet.model.provenance`).
Released weights for inference are exported separately through ``eanet.run_checkpoint.save_checkpoint``.

Layout of ``<output_dir>/checkpoints``::

    step_00001000.pt  step_00002000.pt  ...   the last ``keep_last`` checkpoints
    latest.json                               which of them is the newest (rewritten atomically after each save)
    best.pt, best.json                        a hard link to (or copy of) the best checkpoint, and its metric

Every file is first written under a temporary name in the same directory, flushed and fsynced, then renamed over
its final name (``os.replace`` is atomic on POSIX and Windows), so a process killed at any moment leaves either the
previous complete file or the new complete file, never a truncated one.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from eanet.errors import (
    CheckpointMismatchError,
    DiskFullError,
    InvalidInputError,
    MissingFileError,
    disk_full_cause,
    state_shape_mismatch,
)
from eanet.fileio import atomic_write

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointManager",
    "atomic_write",
    "atomic_torch_save",
    "load_training_checkpoint",
    "load_model_state",
    "nonfinite_tensors",
    "disk_full_error",
]

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "eanet-train-checkpoint"
CHECKPOINT_VERSION = 1
_STEP_FILE = re.compile(r"^step_(\d+)\.pt$")


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    return atomic_write(path, lambda f: torch.save(obj, f))


def _atomic_json(data: Mapping[str, Any], path: Path) -> None:
    atomic_write(path, lambda f: f.write((json.dumps(data, indent=2) + "\n").encode()))


def disk_full_error(err: BaseException, path: str | Path, what: str, intact: str = "") -> DiskFullError | None:
    """A :class:`DiskFullError` for ``err`` when a full disk (or quota) caused it, else None.

    Args:
        err: the exception the write raised.
        path: the file that was being written.
        what: what that file is, for the message (e.g. ``"the checkpoint"``).
        intact: a sentence on what is still safe (e.g. the newest complete checkpoint).
    """
    cause = disk_full_cause(err)
    if cause is None:
        return None
    path = Path(path)
    try:
        free = f"{shutil.disk_usage(path.parent).free / 1e6:.1f} MB free now"
    except OSError:
        free = "free space unknown"
    return DiskFullError(
        f"the disk is full: writing {what} {path} failed ({cause.strerror or cause}; {free} on the file system of "
        f"{path.parent}). {intact + ' ' if intact else ''}Free some space there (or lower train.keep_last, or move "
        "output_dir to a larger disk), then continue the run with train.resume=auto."
    )


#: Entries every training checkpoint holds (``position`` with ``epoch``, ``batches_done`` and ``global_step``).
_REQUIRED_ENTRIES = ("model", "optimizer", "scheduler", "scaler", "position")


def load_training_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a training checkpoint on the CPU with ``weights_only=True``; clear errors for missing, foreign or
    incomplete files."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"training checkpoint {str(path)!r} does not exist; check train.resume")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise InvalidInputError(
            f"{path} is not a readable training checkpoint ({type(err).__name__}: {err}); resume from another file "
            "of the checkpoints directory"
        ) from err
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise InvalidInputError(
            f"{path} is not an eanet training checkpoint (no format tag {CHECKPOINT_FORMAT!r}); to start from model "
            "weights only, use a released model file instead of train.resume"
        )
    missing = [key for key in _REQUIRED_ENTRIES if key not in state]
    position = state.get("position")
    if not missing and not (
        isinstance(position, dict)
        and all(isinstance(position.get(k), int) for k in ("epoch", "batches_done", "global_step"))
    ):
        missing.append("position.epoch/batches_done/global_step")
    if not isinstance(state.get("model", {}), dict):
        missing.append("model (not a state dict)")
    if missing:
        raise InvalidInputError(
            f"{path} is an incomplete training checkpoint (missing or malformed: {', '.join(missing)}); it was "
            "damaged or written by other code. Resume from another file of its checkpoints directory."
        )
    return state


def nonfinite_tensors(module: nn.Module, limit: int = 5) -> tuple[list[str], int]:
    """Names of the first ``limit`` floating-point parameters and buffers of ``module`` holding NaN or infinity,
    and how many there are in all."""
    bad = []
    for name, tensor in module.state_dict(keep_vars=True).items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor.detach()).all()):
            bad.append(name)
    return bad[:limit], len(bad)


def load_model_state(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Load a state dict strictly; a mismatch raises :class:`CheckpointMismatchError` listing the differing keys."""
    own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    mismatch = state_shape_mismatch(own, {k: tuple(v.shape) for k, v in state_dict.items()})
    if mismatch:
        raise CheckpointMismatchError(
            f"{source} was saved from a different architecture than the configured model: {mismatch}. Use the "
            "configuration the checkpoint was trained with (it is stored in the run's config.yaml)."
        )
    model.load_state_dict(state_dict, strict=True)


class CheckpointManager:
    """Save, list, prune and select training checkpoints in one directory (call it on rank 0 only).

    Args:
        directory: where the checkpoints go.
        keep_last: how many of the newest step checkpoints to keep.
        best_mode: ``min`` or ``max``: which direction of the best metric is better.
    """

    def __init__(self, directory: str | Path, keep_last: int = 3, best_mode: str = "min") -> None:
        self.directory = Path(directory)
        self.keep_last = keep_last
        self.best_mode = best_mode

    # ---- listing
    def step_files(self) -> list[tuple[int, Path]]:
        """``(global_step, path)`` of every step checkpoint, oldest first."""
        if not self.directory.is_dir():
            return []
        found = []
        for p in self.directory.iterdir():
            m = _STEP_FILE.match(p.name)
            if m:
                found.append((int(m.group(1)), p))
        return sorted(found)

    def latest(self) -> Path | None:
        """The newest complete checkpoint: the one ``latest.json`` names, else the highest step file."""
        pointer = self.directory / "latest.json"
        if pointer.is_file():
            try:
                name = json.loads(pointer.read_text())["file"]
                if (self.directory / name).is_file():
                    return self.directory / name
            except (ValueError, KeyError, TypeError):
                logger.warning("%s is unreadable; using the newest step checkpoint instead", pointer)
        files = self.step_files()
        return files[-1][1] if files else None

    def best(self) -> dict[str, Any] | None:
        """The best checkpoint's record (``best.json``), or None before the first evaluation.

        Raises:
            InvalidInputError: ``best.json`` is damaged (not JSON, or without its metric value or file name).
        """
        path = self.directory / "best.json"
        if not path.is_file():
            return None
        problem = ""
        try:
            record = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as err:
            record, problem = None, f"it is not valid JSON ({err})"
        if not problem and not (
            isinstance(record, dict)
            and isinstance(record.get("value"), (int, float))
            and isinstance(record.get("file"), str)
        ):
            problem = "it lacks the numeric 'value' or the 'file' of the best checkpoint"
        if problem:
            raise InvalidInputError(
                f"{path} is damaged: {problem}. It only records which checkpoint scored best; delete it and "
                "best.pt (the next evaluation then picks a new best), or restore it, then run again."
            )
        return record

    # ---- writing
    def save(self, state: Mapping[str, Any], global_step: int) -> Path:
        """Write ``step_<global_step>.pt`` atomically, point ``latest.json`` at it and prune old ones.

        Old checkpoints are pruned only after the new one and ``latest.json`` are complete on disk, so a failed
        write (e.g. a full disk: :class:`DiskFullError`) leaves every earlier checkpoint in place.
        """
        previous = self.latest()
        path = self.directory / f"step_{global_step:08d}.pt"
        pointer = self.directory / "latest.json"
        target = path
        try:
            atomic_torch_save(dict(state), path)
            target = pointer
            position = state.get("position", {})
            _atomic_json({"file": path.name, "epoch": position.get("epoch"), "global_step": global_step}, pointer)
        except Exception as err:
            intact = (
                f"No checkpoint was lost: the newest complete one is still {previous}."
                if previous is not None
                else "No earlier checkpoint exists in this run."
            )
            if target is pointer:
                intact = f"{path.name} was written completely, but latest.json still names the previous checkpoint."
            what = "the training checkpoint" if target is path else "the pointer to the newest checkpoint"
            full = disk_full_error(err, target, what, intact)
            if full is not None:
                raise full from err
            raise
        self._prune()
        self._clean_temporaries()
        return path

    def is_better(self, value: float) -> bool:
        best = self.best()
        if best is None:
            return True
        return value < best["value"] if self.best_mode == "min" else value > best["value"]

    def update_best(self, path: Path, metric: str, value: float, info: Mapping[str, Any]) -> bool:
        """Make ``best.pt`` the checkpoint at ``path`` when ``value`` beats the best so far; returns whether it did."""
        if not self.is_better(value):
            return False
        target = self.directory / "best.pt"
        try:
            fd, tmp = tempfile.mkstemp(prefix=".best.pt.", suffix=".tmp", dir=self.directory)
            os.close(fd)
            os.unlink(tmp)
            try:
                try:
                    os.link(path, tmp)  # a hard link costs no space and survives pruning of ``path``
                except OSError:
                    shutil.copyfile(path, tmp)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            _atomic_json({"metric": metric, "value": value, "file": path.name, **info}, self.directory / "best.json")
        except Exception as err:
            full = disk_full_error(err, target, "the best checkpoint", "The step checkpoints are intact.")
            if full is not None:
                raise full from err
            raise
        return True

    def _prune(self) -> None:
        files = self.step_files()
        for _, p in files[: max(len(files) - self.keep_last, 0)]:
            p.unlink(missing_ok=True)

    def _clean_temporaries(self) -> None:
        # Left by a process killed while writing; never a complete file under its final name.
        for p in self.directory.glob(".*.tmp"):
            try:
                p.unlink()
            except OSError:
                pass
