"""Interaction modules between the hand features: EABlock (paper §3.2, Fig. 4; official ``EABlock`` in
``common/nets/module.py:63-82``) and the baselines of the paper's ablations (Tables 1, 2 and 4).

Every interaction module maps the branch features ``[F_R, F_L]`` (or ``[F]`` for the shared-branch ablation),
each ``(B, c, h, w)``, to one interaction feature per branch of the same shape. The model then concatenates each
hand feature with its interaction feature and applies a 1x1 conv (``EANet.hand_fuse``), as the official EABlock
does with ``conv_r2`` / ``conv_l2``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from eanet.hand_model.skeleton import HANDS
from eanet.model.attention import CrossAttentionTransformer, TokenTransformer
from eanet.model.fuseformer import FuseFormer

__all__ = ["EABlock", "CrossHandTransformer", "SelfAttentionInteraction"]


class EABlock(nn.Module):
    """Extract-and-adaptation: ``F_inter = extract(F_R, F_L)``, then ``adapt[hand](F_hand, F_inter)``.

    Argument order follows the official code (module.py ``EABlock.forward``): ``Extract(F_R, F_L)``,
    ``Adapt_r(F_R, F_inter)``, ``Adapt_l(F_L, F_inter)``.

    Args:
        dim: channels ``c`` of the hand features.
        num_tokens: ``h * w``.
        adaptation: False drops the adaptation stage; both hands then get ``F_inter`` (paper Table 2, row 3).
        **fuseformer_kwargs: forwarded to every :class:`FuseFormer` (depths, heads, query/key-value choice).
    """

    def __init__(self, dim: int, num_tokens: int, adaptation: bool = True, **fuseformer_kwargs) -> None:
        super().__init__()
        self.extract = FuseFormer(dim, num_tokens, **fuseformer_kwargs)
        self.adapt = (
            nn.ModuleDict({hand: FuseFormer(dim, num_tokens, **fuseformer_kwargs) for hand in HANDS})
            if adaptation
            else None
        )

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        """``[F_R, F_L]`` (B, c, h, w) each ``-> [F_interR, F_interL]`` (B, c, h, w) each."""
        right, left = feats
        inter = self.extract(right, left)
        if self.adapt is None:
            return [inter, inter]
        return [self.adapt["right"](right, inter), self.adapt["left"](left, inter)]


class CrossHandTransformer(nn.Module):
    """IntagHand-style baseline (paper Table 1 row 2 and Table 2 row 1): each hand's tokens query the other hand's.

    ``inter_R = CA_R(q=F_R, kv=F_L)``, ``inter_L = CA_L(q=F_L, kv=F_R)``, each a :class:`CrossAttentionTransformer`
    of ``depth`` official cross blocks with its own positional embeddings.
    """

    def __init__(self, dim: int, num_tokens: int, depth: int, num_heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.cross_attn = nn.ModuleDict(
            {hand: CrossAttentionTransformer(dim, num_tokens, num_tokens, depth, num_heads, mlp_ratio) for hand in HANDS}
        )

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        """``[F_R, F_L] -> [inter_R, inter_L]``, all (B, c, h, w)."""
        B, C, h, w = feats[0].shape
        right, left = (f.flatten(2).transpose(1, 2) for f in feats)  # (B, hw, C) each
        out_right = self.cross_attn["right"](right, left)  # (B, hw, C)
        out_left = self.cross_attn["left"](left, right)  # (B, hw, C)
        return [o.transpose(1, 2).reshape(B, C, h, w) for o in (out_right, out_left)]  # (B, C, h, w) each


class SelfAttentionInteraction(nn.Module):
    """Self-attention baseline (paper Table 2 row 2; Table 1 row 1 with one shared branch, Keypoint-Transformer
    style): the tokens of all branches, concatenated, get a positional embedding and ``depth`` self-attention
    blocks; the output is split back per branch."""

    def __init__(
        self, dim: int, num_tokens: int, num_branches: int, depth: int, num_heads: int, mlp_ratio: float = 4.0
    ) -> None:
        super().__init__()
        self.transformer = TokenTransformer(dim, num_branches * num_tokens, depth, num_heads, mlp_ratio)

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        """``[F_1, ..., F_n] -> [inter_1, ..., inter_n]``, all (B, c, h, w)."""
        B, C, h, w = feats[0].shape
        tokens = torch.cat([f.flatten(2).transpose(1, 2) for f in feats], dim=1)  # (B, n*hw, C)
        tokens = self.transformer(tokens)  # (B, n*hw, C)
        return [t.transpose(1, 2).reshape(B, C, h, w) for t in tokens.split(h * w, dim=1)]  # n x (B, C, h, w)
