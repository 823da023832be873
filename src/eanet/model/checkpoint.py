"""Our checkpoint format: one safetensors file holding the weights and, in its metadata, the resolved configuration.

A model is rebuilt from the file alone (plus the user's MANO files when it was trained with MANO: those are never
stored: the MANO license does not allow redistributing them). Metadata keys (all strings):

* ``format`` = ``eanet-checkpoint``, ``format_version`` = ``1``, ``eanet_version``;
* ``config``: the resolved run configuration as JSON (``eanet.config.config_to_dict`` of a
  :class:`eanet.config.Config`; this module stores and returns it as a plain dict and reads only its ``model`` and
  ``hand_model`` sections through the callers, who turn it into a ``Config``);
* ``hand_model_kind``: ``mano`` or ``open``; ``hand_model_fingerprint``: a hash of both hands' template vertices
  and faces (empty when unknown, e.g. an official checkpoint converted without the MANO files);
* ``training_data``: what the weights were trained on (JSON of :class:`eanet.model.provenance.TrainingData`;
  absent in files written before it existed: training data unknown);
* optional provenance, e.g. ``source`` and ``official_epoch`` for converted official checkpoints, ``global_step``
  for trained ones.

safetensors files cannot carry code, so loading them is safe by construction.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

from eanet.config_dict import config_to_dict
from eanet.errors import (
    DAMAGED_FILE_REMEDY,
    CheckpointMismatchError,
    InvalidInputError,
    MissingFileError,
    state_shape_mismatch,
)
from eanet.hand_model import build_hand_models
from eanet.hand_model.config import HandModelConfig
from eanet.model import build_model
from eanet.model.config import ModelConfig
from eanet.model.official import expected_state_shapes
from eanet.model.provenance import METADATA_KEY, TrainingData
from eanet.version import __version__

if TYPE_CHECKING:
    from eanet.model.eanet import EANet

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "hand_model_fingerprint",
    "check_hand_model_fingerprint",
    "check_run_config_sections",
    "save_model",
    "save_state",
    "read_checkpoint",
    "read_metadata",
    "read_run_config",
    "read_training_data",
    "load_model",
]

logger = logging.getLogger(__name__)

FORMAT = "eanet-checkpoint"
FORMAT_VERSION = "1"


def hand_model_fingerprint(right: nn.Module, left: nn.Module) -> str:
    """Short hash of both hand models' template vertices and faces (exact stored data, device independent)."""
    digest = hashlib.sha256()
    for layer in (right, left):
        for name in ("v_template", "faces"):
            value = getattr(layer, name, None)
            if not isinstance(value, Tensor):
                raise InvalidInputError(f"hand-model layer {type(layer).__name__} has no tensor {name!r} to fingerprint")
            arr = value.detach().to("cpu").numpy()
            arr = arr.astype(np.float32 if arr.dtype.kind == "f" else np.int64)
            digest.update(name.encode() + str(arr.shape).encode() + np.ascontiguousarray(arr).tobytes())
    return digest.hexdigest()[:16]


def check_hand_model_fingerprint(
    recorded: str, right: nn.Module, left: nn.Module, *, source: str | Path, made: str, kind: str, name: str = ""
) -> None:
    """Refuse hand-model layers other than the ones a checkpoint or ONNX file was made with.

    Args:
        recorded: the file's ``hand_model_fingerprint`` (:func:`hand_model_fingerprint` of its hand model).
        right, left: the layers the network would run with.
        source: the file, named in the error.
        made: how the file was made: ``"trained"`` (a checkpoint) or ``"exported"`` (ONNX).
        kind, name: the recorded hand model's kind and name (``name`` may be unknown: "").

    Raises:
        CheckpointMismatchError: the layers' fingerprint differs, naming both hand models and what to pass.
    """
    actual = hand_model_fingerprint(right, left)
    if actual == recorded:
        return
    named = f" {name!r}" if name else ""
    raise CheckpointMismatchError(
        f"{source} was {made} with a different hand model: the {kind!r} hand model{named} (fingerprint {recorded}), "
        f"but the hand model given is {getattr(right, 'name', '?')!r} (fingerprint {actual}): its faces and mean pose "
        f"would not fit the network's outputs; use the hand model (MANO files) it was {made} with"
    )


def check_run_config_sections(run_config: Mapping[str, Any], **sections: Any) -> None:
    """Raise :class:`InvalidInputError` unless ``run_config`` (a serialised run configuration) holds exactly these
    configuration sections (``model=ModelConfig(...)``, ``hand_model=HandModelConfig(...)``)."""
    if not isinstance(run_config, Mapping):
        raise InvalidInputError(
            f"the run configuration must be a mapping (eanet.config.config_to_dict of the Config), got "
            f"{type(run_config).__name__}"
        )
    for name, section in sections.items():
        # Compared as JSON text: the stored form (tuples and lists are both JSON lists).
        if json.dumps(run_config.get(name), sort_keys=True) != json.dumps(config_to_dict(section), sort_keys=True):
            raise InvalidInputError(
                f"the run configuration's {name!r} section differs from the {type(section).__name__} given; pass "
                "config_to_dict of the Config whose sections these are"
            )


def save_state(
    state: Mapping[str, Tensor],
    hand_model_cfg: HandModelConfig,
    run_config: Mapping[str, Any],
    path: str | Path,
    *,
    hand_model_fingerprint: str = "",
    extra_metadata: Mapping[str, str] | None = None,
    training_data: TrainingData | None = None,
) -> None:
    """Write a state dict with its configuration (the lower-level half of :func:`save_model`).

    Args:
        state: the weights.
        hand_model_cfg: the hand model they were trained with (its kind is recorded).
        run_config: the resolved run configuration as a plain dict (``eanet.config.config_to_dict(cfg)``), stored
            as JSON; its ``hand_model`` section must be ``hand_model_cfg``.
        path: output ``.safetensors`` file.
    """
    check_run_config_sections(run_config, hand_model=hand_model_cfg)
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "eanet_version": __version__,
        "config": json.dumps(run_config, sort_keys=True),
        "hand_model_kind": hand_model_cfg.kind,
        "hand_model_fingerprint": hand_model_fingerprint,
        **{str(k): str(v) for k, v in (extra_metadata or {}).items()},
    }
    if training_data is not None:
        metadata[METADATA_KEY] = training_data.to_json()
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written under a temporary name, then renamed: a failed write (full disk, kill) keeps the previous file whole.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_file(tensors, str(tmp), metadata=metadata)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_model(
    model: EANet,
    model_cfg: ModelConfig,
    hand_model_cfg: HandModelConfig,
    run_config: Mapping[str, Any],
    path: str | Path,
    *,
    extra_metadata: Mapping[str, str] | None = None,
    training_data: TrainingData | None = None,
) -> None:
    """Save ``model``'s weights and the resolved run configuration to one safetensors file.

    Args:
        model: an :class:`~eanet.model.eanet.EANet` built from ``model_cfg`` (checked: same weights and shapes).
        model_cfg: its architecture.
        hand_model_cfg: its hand model.
        run_config: the full resolved run configuration as a plain dict (``eanet.config.config_to_dict(cfg)``;
            its ``model`` and ``hand_model`` sections, which rebuild the model, must be ``model_cfg`` and
            ``hand_model_cfg``).
        path: output ``.safetensors`` file.
        extra_metadata: more string metadata (provenance).
        training_data: what the weights were trained on (recorded; without it, predictions made with the file say
            "training data unknown").
    """
    state = model.state_dict()
    mismatch = state_shape_mismatch(expected_state_shapes(model_cfg), {k: tuple(v.shape) for k, v in state.items()})
    if mismatch:
        raise CheckpointMismatchError(
            f"the model's weights do not match model_cfg (different architecture: {mismatch}); save it with the "
            "configuration it was built from"
        )
    check_run_config_sections(run_config, model=model_cfg)
    fingerprint = ""
    if model.hand_models is not None:
        fingerprint = hand_model_fingerprint(model.hand_models["right"], model.hand_models["left"])
    save_state(state, hand_model_cfg, run_config, path, hand_model_fingerprint=fingerprint, extra_metadata=extra_metadata,
               training_data=training_data)  # fmt: skip
    logger.info("saved %s (%d tensors)", path, len(state))


def _open_checkpoint(path: str | Path, *, tensors: bool) -> tuple[Path, dict[str, str], dict[str, Tensor]]:
    """``(path, metadata, state dict on CPU or {})`` of one of our checkpoints, its format checked."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"checkpoint {str(path)!r} does not exist")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = dict(f.metadata() or {})
            state = {k: f.get_tensor(k) for k in f.keys()} if tensors else {}
    except (SafetensorError, OSError, ValueError) as err:
        hint = " (official .pth.tar checkpoints are converted with `eanet convert-official`)" if path.suffix != ".safetensors" else ""
        raise InvalidInputError(f"{path} is not a safetensors checkpoint: {err}{hint}") from err
    if metadata.get("format") != FORMAT:
        raise InvalidInputError(
            f"{path} is a safetensors file but not an eanet checkpoint (no format={FORMAT!r} metadata); official "
            "checkpoints are converted with `eanet convert-official`"
        )
    return path, metadata, state


def read_checkpoint(path: str | Path) -> tuple[dict[str, Tensor], dict[str, Any], dict[str, str]]:
    """Read one of our checkpoints: ``(state dict on CPU, resolved run configuration as a plain dict, metadata)``;
    ``eanet.config.recorded_config(run_config, path)`` makes the dict a ``Config``."""
    path, metadata, state = _open_checkpoint(path, tensors=True)
    if metadata.get("format_version") != FORMAT_VERSION:
        raise InvalidInputError(
            f"{path} has checkpoint format version {metadata.get('format_version')!r}; this eanet reads version "
            f"{FORMAT_VERSION}"
        )
    return state, _run_config_from_metadata(metadata, path), metadata


def read_metadata(path: str | Path) -> dict[str, str]:
    """The metadata of one of our checkpoints, without reading its weights."""
    return _open_checkpoint(path, tensors=False)[1]


def read_run_config(path: str | Path) -> dict[str, Any]:
    """The resolved run configuration one of our checkpoints records, as a plain dict, without reading its weights
    (``eanet.config.recorded_config(run_config, path)`` makes it a ``Config``)."""
    path, metadata, _ = _open_checkpoint(path, tensors=False)
    return _run_config_from_metadata(metadata, path)


def read_training_data(path: str | Path) -> TrainingData | None:
    """What one of our checkpoints was trained on; None when it records nothing (written before the record existed,
    or by :func:`save_model` without ``training_data``).

    Raises:
        InvalidInputError: the record is there but damaged.
    """
    return TrainingData.from_metadata(read_metadata(path), str(path))


def _run_config_from_metadata(metadata: Mapping[str, str], path: Path) -> dict[str, Any]:
    """The resolved run configuration a checkpoint records (a JSON mapping), or an error naming the file and what
    is wrong with it. Whether it is a valid configuration is checked where it becomes a ``Config``."""
    remedy = DAMAGED_FILE_REMEDY
    text = metadata.get("config")
    if text is None:
        raise InvalidInputError(f"{path} records no configuration (metadata key 'config' is missing): {remedy}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidInputError(f"{path}: the recorded configuration is not valid JSON ({err}): {remedy}") from None
    if not isinstance(data, dict):
        raise InvalidInputError(
            f"{path}: the recorded configuration is a JSON {type(data).__name__}, not a mapping: {remedy}"
        )
    return data


def load_model(
    path: str | Path,
    model_cfg: ModelConfig,
    hand_model_cfg: HandModelConfig,
    device: str | torch.device = "cpu",
    *,
    hand_models: tuple[nn.Module, nn.Module] | None = None,
) -> EANet:
    """Rebuild a model from one of our checkpoints.

    The caller reads the recorded run configuration (:func:`read_run_config`; ``eanet.config.recorded_config``
    makes it a ``Config``) and passes its ``model`` section and the hand model to use
    (:func:`eanet.hand_model.config.resolve_recorded_hand_model` of the recorded one).

    Args:
        path: ``.safetensors`` checkpoint written by :func:`save_model` or ``eanet convert-official``.
        model_cfg: the recorded architecture.
        hand_model_cfg: the hand model to build (checked against the recorded fingerprint).
        device: where the model runs.
        hand_models: ready ``(right, left)`` hand-model layers instead (tests); still fingerprint-checked.

    Returns:
        The model in eval mode on ``device``.

    Raises:
        CheckpointMismatchError: a different hand model than the one the weights were trained with, or weights
            that do not fit ``model_cfg``.
    """
    path = Path(path)
    state, _, metadata = read_checkpoint(path)
    if hand_models is None:
        hand_models = build_hand_models(hand_model_cfg)
    recorded = metadata.get("hand_model_fingerprint", "")
    if recorded:
        check_hand_model_fingerprint(recorded, *hand_models, source=path, made="trained", kind=hand_model_cfg.kind)
    else:
        logger.info("%s records no hand-model fingerprint; the hand model was not checked", path)

    mismatch = state_shape_mismatch(expected_state_shapes(model_cfg), {k: tuple(v.shape) for k, v in state.items()})
    if mismatch:
        raise CheckpointMismatchError(
            f"{path}: the weights do not fit the recorded configuration ({mismatch}); the file is damaged or was edited"
        )
    # Weights are assigned, not initialised: nothing is downloaded or drawn at random.
    model = build_model(model_cfg, hand_models=hand_models, state_dict=state)
    logger.info("loaded %s (%s, hand model %s)", path, metadata.get("source", "eanet checkpoint"), hand_model_cfg.kind)
    return model.to(device).eval()
