"""Recording what the extract-stage FuseFormer sees and computes, without changing the model's forward pass.

:func:`capture_fuseformer` registers forward hooks on one :class:`~eanet.model.fuseformer.FuseFormer` for the
duration of a ``with`` block and records, from the last forward pass inside it:

* its two inputs as tokens (``tokens_a``, ``tokens_b``: ``(B, hw, C)``, row-major ``(h w)`` as the module flattens
  them; for the extract stage these are ``F_R`` and ``F_L``, see :data:`EXTRACT_INPUT_HANDS`);
* JoinToken (output of ``join_proj``, ``(B, hw, C)``) and SimToken (output of ``sim_proj``, ``(B, 2hw + 1, C)``, the
  cls token first), when the variant has them;
* the attention weights of every cross-attention block, ``(B, heads, Nq, Nk)``.

The attention modules use fused ``F.scaled_dot_product_attention``, which does not return its weights. The hook on
each :class:`~eanet.model.attention.CrossAttention` therefore recomputes ``softmax(q k^T / sqrt(d_head))`` from the
module's own inputs and projections (:func:`cross_attention_weights`); :func:`cross_attention_output` turns such
weights back into the module's output, which the tests compare with what the module returned.

The hooks only read: the module's outputs are returned unchanged and no parameter or buffer is touched.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from eanet.errors import InvalidInputError
from eanet.model.attention import CrossAttention
from eanet.model.eablock import EABlock
from eanet.model.fuseformer import FuseFormer

__all__ = [
    "EXTRACT_INPUT_HANDS",
    "CrossAttentionRecord",
    "FuseFormerCapture",
    "capture_fuseformer",
    "cross_attention_output",
    "cross_attention_weights",
    "extract_fuseformer",
]

#: Which hand each input of the extract-stage FuseFormer belongs to: ``EABlock.forward`` calls
#: ``extract(F_R, F_L)`` as the official ``EABlock`` does (``module.py:63-82``). SimToken is therefore
#: ``[cls, F_R's hw tokens, F_L's hw tokens]`` and JoinToken's FC reads ``cat([F_R, F_L])`` along channels, the
#: reverse of the paper's prose order ("F_L and F_R", paper §3.2). tests/analysis checks this against ``hand_proj``.
EXTRACT_INPUT_HANDS: tuple[str, str] = ("right", "left")


def cross_attention_weights(attn: CrossAttention, query: Tensor, key_value: Tensor) -> Tensor:
    """The attention weights a :class:`CrossAttention` applies, recomputed from its inputs.

    Exactly the module's math: ``q = W_q query``, ``k = W_k key_value``, split into heads, then
    ``softmax(q k^T * d_head ** -0.5)`` over the keys (the default scale of ``scaled_dot_product_attention``). Computed
    in float32 whatever the module's dtype.

    Args:
        attn: the attention module.
        query: ``(B, Nq, C)``, the module's first input (already layer-normed by its block).
        key_value: ``(B, Nk, C)``, its second input.

    Returns:
        ``(B, heads, Nq, Nk)``; every row sums to 1.
    """
    B, Nq, C = query.shape
    Nk = key_value.shape[1]
    heads = attn.num_heads
    hd = C // heads
    q = attn.q(query).float().view(B, Nq, heads, hd).transpose(1, 2)  # (B, heads, Nq, hd)
    k = attn.k(key_value).float().view(B, Nk, heads, hd).transpose(1, 2)  # (B, heads, Nk, hd)
    return torch.softmax(q @ k.transpose(-2, -1) * hd**-0.5, dim=-1)  # (B, heads, Nq, Nk)


def cross_attention_output(attn: CrossAttention, weights: Tensor, key_value: Tensor) -> Tensor:
    """What a :class:`CrossAttention` outputs for given attention weights: ``proj(concat_heads(weights @ v))``.

    Args:
        attn: the attention module.
        weights: ``(B, heads, Nq, Nk)`` (e.g. from :func:`cross_attention_weights`).
        key_value: ``(B, Nk, C)``, the module's second input.

    Returns:
        ``(B, Nq, C)`` in float32.
    """
    B, heads, Nq, Nk = weights.shape
    C = key_value.shape[-1]
    v = attn.v(key_value).float().view(B, Nk, heads, C // heads).transpose(1, 2)  # (B, heads, Nk, hd)
    out = (weights.float() @ v).transpose(1, 2).reshape(B, Nq, C)  # (B, Nq, C)
    return nn.functional.linear(out, attn.proj.weight.float(), None if attn.proj.bias is None else attn.proj.bias.float())


@dataclass
class CrossAttentionRecord:
    """One cross-attention block's forward pass.

    Attributes:
        weights: ``(B, heads, Nq, Nk)`` float32 attention weights (recomputed, see :func:`cross_attention_weights`).
        query_in: ``(B, Nq, C)`` the module's normed query input (only with ``record_io``).
        key_value_in: ``(B, Nk, C)`` its normed key/value input (only with ``record_io``).
        output: ``(B, Nq, C)`` what the module returned (only with ``record_io``).
    """

    weights: Tensor
    query_in: Tensor | None = None
    key_value_in: Tensor | None = None
    output: Tensor | None = None


@dataclass
class FuseFormerCapture:
    """What one FuseFormer saw and computed in the last forward pass inside :func:`capture_fuseformer`.

    Attributes:
        query_kind: the module's ``query`` setting (``join``: JoinToken queries, the paper's choice).
        key_value_kind: its ``key_value`` setting (``sim``: SimToken keys/values, the paper's choice).
        grid: ``(h, w)`` of the input maps.
        tokens_a: ``(B, hw, C)`` first input as tokens (row-major ``(h w)``).
        tokens_b: ``(B, hw, C)`` second input.
        join_token: ``(B, hw, C)`` JoinToken, or None when the variant has none.
        sim_token: ``(B, 2hw + 1, C)`` SimToken (cls first), or None.
        attention: one :class:`CrossAttentionRecord` per cross-attention block, in order.
    """

    query_kind: str
    key_value_kind: str
    grid: tuple[int, int] | None = None
    tokens_a: Tensor | None = None
    tokens_b: Tensor | None = None
    join_token: Tensor | None = None
    sim_token: Tensor | None = None
    attention: list[CrossAttentionRecord] = field(default_factory=list)

    @property
    def captured(self) -> bool:
        """True once a forward pass has been recorded."""
        return self.tokens_a is not None

    def attention_weights(self) -> Tensor:
        """All blocks' weights stacked: ``(blocks, B, heads, Nq, Nk)``."""
        if not self.attention:
            raise InvalidInputError(
                f"no cross-attention was recorded (FuseFormer key_value={self.key_value_kind!r} has none, or no "
                "forward pass ran inside capture_fuseformer)"
            )
        return torch.stack([r.weights for r in self.attention])  # (blocks, B, heads, Nq, Nk)

    def key_segments(self, hands: tuple[str, str] = EXTRACT_INPUT_HANDS) -> list[tuple[str, int, int]]:
        """``(label, start, stop)`` of each part of the key/value sequence, e.g. for the paper's configuration
        ``[("cls", 0, 1), ("right", 1, 65), ("left", 65, 129)]`` (``hands`` names the two inputs)."""
        n = self.grid[0] * self.grid[1] if self.grid is not None else 0
        if self.key_value_kind == "sim":
            return [("cls", 0, 1), (hands[0], 1, 1 + n), (hands[1], 1 + n, 1 + 2 * n)]
        if self.key_value_kind == "hand_features":
            return [(hands[0], 0, n), (hands[1], n, 2 * n)]
        if self.key_value_kind == "join":
            return [("join", 0, n)]
        return []


@contextmanager
def capture_fuseformer(fuseformer: FuseFormer, *, record_io: bool = False) -> Iterator[FuseFormerCapture]:
    """Record a FuseFormer's tokens and cross-attention weights while the ``with`` block runs.

    Args:
        fuseformer: the module to watch (e.g. ``extract_fuseformer(model)[0]``).
        record_io: also keep each attention module's inputs and output (for checking the recomputed weights).

    Yields:
        A :class:`FuseFormerCapture`, filled by every forward pass of ``fuseformer`` (the last one wins). The hooks are
        removed when the block exits, also on error. Recorded tensors are detached and stay on the model's device.

    Example:
        >>> module, hands = extract_fuseformer(model)  # doctest: +SKIP
        >>> with capture_fuseformer(module) as cap:  # doctest: +SKIP
        ...     model(img)
        >>> cap.attention_weights().shape  # (blocks, B, heads, 64, 129)  # doctest: +SKIP
    """
    if not isinstance(fuseformer, FuseFormer):
        raise InvalidInputError(f"capture_fuseformer needs a FuseFormer, got {type(fuseformer).__name__}")
    record = FuseFormerCapture(query_kind=fuseformer.query, key_value_kind=fuseformer.key_value)
    handles = []

    def on_inputs(module: nn.Module, args: tuple, kwargs: dict) -> None:
        feat_a, feat_b = (*args, *(kwargs[k] for k in ("feat_a", "feat_b") if k in kwargs))[:2]
        record.grid = (int(feat_a.shape[2]), int(feat_a.shape[3]))
        # Same flattening as FuseFormer.forward: row-major (h w) tokens.
        record.tokens_a = feat_a.detach().flatten(2).transpose(1, 2)  # (B, hw, C)
        record.tokens_b = feat_b.detach().flatten(2).transpose(1, 2)  # (B, hw, C)
        record.join_token = record.sim_token = None
        record.attention = []

    def on_join(module: nn.Module, args: tuple, output: Tensor) -> None:
        record.join_token = output.detach()  # (B, hw, C)

    def on_sim(module: nn.Module, args: tuple, output: Tensor) -> None:
        record.sim_token = output.detach()  # (B, 2hw + 1, C)

    def on_attention(module: nn.Module, args: tuple, output: Tensor) -> None:
        query, key_value = (a.detach() for a in args[:2])
        with torch.no_grad():
            weights = cross_attention_weights(module, query, key_value)  # (B, heads, Nq, Nk)
        if record_io:
            record.attention.append(CrossAttentionRecord(weights, query, key_value, output.detach()))
        else:
            record.attention.append(CrossAttentionRecord(weights))

    try:
        handles.append(fuseformer.register_forward_pre_hook(on_inputs, with_kwargs=True))
        if fuseformer.join_proj is not None:
            handles.append(fuseformer.join_proj.register_forward_hook(on_join))
        if fuseformer.sim_proj is not None:
            handles.append(fuseformer.sim_proj.register_forward_hook(on_sim))
        if fuseformer.cross_attn is not None:
            for block in fuseformer.cross_attn.blocks:
                handles.append(block.attn.register_forward_hook(on_attention))
        yield record
    finally:
        for handle in handles:
            handle.remove()


def extract_fuseformer(model: nn.Module) -> tuple[FuseFormer, tuple[str, str]]:
    """The extract-stage FuseFormer of an EANet and the hands of its two inputs (``("right", "left")``).

    Raises:
        InvalidInputError: the model has no EABlock (an ablation variant without the extract stage).
    """
    interaction = getattr(model, "interaction", None)
    if not isinstance(interaction, EABlock):
        kind = "none" if interaction is None else type(interaction).__name__
        raise InvalidInputError(
            f"this model has no extract-stage FuseFormer (interaction module: {kind}); the analysis needs an EABlock "
            "model (model.interaction eablock or extract_only), e.g. the `eanet` configuration"
        )
    return interaction.extract, EXTRACT_INPUT_HANDS
