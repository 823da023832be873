"""FuseFormer (paper §3.2, Fig. 5; official ``module.py:27-59``): fuses two maps through JoinToken and SimToken.

Given two maps ``a`` and ``b`` (B, c, h, w) flattened row-major to ``hw`` tokens each:

* **JoinToken** ``t_J = join_proj(cat([a, b], channels))``: (B, hw, c), one Linear(2c -> c) per position.
* **SimToken** ``t_S``: tokens ``cat([a, b])`` (B, 2hw, c) plus ``sim_pos_embed[:, 1:]``, a cls token plus
  ``sim_pos_embed[:, :1]`` prepended, ``sa_depth`` self-attention blocks (no final norm), then ``sim_proj`` on all
  ``2hw + 1`` tokens. The cls token is never read out on its own; it stays in the key/value set.
* A cross-attention transformer with JoinToken as query and SimToken as keys/values, each with its own positional
  embedding, then ``out_proj`` on the ``hw`` query tokens, reshaped back to (B, c, h, w).

There is no residual around the FuseFormer and no norm after it (as in the official ``EABlock``).

The paper's Table 3 ablations are options of the same module (``query`` / ``key_value``):

* ``key_value="none"``: no cross-attention and no SimToken; ``out_proj(t_J)`` is the output (row 1).
* ``key_value="hand_features"``: keys/values are the two input maps' ``2hw`` tokens (row 2); no SimToken.
* ``key_value="join"``: keys/values are JoinToken (row 3); no SimToken.
* ``query="sim"``: the ``2hw + 1`` SimTokens are the queries (rows 4-5). Our choice, where the paper is silent:
  the output drops the cls position and joins the two halves per grid position along channels (as JoinToken joins
  its inputs), so ``out_proj`` maps ``2c -> c`` and the output is again (B, c, h, w).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from eanet.model.attention import CrossAttentionTransformer, SelfAttentionBlock

__all__ = ["FuseFormer"]


class FuseFormer(nn.Module):
    """Fuse two ``(B, dim, h, w)`` maps into one interaction map of the same shape.

    Args:
        dim: channels ``c`` of both inputs, of every token and of the output.
        num_tokens: ``h * w`` of the inputs (the positional embeddings' lengths follow from it).
        sa_depth: self-attention blocks producing SimToken.
        ca_depth: cross-attention blocks.
        num_heads: heads of both transformers.
        mlp_ratio: MLP hidden width over ``dim``.
        query: ``"join"`` (paper) or ``"sim"``.
        key_value: ``"sim"`` (paper), ``"join"``, ``"hand_features"`` or ``"none"``.
    """

    def __init__(
        self,
        dim: int = 512,
        num_tokens: int = 64,
        sa_depth: int = 4,
        ca_depth: int = 4,
        num_heads: int = 4,
        mlp_ratio: float = 4.0,
        query: str = "join",
        key_value: str = "sim",
    ) -> None:
        super().__init__()
        if query not in ("join", "sim") or key_value not in ("sim", "join", "hand_features", "none"):
            raise ValueError(f"unsupported FuseFormer query/key_value {query!r}/{key_value!r}")
        if key_value == "none" and query != "join":
            raise ValueError("a FuseFormer without cross-attention outputs JoinToken; query must be 'join'")
        self.query = query
        self.key_value = key_value
        uses_join = query == "join" or key_value == "join"
        uses_sim = query == "sim" or key_value == "sim"
        num_sim_tokens = 2 * num_tokens + 1

        self.join_proj = nn.Linear(2 * dim, dim) if uses_join else None
        if uses_sim:
            # randn (std 1), as the official nn.Parameter(torch.randn(...)); its init_weights leaves them alone.
            self.sim_pos_embed = nn.Parameter(torch.randn(1, num_sim_tokens, dim))
            self.sim_cls_token = nn.Parameter(torch.randn(1, 1, dim))
            self.sim_blocks = nn.ModuleList(SelfAttentionBlock(dim, num_heads, mlp_ratio) for _ in range(sa_depth))
            self.sim_proj = nn.Linear(dim, dim)
        else:
            self.sim_pos_embed = self.sim_cls_token = self.sim_blocks = self.sim_proj = None

        if key_value == "none":
            self.cross_attn = None
        else:
            num_query = num_tokens if query == "join" else num_sim_tokens
            num_kv = {"sim": num_sim_tokens, "join": num_tokens, "hand_features": 2 * num_tokens}[key_value]
            self.cross_attn = CrossAttentionTransformer(dim, num_query, num_kv, ca_depth, num_heads, mlp_ratio)
        self.out_proj = nn.Linear(dim if query == "join" else 2 * dim, dim)

    def sim_token(self, a: Tensor, b: Tensor) -> Tensor:
        """SimToken from token sets ``a``, ``b`` (B, N, C): ``(B, 2N + 1, C)``, the cls token first."""
        B = a.shape[0]
        tokens = torch.cat((a, b), dim=1) + self.sim_pos_embed[:, 1:]  # (B, 2N, C)
        cls = (self.sim_cls_token + self.sim_pos_embed[:, :1]).expand(B, -1, -1)  # (B, 1, C)
        tokens = torch.cat((cls, tokens), dim=1)  # (B, 2N + 1, C)
        for block in self.sim_blocks:
            tokens = block(tokens)
        return self.sim_proj(tokens)  # (B, 2N + 1, C)

    def forward(self, feat_a: Tensor, feat_b: Tensor) -> Tensor:
        """Fuse ``feat_a`` and ``feat_b`` (B, C, h, w), in that order (it matters: e.g. JoinToken's channel order).

        Returns:
            ``(B, C, h, w)`` interaction feature.
        """
        B, C, h, w = feat_a.shape
        a = feat_a.flatten(2).transpose(1, 2)  # (B, hw, C), row-major (h w)
        b = feat_b.flatten(2).transpose(1, 2)  # (B, hw, C)
        join = self.join_proj(torch.cat((a, b), dim=2)) if self.join_proj is not None else None  # (B, hw, C)
        sim = self.sim_token(a, b) if self.sim_proj is not None else None  # (B, 2hw + 1, C)

        if self.cross_attn is None:
            out = join  # (B, hw, C)
        else:
            query = join if self.query == "join" else sim
            key_value = {"sim": sim, "join": join}.get(self.key_value)
            if key_value is None:  # "hand_features": the two inputs as tokens
                key_value = torch.cat((a, b), dim=1)  # (B, 2hw, C)
            out = self.cross_attn(query, key_value)  # (B, Nq, C)
            if self.query == "sim":
                # Drop the cls position; join the two halves per grid position along channels (our choice).
                out = out[:, 1:].view(B, 2, h * w, C).permute(0, 2, 1, 3).reshape(B, h * w, 2 * C)  # (B, hw, 2C)
        out = self.out_proj(out)  # (B, hw, C)
        return out.transpose(1, 2).reshape(B, C, h, w)  # (B, C, h, w)
