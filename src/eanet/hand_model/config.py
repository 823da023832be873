"""Configuration of the hand model (MANO or the built-in open hand)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from os import PathLike
from typing import Literal

from eanet.errors import CheckpointMismatchError, InvalidInputError

__all__ = ["HandModelConfig", "HAND_MODEL_IDENTITY_FIELDS", "resolve_recorded_hand_model"]

#: The settings a network's weights depend on: a checkpoint or ONNX file fits only the hand model it was made with.
HAND_MODEL_IDENTITY_FIELDS = ("kind", "flat_hand_mean", "fingertip_vertices")


@dataclass(frozen=True)
class HandModelConfig:
    #: ``open``: the built-in, freely licensed hand model (not MANO); ``mano``: the user's licensed MANO files.
    kind: Literal["open", "mano"] = "open"
    #: Directory holding ``MANO_RIGHT.pkl`` and ``MANO_LEFT.pkl``; when null, ``$EANET_MANO_DIR`` is used.
    mano_dir: str | None = None
    #: False (the official code and InterHand2.6M's NeuralAnnot fits): finger poses are relative to the mean hand.
    flat_hand_mean: bool = False
    #: Fingertip vertices (thumb, index, middle, ring, pinky) for the 21 joints; null: the model's training tips.
    fingertip_vertices: tuple[int, int, int, int, int] | None = None
    #: ``kind: mano`` only: keep converted MANO arrays in the user cache (``$EANET_CACHE_DIR``, else
    #: ``$XDG_CACHE_HOME/eanet`` or ``~/.cache/eanet``), keyed by the files' SHA-256; never inside the repository.
    mano_cache: bool = True


def resolve_recorded_hand_model(
    recorded: HandModelConfig,
    requested: HandModelConfig | None,
    mano_dir: str | PathLike | None,
    *,
    source: str | PathLike,
    made: str,
) -> HandModelConfig:
    """The hand model to rebuild a saved network with: the one its file records, with the caller's MANO directory.

    Args:
        recorded: the hand model the file records.
        requested: a full hand-model configuration from the caller instead; it must match ``recorded`` in
            :data:`HAND_MODEL_IDENTITY_FIELDS`.
        mano_dir: a MANO directory from the caller (files made with MANO only; not together with ``requested``).
        source: the file, named in the errors.
        made: how the file was made, for the errors: ``"trained"`` (a checkpoint) or ``"exported"`` (ONNX).

    Returns:
        ``requested`` when given, else ``recorded`` (with ``mano_dir`` when given).

    Raises:
        InvalidInputError: both ``requested`` and ``mano_dir``.
        CheckpointMismatchError: ``mano_dir`` for a file made with another hand model than MANO, or a ``requested``
            hand model that differs from the recorded one; the message says which settings to pass.
    """
    if requested is not None and mano_dir is not None:
        raise InvalidInputError("pass either mano_dir or hand_model_cfg, not both")
    if requested is None:
        if mano_dir is None:
            return recorded
        if recorded.kind != "mano":
            raise CheckpointMismatchError(
                f"{source} was {made} with the {recorded.kind!r} hand model, not MANO; load it without mano_dir"
            )
        return dataclasses.replace(recorded, mano_dir=str(mano_dir))
    differences = [
        f"{name}: {made} with {getattr(recorded, name)!r}, given {getattr(requested, name)!r}"
        for name in HAND_MODEL_IDENTITY_FIELDS
        if getattr(recorded, name) != getattr(requested, name)
    ]
    if differences:
        raise CheckpointMismatchError(
            f"{source} was {made} with a different hand model ({'; '.join(differences)}); its weights only make "
            f"sense with the one it was {made} with: pass hand_model kind={recorded.kind!r}, "
            f"flat_hand_mean={recorded.flat_hand_mean}, fingertip_vertices={recorded.fingertip_vertices}"
            + (" and the MANO directory (mano_dir)" if recorded.kind == "mano" else "")
        )
    return requested
