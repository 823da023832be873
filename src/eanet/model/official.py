"""Official EANet checkpoints (``jkpark0825/EANet``, ``snapshot_<epoch>.pth.tar``) in our model, and back.

An official file is ``{'epoch', 'network', 'optimizer'}`` whose ``network`` keys carry DataParallel's ``module.``
prefix and omit every ``mano_layer*`` key (the official ``common/base.py`` drops them when it saves). A
bare state dict (with or without ``module.``) is accepted too. Files are read with
``torch.load(..., weights_only=True)``: tensors and plain containers only, so a crafted pickle cannot run code.

Keys are translated through ONE table, :data:`KEY_TABLE`, of ordered ``(our prefix, official prefix, sub-table)``
rules; the first matching rule wins. The rest of a key inside a FuseFormer is translated by
:data:`FUSEFORMER_TABLE`, and inside a cross-attention block by :data:`CROSS_BLOCK_TABLE`. The translation is a
bijection between our state dict and the official one minus ``mano_layer*`` (tested against the official key
list). Loading is strict: every official key must be consumed and every weight of ours filled, with matching shapes;
otherwise the error lists what is missing, unexpected or mis-shaped.
"""

from __future__ import annotations

import functools
import logging
import pickle
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from eanet.errors import (
    CheckpointMismatchError,
    InvalidInputError,
    MissingFileError,
    UnsafeFileError,
    describe_key_mismatch,
)
from eanet.hand_model.config import HandModelConfig
from eanet.model import build_model, model_kwargs
from eanet.model.config import ModelConfig
from eanet.model.eanet import EANet
from eanet.model.provenance import OFFICIAL_METADATA_KEY, UNKNOWN

__all__ = [
    "KEY_TABLE",
    "FUSEFORMER_TABLE",
    "CROSS_BLOCK_TABLE",
    "ours_to_official_key",
    "official_to_ours_key",
    "official_key_map",
    "expected_state_shapes",
    "read_official_checkpoint",
    "convert_official_state_dict",
    "to_official_state_dict",
    "write_official_checkpoint",
    "official_model_config",
    "load_official",
]

logger = logging.getLogger(__name__)

_P = "hand_position_net."
_EA = "hand_position_net.EABlock."
_R = "hand_rotation_net."

#: One translation rule: ``(our prefix, official prefix, sub-table)``. A prefix that does not end with a dot must
#: match the whole key; a sub-table name says which table translates the rest of the key.
Rule = tuple[str, str, "str | None"]

#: Our key prefix -> official key prefix, for the official architecture (``ModelConfig()`` defaults).
KEY_TABLE: tuple[Rule, ...] = (
    ("backbone.", "hand_backbone.", None),
    ("hand_proj.right.conv.", _EA + "conv_r.0.", None),
    ("hand_proj.right.bn.", _EA + "conv_r.1.", None),
    ("hand_proj.left.conv.", _EA + "conv_l.0.", None),
    ("hand_proj.left.bn.", _EA + "conv_l.1.", None),
    ("interaction.extract.", _EA + "Extract.", "fuseformer"),
    ("interaction.adapt.right.", _EA + "Adapt_r.", "fuseformer"),
    ("interaction.adapt.left.", _EA + "Adapt_l.", "fuseformer"),
    ("hand_fuse.right.conv.", _EA + "conv_r2.0.", None),
    ("hand_fuse.right.bn.", _EA + "conv_r2.1.", None),
    ("hand_fuse.left.conv.", _EA + "conv_l2.0.", None),
    ("hand_fuse.left.bn.", _EA + "conv_l2.1.", None),
    ("position_head.heatmap.right.", _P + "conv_r2.0.", None),
    ("position_head.heatmap.left.", _P + "conv_l2.0.", None),
    ("rotation_head.joint_proj.right.conv.", _R + "rconv.0.", None),
    ("rotation_head.joint_proj.right.bn.", _R + "rconv.1.", None),
    ("rotation_head.joint_proj.left.conv.", _R + "lconv.0.", None),
    ("rotation_head.joint_proj.left.bn.", _R + "lconv.1.", None),
    ("rotation_head.sjt.right.", _R + "Transformer_r.", None),
    ("rotation_head.sjt.left.", _R + "Transformer_l.", None),
    ("rotation_head.root_pose.right.", _R + "rroot_pose_out.0.", None),
    ("rotation_head.root_pose.left.", _R + "lroot_pose_out.0.", None),
    ("rotation_head.hand_pose.right.", _R + "rpose_out.0.", None),
    ("rotation_head.hand_pose.left.", _R + "lpose_out.0.", None),
    ("rotation_head.shape.right.", _R + "rshape_out.0.", None),
    ("rotation_head.shape.left.", _R + "lshape_out.0.", None),
    ("rotation_head.cam.right.", _R + "rcam_out.0.", None),
    ("rotation_head.cam.left.", _R + "lcam_out.0.", None),
    ("rotation_head.rel_trans.fc1.", _R + "root_relative.0.", None),
    ("rotation_head.rel_trans.fc2.", _R + "root_relative.2.", None),
)

#: Inside a FuseFormer (official module.py ``FuseFormer`` and crosstransformer.py ``CrossTransformer``).
FUSEFORMER_TABLE: tuple[Rule, ...] = (
    ("join_proj.", "FC.", None),
    ("sim_pos_embed", "pos_embed", None),
    ("sim_cls_token", "cls_token", None),
    ("sim_blocks.", "SA_T.", None),
    ("sim_proj.", "FC2.", None),
    ("cross_attn.query_pos_embed", "CA_T.pos_embed", None),
    ("cross_attn.kv_pos_embed", "CA_T.pos_embed2", None),
    ("cross_attn.blocks.", "CA_T.blocks.", "cross_block"),
    ("out_proj.", "FC3.", None),
)

#: Inside a cross-attention block, after its index (official crosstransformer.py ``Block``). Self-attention blocks
#: (FuseFormer SA and SJT) already use timm's names on both sides.
CROSS_BLOCK_TABLE: tuple[Rule, ...] = (
    ("norm_q.", "norm1.", None),
    ("norm_kv.", "norm2.", None),
    ("norm_mlp.", "norm3.", None),
    ("attn.", "attn.", None),
    ("mlp.", "mlp.", None),
)

_OFFICIAL_SKIPPED_PREFIX = "mano_layer"


def _translate(key: str, table: tuple[Rule, ...], forward: bool) -> str | None:
    """Apply the first rule of ``table`` whose source side matches ``key``; ``None`` when none does."""
    for ours, official, sub in table:
        src, dst = (ours, official) if forward else (official, ours)
        if not (key.startswith(src) if src.endswith(".") else key == src):
            continue
        rest: str | None = key[len(src) :]
        if sub == "fuseformer":
            rest = _translate(rest, FUSEFORMER_TABLE, forward)
        elif sub == "cross_block":
            index, dot, tail = rest.partition(".")
            translated = _translate(tail, CROSS_BLOCK_TABLE, forward) if index.isdigit() and dot else None
            rest = None if translated is None else f"{index}.{translated}"
        return None if rest is None else dst + rest
    return None


def ours_to_official_key(key: str) -> str:
    """Official name of one of our state-dict keys (official architecture only)."""
    out = _translate(key, KEY_TABLE, forward=True)
    if out is None:
        raise KeyError(f"{key!r} has no official counterpart")
    return out


def official_to_ours_key(key: str) -> str:
    """Our name of an official state-dict key (without ``module.``)."""
    out = _translate(key, KEY_TABLE, forward=False)
    if out is None:
        raise KeyError(f"{key!r} is not a key of the official EANet")
    return out


def official_model_config():
    """The :class:`ModelConfig` of the official release (all defaults)."""
    return ModelConfig()


def expected_state_shapes(model_cfg=None) -> dict[str, torch.Size]:
    """Our state-dict keys and shapes for a model configuration (built on the meta device: no memory, no init)."""
    return dict(_expected_state_cached(official_model_config() if model_cfg is None else model_cfg))


@functools.lru_cache(maxsize=8)
def _expected_state_cached(model_cfg) -> dict[str, torch.Size]:
    kwargs = {**model_kwargs(model_cfg), "backbone_weights": None}
    with torch.device("meta"):
        net = EANet(None, None, **kwargs)
    return {k: v.shape for k, v in net.state_dict().items()}


def official_key_map(model_cfg=None) -> dict[str, str]:
    """``{official key: our key}`` for every weight of the official architecture (our key order)."""
    mapping = {}
    for ours in expected_state_shapes(model_cfg):
        official = ours_to_official_key(ours)
        if official in mapping:
            raise AssertionError(f"two keys map to {official!r}: {mapping[official]!r} and {ours!r}")
        mapping[official] = ours
    return mapping


# ----------------------------------------------------------------------------------------------------------------
# reading and writing files


def read_official_checkpoint(path: str | Path) -> tuple[dict[str, Tensor], dict]:
    """Read an official checkpoint safely.

    Args:
        path: ``snapshot_<epoch>.pth.tar`` (``{'epoch', 'network', 'optimizer'}``) or a file holding a bare state
            dict.

    Returns:
        ``(state dict without the "module." prefix, {"epoch": int | None})``, plus ``eanet_training_data`` when
        the file has it (written by ``eanet convert-official --to-official``; see :mod:`eanet.model.provenance`).

    Raises:
        MissingFileError: no such file.
        UnsafeFileError: the file needs more than tensors and plain containers to unpickle.
        InvalidInputError: the file holds something other than a state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"official checkpoint {str(path)!r} does not exist; pass the path to snapshot_*.pth.tar")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise UnsafeFileError(
            f"{path} was refused by the safe loader (torch.load(weights_only=True)): it asks to unpickle more than "
            f"tensors and plain containers ({str(err).splitlines()[0]}). Use a checkpoint from a source you trust "
            "and that holds only weights."
        ) from err
    except (RuntimeError, EOFError, OSError) as err:
        raise InvalidInputError(f"{path} is not a readable PyTorch checkpoint: {err}") from err
    meta = {"epoch": None}
    if isinstance(obj, Mapping) and "network" in obj:
        meta["epoch"] = obj.get("epoch")
        if isinstance(obj.get("eanet_training_data"), str):
            meta["eanet_training_data"] = obj["eanet_training_data"]
        obj = obj["network"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise InvalidInputError(
            f"{path} holds neither an official checkpoint ({{'epoch', 'network', 'optimizer'}}) nor a state dict"
        )
    state = {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in obj.items()}
    if len(state) != len(obj):
        raise InvalidInputError(f"{path} holds keys both with and without the 'module.' prefix; keep one copy")
    return state, meta


def convert_official_state_dict(official: Mapping[str, Tensor], model_cfg=None) -> dict[str, Tensor]:
    """Translate an official state dict (no ``module.`` prefix) into ours, strictly.

    ``mano_layer*`` keys (hand-model data, never part of our weights) are skipped. Every other official key must
    map to one of our keys with the same shape, and every key of ours must be filled.

    Raises:
        CheckpointMismatchError: listing missing, unexpected and mis-shaped keys.
    """
    expected = expected_state_shapes(model_cfg)
    converted: dict[str, Tensor] = {}
    unexpected, mis_shaped = [], []
    seen: set[str] = set()  # our keys the file provides, whatever their shape
    skipped = 0
    for key, value in official.items():
        if key.startswith(_OFFICIAL_SKIPPED_PREFIX):
            skipped += 1
            continue
        try:
            ours = official_to_ours_key(key)
        except KeyError:
            unexpected.append(key)
            continue
        if ours not in expected:
            unexpected.append(key)
            continue
        seen.add(ours)
        if tuple(value.shape) != tuple(expected[ours]):
            mis_shaped.append(f"{key} {tuple(value.shape)} (expected {tuple(expected[ours])})")
        else:
            converted[ours] = value
    missing = [ours_to_official_key(k) for k in expected if k not in seen]
    if unexpected or missing or mis_shaped:
        raise CheckpointMismatchError(
            "the checkpoint does not match the official EANet architecture: "
            + describe_key_mismatch(missing, unexpected, mis_shaped, keys="official keys")
            + ". Pass an "
            "unmodified official snapshot_*.pth.tar (or its bare state dict)."
        )
    if skipped:
        logger.debug("skipped %d mano_layer* entries (hand-model data is never loaded from checkpoints)", skipped)
    return {k: converted[k] for k in expected}


def to_official_state_dict(state: Mapping[str, Tensor], prefix: str = "module.") -> dict[str, Tensor]:
    """Our state dict (official architecture) in the official naming, with ``prefix`` (DataParallel's by default)."""
    out = {}
    for key, value in state.items():
        try:
            out[prefix + ours_to_official_key(key)] = value
        except KeyError as err:
            raise CheckpointMismatchError(
                f"{key!r} has no counterpart in the official EANet; only the official architecture (the default "
                "'eanet' configuration) can be written in the official format"
            ) from err
    return out


def write_official_checkpoint(
    state: Mapping[str, Tensor], path: str | Path, epoch: int | None = None, training_data: str | None = None
) -> None:
    """Write ``{'epoch', 'network', 'optimizer'}`` as the official code saves it (optimizer state: none).

    Args:
        training_data: what the weights were trained on, stored as ``eanet_training_data`` (the official code reads
            only ``network``): a :class:`~eanet.model.provenance.TrainingData` JSON, or ``unknown``. Without it the
            file would pass for the official release (InterHand2.6M) when read back.
    """
    obj: dict = {"epoch": epoch, "network": to_official_state_dict(state), "optimizer": None}
    obj[OFFICIAL_METADATA_KEY] = training_data or UNKNOWN
    torch.save(obj, Path(path))


# ----------------------------------------------------------------------------------------------------------------


def load_official(
    checkpoint_path: str | Path,
    mano_dir: str | Path | None = None,
    *,
    hand_model_cfg=None,
    device: str | torch.device = "cpu",
    with_metadata: bool = False,
):
    """Build the official EANet from a release checkpoint and the user's MANO files.

    Args:
        checkpoint_path: official ``snapshot_<epoch>.pth.tar`` (or a bare state dict of the official model).
        mano_dir: directory holding ``MANO_RIGHT.pkl`` and ``MANO_LEFT.pkl`` (default: ``$EANET_MANO_DIR``).
            The official weights were trained with MANO.
        hand_model_cfg: a full :class:`~eanet.hand_model.config.HandModelConfig` instead of ``mano_dir``.
        device: where the model runs.
        with_metadata: also return the file's entries (:func:`read_official_checkpoint`'s meta).

    Returns:
        The model in eval mode on ``device`` (with ``with_metadata``: ``(model, meta)``); ``model(img)`` with ``img``
        (B, 3, 256, 256) RGB in [0, 1] returns a :class:`~eanet.structures.TwoHandPrediction`.

    Example:
        >>> from eanet.model import load_official
        >>> model = load_official("snapshot_29.pth.tar", mano_dir="~/mano")  # doctest: +SKIP
    """
    if hand_model_cfg is None:
        hand_model_cfg = HandModelConfig(kind="mano", mano_dir=None if mano_dir is None else str(mano_dir))
    elif mano_dir is not None:
        raise InvalidInputError("pass either mano_dir or hand_model_cfg, not both")
    state, meta = read_official_checkpoint(checkpoint_path)
    converted = convert_official_state_dict(state)
    model = build_model(official_model_config(), hand_model_cfg, state_dict=converted)
    logger.info("loaded official EANet weights from %s (epoch %s)", checkpoint_path, meta["epoch"])
    model = model.to(device).eval()
    return (model, meta) if with_metadata else model
