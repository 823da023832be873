"""Our checkpoint format: one safetensors file holding the weights and, in its metadata, the resolved configuration.

A model is rebuilt from the file alone (plus the user's MANO files when it was trained with MANO: those are never
stored, spec §9.8). Metadata keys (all strings):

* ``format`` = ``eanet-checkpoint``, ``format_version`` = ``1``, ``eanet_version``;
* ``config``: the resolved :class:`eanet.config.Config` as JSON;
* ``hand_model_kind``: ``mano`` or ``open``; ``hand_model_fingerprint``: a hash of both hands' template vertices
  and faces (empty when unknown, e.g. an official checkpoint converted without the MANO files);
* ``training_data``: what the weights were trained on (JSON of :class:`eanet.model.provenance.TrainingData`;
  absent in files written before it existed: training data unknown);
* optional provenance, e.g. ``source`` and ``official_epoch`` for converted official checkpoints, ``global_step``
  for trained ones.

safetensors files cannot carry code, so loading them is safe by construction.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn

from eanet.errors import CheckpointMismatchError, InvalidInputError, MissingFileError
from eanet.hand_model.config import resolve_recorded_hand_model

if TYPE_CHECKING:
    from eanet.config import Config
    from eanet.hand_model.config import HandModelConfig
    from eanet.model.eanet import EANet
    from eanet.model.provenance import TrainingData

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "hand_model_fingerprint",
    "check_hand_model_fingerprint",
    "save_model",
    "save_state",
    "read_checkpoint",
    "read_metadata",
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
        f"{source} was {made} with the {kind!r} hand model{named} (fingerprint {recorded}), but the hand model given "
        f"is {getattr(right, 'name', '?')!r} (fingerprint {actual}): its faces and mean pose would not fit the "
        f"network's outputs; use the hand model (MANO files) it was {made} with"
    )


def _config_json(cfg: Config) -> str:
    from eanet.config import config_to_dict

    return json.dumps(config_to_dict(cfg), sort_keys=True)


def save_state(
    state: Mapping[str, Tensor],
    cfg: Config,
    path: str | Path,
    *,
    hand_model_fingerprint: str = "",
    extra_metadata: Mapping[str, str] | None = None,
    training_data: TrainingData | None = None,
) -> None:
    """Write a state dict with its configuration (the lower-level half of :func:`save_model`)."""
    from safetensors.torch import save_file

    from eanet.model.provenance import METADATA_KEY
    from eanet.version import __version__

    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "eanet_version": __version__,
        "config": _config_json(cfg),
        "hand_model_kind": cfg.hand_model.kind,
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
    cfg: Config,
    path: str | Path,
    *,
    extra_metadata: Mapping[str, str] | None = None,
    training_data: TrainingData | None = None,
) -> None:
    """Save ``model``'s weights and the resolved configuration ``cfg`` to one safetensors file.

    Args:
        model: an :class:`~eanet.model.eanet.EANet` built from ``cfg.model`` (checked: same weights and shapes).
        cfg: the full resolved :class:`~eanet.config.Config` (its ``model`` and ``hand_model`` sections rebuild the
            model).
        path: output ``.safetensors`` file.
        extra_metadata: more string metadata (provenance).
        training_data: what the weights were trained on (recorded; without it, predictions made with the file say
            "training data unknown").
    """
    from eanet.model.official import expected_state_shapes

    state = model.state_dict()
    expected = expected_state_shapes(cfg.model)
    if {k: tuple(v) for k, v in expected.items()} != {k: tuple(v.shape) for k, v in state.items()}:
        raise CheckpointMismatchError(
            "the model's weights do not match cfg.model (different architecture); save it with the configuration it "
            "was built from"
        )
    fingerprint = ""
    if model.hand_models is not None:
        fingerprint = hand_model_fingerprint(model.hand_models["right"], model.hand_models["left"])
    save_state(state, cfg, path, hand_model_fingerprint=fingerprint, extra_metadata=extra_metadata,
               training_data=training_data)  # fmt: skip
    logger.info("saved %s (%d tensors)", path, len(state))


def _open_checkpoint(path: str | Path, *, tensors: bool) -> tuple[Path, dict[str, str], dict[str, Tensor]]:
    """``(path, metadata, state dict on CPU or {})`` of one of our checkpoints, its format checked."""
    from safetensors import SafetensorError, safe_open

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


def read_checkpoint(path: str | Path) -> tuple[dict[str, Tensor], Config, dict[str, str]]:
    """Read one of our checkpoints: ``(state dict on CPU, resolved Config, metadata)``."""
    path, metadata, state = _open_checkpoint(path, tensors=True)
    if metadata.get("format_version") != FORMAT_VERSION:
        raise InvalidInputError(
            f"{path} has checkpoint format version {metadata.get('format_version')!r}; this eanet reads version "
            f"{FORMAT_VERSION}"
        )
    cfg = _config_from_metadata(metadata, path)
    return state, cfg, metadata


def read_metadata(path: str | Path) -> dict[str, str]:
    """The metadata of one of our checkpoints, without reading its weights."""
    return _open_checkpoint(path, tensors=False)[1]


def read_training_data(path: str | Path) -> TrainingData | None:
    """What one of our checkpoints was trained on; None when it records nothing (written before the record existed,
    or by :func:`save_model` without ``training_data``).

    Raises:
        InvalidInputError: the record is there but damaged.
    """
    from eanet.model.provenance import TrainingData

    return TrainingData.from_metadata(read_metadata(path), str(path))


def _config_from_metadata(metadata: Mapping[str, str], path: Path) -> Config:
    """The resolved configuration a checkpoint records, or an error naming the file and what is wrong with it."""
    from eanet.config import ConfigError, config_from_recorded_dict

    remedy = "the file was damaged or edited; download or copy it again from where it came from"
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
    try:
        return config_from_recorded_dict(data)  # older checkpoints may record data.input_size/heatmap_shape
    except ConfigError as err:
        raise InvalidInputError(f"{path}: the recorded configuration is not valid ({err}): {remedy}") from None


def load_model(
    path: str | Path,
    device: str | torch.device = "cpu",
    *,
    mano_dir: str | Path | None = None,
    hand_model_cfg: HandModelConfig | None = None,
    hand_models: tuple[nn.Module, nn.Module] | None = None,
) -> tuple[EANet, Config]:
    """Rebuild a model from one of our checkpoints.

    Args:
        path: ``.safetensors`` checkpoint written by :func:`save_model` or ``eanet convert-official``.
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
    from eanet.model import build_model
    from eanet.model.official import expected_state_shapes

    path = Path(path)
    state, cfg, metadata = read_checkpoint(path)
    hand_cfg = resolve_recorded_hand_model(cfg.hand_model, hand_model_cfg, mano_dir, source=path, made="trained")
    cfg = dataclasses.replace(cfg, hand_model=hand_cfg)
    if hand_models is None:
        from eanet.hand_model import build_hand_models

        hand_models = build_hand_models(hand_cfg)
    recorded = metadata.get("hand_model_fingerprint", "")
    if recorded:
        check_hand_model_fingerprint(recorded, *hand_models, source=path, made="trained", kind=hand_cfg.kind)
    else:
        logger.info("%s records no hand-model fingerprint; the hand model was not checked", path)

    expected = expected_state_shapes(cfg.model)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mis_shaped = sorted(
        f"{k} {tuple(state[k].shape)} (expected {tuple(expected[k])})"
        for k in set(expected) & set(state)
        if tuple(state[k].shape) != tuple(expected[k])
    )
    if missing or unexpected or mis_shaped:
        raise CheckpointMismatchError(
            f"{path}: the weights do not fit the recorded configuration (missing {len(missing)}: {missing[:8]}; "
            f"unexpected {len(unexpected)}: {unexpected[:8]}; wrong shapes {len(mis_shaped)}: {mis_shaped[:8]}); "
            "the file is damaged or was edited"
        )
    # Weights are assigned, not initialised: nothing is downloaded or drawn at random.
    model = build_model(cfg.model, hand_models=hand_models, state_dict=state)
    logger.info("loaded %s (%s, hand model %s)", path, metadata.get("source", "eanet checkpoint"), hand_cfg.kind)
    return model.to(device).eval(), cfg
