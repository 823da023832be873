"""Loading a hand model's data (the user's MANO files or the built-in open hand) and building its layers from the
``hand_model`` configuration section."""

from __future__ import annotations

import os

from eanet.errors import InvalidInputError, UserError
from eanet.hand_model.base import HandModelData, Side
from eanet.hand_model.config import HandModelConfig
from eanet.hand_model.layer import HandModelLayer
from eanet.hand_model.mano import load_mano_data, load_mano_pair
from eanet.hand_model.open_hand import load_open_hand_data

__all__ = ["HAND_MODEL_KINDS", "build_hand_model", "build_hand_models", "load_hand_model_data", "load_hand_model_pair"]

HAND_MODEL_KINDS = ("open", "mano")


def _load_open_hand(side: Side) -> HandModelData:
    # Imported here: an installation without the open hand's module and asset gets this message, not an ImportError
    # on every use of the package.
    try:
        pass
    except ModuleNotFoundError as err:
        if err.name != "eanet.hand_model.open_hand":
            raise
        raise UserError(
            "The built-in open hand model is not available in this installation (eanet.hand_model.open_hand is "
            "missing). Use your own MANO files instead: hand_model.kind=mano with hand_model.mano_dir=DIR or "
            "$EANET_MANO_DIR (see `eanet mano check --help`)."
        ) from err
    return load_open_hand_data(side)


def load_hand_model_data(
    kind: str,
    side: Side,
    mano_dir: str | os.PathLike | None = None,
    *,
    mano_cache: bool = True,
    origin: str | None = None,
) -> HandModelData:
    """Load one hand's model data.

    Args:
        kind: ``"open"`` (the built-in, freely licensed hand model; not MANO) or ``"mano"`` (the user's files).
        side: ``"right"`` or ``"left"``.
        mano_dir: directory with ``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl`` (``kind="mano"`` only); None uses
            ``$EANET_MANO_DIR``.
        mano_cache: use and fill the converted-array cache (``kind="mano"`` only; see :mod:`eanet.hand_model.mano`).
        origin: how the caller got ``mano_dir``, for error messages (e.g. ``"--mano-dir"``).

    Raises:
        InvalidInputError: unknown ``kind`` or ``side``.
        MissingFileError, UnsafeFileError: MANO files missing or unsafe.
    """
    if side not in ("right", "left"):
        raise InvalidInputError(f"side must be 'right' or 'left', got {side!r}")
    if kind == "mano":
        return load_mano_data(side, mano_dir, origin=origin, cache=mano_cache)
    if kind == "open":
        return _load_open_hand(side)
    raise InvalidInputError(f"hand model kind must be one of {HAND_MODEL_KINDS}, got {kind!r}")


def _layer(cfg: HandModelConfig, data: HandModelData) -> HandModelLayer:
    return HandModelLayer(data, flat_hand_mean=cfg.flat_hand_mean, tip_vertices=cfg.fingertip_vertices)


def _origin(cfg: HandModelConfig) -> str | None:
    return "the config key hand_model.mano_dir" if cfg.mano_dir else None


def load_hand_model_pair(cfg: HandModelConfig, *, origin: str | None = None) -> tuple[HandModelData, HandModelData]:
    """Both hands' model data ``(right, left)`` for a ``hand_model`` configuration (MANO or the open hand).

    For MANO each file is read once (the left-hand fix needs the right file too).

    Args:
        origin: where ``cfg.mano_dir`` came from, for error messages (default: the config key, when set).
    """
    if cfg.kind == "mano":
        return load_mano_pair(cfg.mano_dir, origin=origin or _origin(cfg), cache=cfg.mano_cache)
    return load_hand_model_data(cfg.kind, "right"), load_hand_model_data(cfg.kind, "left")


def build_hand_model(cfg: HandModelConfig, side: Side) -> HandModelLayer:
    """Build one hand's :class:`HandModelLayer` from the ``hand_model`` config section."""
    data = load_hand_model_data(cfg.kind, side, cfg.mano_dir, mano_cache=cfg.mano_cache, origin=_origin(cfg))
    return _layer(cfg, data)


def build_hand_models(cfg: HandModelConfig) -> tuple[HandModelLayer, HandModelLayer]:
    """Build ``(right, left)`` layers; for MANO each file is read once (the left-hand fix needs the right file)."""
    right, left = load_hand_model_pair(cfg)
    return _layer(cfg, right), _layer(cfg, left)
