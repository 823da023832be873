"""Configuration of the hand model (MANO or the built-in open hand)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


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
