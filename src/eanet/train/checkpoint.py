"""Training checkpoints: full state for exact resume, written atomically, last N kept plus the best.

A training checkpoint is a ``torch.save`` file of plain containers and tensors (loadable with
``torch.load(weights_only=True)``, so a crafted file cannot run code) holding the model, optimiser, scheduler and
gradient-scaler states, every process's random-generator states, the position in the run (epoch, batches done in
it, global step), the non-finite-step counters, the best metric so far and the resolved configuration (YAML text).
Released weights for inference are exported separately through ``eanet.model.checkpoint.save_model``.

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

from eanet.errors import CheckpointMismatchError, InvalidInputError, MissingFileError
from eanet.fileio import atomic_write

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointManager",
    "atomic_write",
    "atomic_torch_save",
    "load_training_checkpoint",
    "load_model_state",
]

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "eanet-train-checkpoint"
CHECKPOINT_VERSION = 1
_STEP_FILE = re.compile(r"^step_(\d+)\.pt$")


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    return atomic_write(path, lambda f: torch.save(obj, f))


def _atomic_json(data: Mapping[str, Any], path: Path) -> None:
    atomic_write(path, lambda f: f.write((json.dumps(data, indent=2) + "\n").encode()))


def load_training_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a training checkpoint on the CPU with ``weights_only=True``; clear errors for missing or foreign files."""
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
    return state


def load_model_state(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Load a state dict strictly; a mismatch raises :class:`CheckpointMismatchError` listing the differing keys."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    wrong_shape = sorted(
        f"{k} (checkpoint {tuple(state_dict[k].shape)}, model {tuple(own[k].shape)})"
        for k in set(own) & set(state_dict)
        if tuple(own[k].shape) != tuple(state_dict[k].shape)
    )
    if missing or unexpected or wrong_shape:

        def listing(keys: list[str]) -> str:
            shown = ", ".join(keys[:20])
            return shown + (f", ... ({len(keys)} in all)" if len(keys) > 20 else "")

        parts = []
        if missing:
            parts.append(f"missing keys: {listing(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {listing(unexpected)}")
        if wrong_shape:
            parts.append(f"shape mismatches: {listing(wrong_shape)}")
        raise CheckpointMismatchError(
            f"{source} was saved from a different architecture than the configured model; "
            + "; ".join(parts)
            + ". Use the configuration the checkpoint was trained with (it is stored in the run's config.yaml)."
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
        path = self.directory / "best.json"
        if not path.is_file():
            return None
        return json.loads(path.read_text())

    # ---- writing
    def save(self, state: Mapping[str, Any], global_step: int) -> Path:
        """Write ``step_<global_step>.pt`` atomically, point ``latest.json`` at it and prune old ones."""
        path = atomic_torch_save(dict(state), self.directory / f"step_{global_step:08d}.pt")
        position = state.get("position", {})
        _atomic_json(
            {"file": path.name, "epoch": position.get("epoch"), "global_step": global_step},
            self.directory / "latest.json",
        )
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
        fd, tmp = tempfile.mkstemp(prefix=".best.pt.", suffix=".tmp", dir=self.directory)
        os.close(fd)
        os.unlink(tmp)
        try:
            os.link(path, tmp)  # a hard link costs no space and survives pruning of ``path``
        except OSError:
            shutil.copyfile(path, tmp)
        os.replace(tmp, target)
        _atomic_json({"metric": metric, "value": value, "file": path.name, **info}, self.directory / "best.json")
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
