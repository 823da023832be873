"""Transformer blocks: pre-norm self-attention (ViT) and the official cross-attention block, with fused attention.

Both use ``F.scaled_dot_product_attention`` (scale ``head_dim ** -0.5``, no dropout), which computes the same
function as the official explicit ``softmax(q k^T * scale) v`` within float32 rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "Mlp",
    "SelfAttention",
    "SelfAttentionBlock",
    "CrossAttention",
    "CrossAttentionBlock",
    "CrossAttentionTransformer",
    "TokenTransformer",
]


class Mlp(nn.Module):
    """``fc2(GELU(fc1(x)))`` (exact GELU, as ``nn.GELU()``)."""

    def __init__(self, dim: int, hidden: int, bias: bool = True) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden, bias=bias)
        self.fc2 = nn.Linear(hidden, dim, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class SelfAttention(nn.Module):
    """Multi-head self-attention with one fused ``qkv`` projection (timm's layout: rows q, k, v; head-major)."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = False) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, C) -> (B, N, C)``."""
        B, N, C = x.shape
        qkv = self.qkv(x).view(B, N, 3, self.num_heads, C // self.num_heads)  # (B, N, 3, heads, C/heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x (B, heads, N, C/heads)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, heads, N, C/heads)
        return self.proj(out.transpose(1, 2).reshape(B, N, C))  # (B, N, C)


class SelfAttentionBlock(nn.Module):
    """Pre-norm ViT block: ``x + attn(norm1(x))`` then ``x + mlp(norm2(x))``.

    The same function and parameter names as ``timm.models.vision_transformer.Block`` with ``qkv_bias=False``
    and no dropout, drop-path or layer-scale, which is how the official FuseFormer and SJT build theirs
    (official module.py: ``Block(dim, heads, 4.0, qkv_bias=False, norm_layer=nn.LayerNorm)``).
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = False) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, num_heads, qkv_bias=qkv_bias)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), bias=True)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, C) -> (B, N, C)``."""
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class CrossAttention(nn.Module):
    """Multi-head cross-attention with separate bias-free q, k, v projections and a biased output projection
    (official crosstransformer.py ``Attention`` with ``qkv_bias=False``)."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim, bias=False)
        self.k = nn.Linear(dim, dim, bias=False)
        self.v = nn.Linear(dim, dim, bias=False)
        self.proj = nn.Linear(dim, dim)

    def forward(self, query: Tensor, key_value: Tensor) -> Tensor:
        """``(B, Nq, C)``, ``(B, Nk, C) -> (B, Nq, C)``; keys and values come from the same (normed) tokens."""
        B, Nq, C = query.shape
        Nk = key_value.shape[1]
        hd = C // self.num_heads
        q = self.q(query).view(B, Nq, self.num_heads, hd).transpose(1, 2)  # (B, heads, Nq, hd)
        k = self.k(key_value).view(B, Nk, self.num_heads, hd).transpose(1, 2)  # (B, heads, Nk, hd)
        v = self.v(key_value).view(B, Nk, self.num_heads, hd).transpose(1, 2)  # (B, heads, Nk, hd)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, heads, Nq, hd)
        return self.proj(out.transpose(1, 2).reshape(B, Nq, C))  # (B, Nq, C)


class CrossAttentionBlock(nn.Module):
    """The official cross-attention ``Block`` (``common/nets/crosstransformer.py:75-92``).

    ``q + attn(norm_q(q), norm_kv(kv))`` then ``q + mlp(norm_mlp(q))``. The MLP has no biases (the official
    crosstransformer ``Mlp`` defaults to ``bias=False``).
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.attn = CrossAttention(dim, num_heads)
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), bias=False)

    def forward(self, query: Tensor, key_value: Tensor) -> Tensor:
        """``(B, Nq, C)``, ``(B, Nk, C) -> (B, Nq, C)``."""
        query = query + self.attn(self.norm_q(query), self.norm_kv(key_value))
        return query + self.mlp(self.norm_mlp(query))


class CrossAttentionTransformer(nn.Module):
    """Cross-attention transformer: learned positional embeddings on both token sets, then ``depth`` blocks.

    The keys/values are not updated between blocks: every block attends to the same token set, as in the
    official ``CrossTransformer`` (``common/nets/crosstransformer.py:94-109``).
    No final norm.

    Args:
        dim: token width.
        num_query_tokens: query length (its positional embedding's length).
        num_kv_tokens: key/value length.
        depth: number of blocks.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width over ``dim``.
    """

    def __init__(
        self, dim: int, num_query_tokens: int, num_kv_tokens: int, depth: int, num_heads: int, mlp_ratio: float = 4.0
    ) -> None:
        super().__init__()
        # randn (std 1), as the official nn.Parameter(torch.randn(...)); its init_weights leaves them alone.
        self.query_pos_embed = nn.Parameter(torch.randn(1, num_query_tokens, dim))
        self.kv_pos_embed = nn.Parameter(torch.randn(1, num_kv_tokens, dim))
        self.blocks = nn.ModuleList(CrossAttentionBlock(dim, num_heads, mlp_ratio) for _ in range(depth))

    def forward(self, query: Tensor, key_value: Tensor) -> Tensor:
        """``(B, Nq, C)``, ``(B, Nk, C) -> (B, Nq, C)``."""
        query = query + self.query_pos_embed
        key_value = key_value + self.kv_pos_embed
        for block in self.blocks:
            query = block(query, key_value)
        return query


class TokenTransformer(nn.Module):
    """A learned positional embedding followed by ``depth`` self-attention blocks, no final norm.

    This is the official self-joint transformer (``Transformer`` in module.py: ``pos_embed`` (1, 21, C) + 4 blocks,
    4 heads, ``qkv_bias=False``) and the self-attention baseline of the ablations.
    """

    def __init__(self, dim: int, num_tokens: int, depth: int, num_heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.pos_embed = nn.Parameter(torch.randn(1, num_tokens, dim))  # std 1, as the official randn
        self.blocks = nn.ModuleList(SelfAttentionBlock(dim, num_heads, mlp_ratio) for _ in range(depth))

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, C) -> (B, N, C)``."""
        x = x + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return x
