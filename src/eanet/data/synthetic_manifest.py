"""The manifest that marks a dataset root as ``eanet synth`` output, and its one reader.

The generator (:mod:`eanet.synth.generate`) writes ``OUT/synthetic_manifest.json`` next to the InterHand2.6M-format
files (its HIC-format set lies in ``OUT/HIC``). Training, evaluation and checkpoint provenance read a generated
dataset as InterHand2.6M/HIC data plus this file, through this module, without importing the generator. The file is
one JSON object::

    {"generator": "eanet <version> synthetic",
     "status": "incomplete" | "complete",     # "incomplete" while the generator runs
     "config": {"hand_model": "open" | "mano", ...every SynthConfig field...},
     "note": "...",
     "images": {split: count}, "frames": {split: count}, "hic_images": count, "backend": name}   # when complete

Real InterHand2.6M and HIC folders have no manifest.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from eanet.errors import InvalidInputError
from eanet.hand_model import load_hand_model_data

__all__ = [
    "find_synthetic_manifest",
    "MANIFEST_NAME",
    "STATUS_COMPLETE",
    "STATUS_INCOMPLETE",
    "HAND_MODEL_KINDS",
    "read_synthetic_manifest",
    "write_synthetic_manifest",
    "synthetic_hand_model_kind",
    "synthetic_gt_hand_model_data",
]

logger = logging.getLogger(__name__)

MANIFEST_NAME = "synthetic_manifest.json"
#: ``status`` of a finished run, and of one still running (or interrupted).
STATUS_COMPLETE = "complete"
STATUS_INCOMPLETE = "incomplete"
#: Hand models a synthetic dataset can be made with (``config.hand_model``).
HAND_MODEL_KINDS = ("open", "mano")

_FIX = (
    "regenerate the dataset with `eanet synth --out {root} --overwrite ...`, or restore the file "
    '(it must hold {{"config": {{"hand_model": "open" | "mano"}}, ...}})'
)


def write_synthetic_manifest(out_dir: str | Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest`` (the object described in this module's docstring) to ``out_dir/synthetic_manifest.json``."""
    (Path(out_dir) / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def find_synthetic_manifest(root: str | Path, dataset: str = "interhand26m") -> Path | None:
    """The :data:`MANIFEST_NAME` file that marks the data root ``root`` as ``eanet synth`` output, or None (real data).

    ``eanet synth`` writes the manifest at the top of its output; its HIC-format set lies in ``OUT/HIC``, so a HIC
    root (``dataset="hic"``) is also checked one level up.
    """
    root = Path(root).expanduser()
    candidates = [root / MANIFEST_NAME] + ([root.parent / MANIFEST_NAME] if dataset == "hic" else [])
    return next((path for path in candidates if path.is_file()), None)


def read_synthetic_manifest(root: str | Path) -> dict[str, Any] | None:
    """The manifest of the dataset at ``root``, or None when ``root`` holds none (real data).

    Raises:
        InvalidInputError: the manifest exists but cannot be read, is not JSON, or is not a JSON object.
    """
    path = Path(root) / MANIFEST_NAME
    if not path.is_file():
        return None
    fix = _FIX.format(root=Path(root))
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise InvalidInputError(f"cannot read the synthetic-dataset manifest {path} ({err}); {fix}") from err
    if not isinstance(manifest, dict):
        raise InvalidInputError(
            f"the synthetic-dataset manifest {path} holds a JSON {type(manifest).__name__}, not an object; {fix}"
        )
    return manifest


def synthetic_hand_model_kind(root: str | Path) -> str | None:
    """The hand model (``"open"`` or ``"mano"``) an ``eanet synth`` dataset at ``root`` was made with.

    Read from ``root/synthetic_manifest.json`` (``config.hand_model``). Real InterHand2.6M/HIC folders have no
    manifest.

    Returns:
        ``"open"``/``"mano"``, or None when ``root`` holds no manifest (real data).

    Raises:
        InvalidInputError: the manifest exists but cannot be read, is not JSON, or names no known hand model. Its
            ground truth would otherwise be rebuilt with a guessed model (MANO meshes of open-hand parameters are
            wrong meshes), so this is an error, never a fallback.
    """
    manifest = read_synthetic_manifest(root)
    if manifest is None:
        return None
    config = manifest.get("config")
    kind = config.get("hand_model") if isinstance(config, dict) else None
    if kind not in HAND_MODEL_KINDS:
        raise InvalidInputError(
            f"the synthetic-dataset manifest {Path(root) / MANIFEST_NAME} does not say which hand model made the data "
            f"(config.hand_model is {kind!r}, expected 'open' or 'mano'); {_FIX.format(root=Path(root))}"
        )
    return kind


def synthetic_gt_hand_model_data(root: str | Path) -> tuple[Any, Any] | None:
    """The ``(right, left)`` :class:`~eanet.hand_model.HandModelData` that made a synthetic dataset's ground truth,
    when it is not MANO.

    Real InterHand2.6M/HIC ground truth is MANO, so evaluation normally loads the user's MANO files. A dataset
    written by ``eanet synth --hand-model open`` holds parameters of the built-in open hand instead; its ground-truth
    meshes must be rebuilt with that model (MANO would give wrong meshes, and need licensed files for nothing).

    Returns:
        The open hand model's data for an open-hand dataset; None for real data (no manifest) and for
        ``--hand-model mano`` datasets (the caller loads MANO). :func:`synthetic_hand_model_kind` tells those apart.

    Raises:
        InvalidInputError: unreadable or incomplete manifest (:func:`synthetic_hand_model_kind`).
    """
    kind = synthetic_hand_model_kind(root)
    if kind is None or kind == "mano":
        return None
    logger.info("synthetic dataset made with the %r hand model: its ground truth is rebuilt with it", kind)
    return load_hand_model_data(kind, "right"), load_hand_model_data(kind, "left")
