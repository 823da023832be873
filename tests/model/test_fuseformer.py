import pytest
import torch

from eanet.model.fuseformer import FuseFormer

VARIANTS = [
    ("join", "sim"),
    ("join", "none"),
    ("join", "hand_features"),
    ("join", "join"),
    ("sim", "sim"),
    ("sim", "join"),
]


@pytest.mark.parametrize("query, key_value", VARIANTS)
def test_shapes_and_gradients_of_every_variant(query, key_value):
    torch.manual_seed(0)
    ff = FuseFormer(16, num_tokens=6, sa_depth=1, ca_depth=1, num_heads=2, query=query, key_value=key_value)
    a = torch.randn(2, 16, 2, 3, requires_grad=True)
    b = torch.randn(2, 16, 2, 3)
    out = ff(a, b)
    assert out.shape == (2, 16, 2, 3)
    out.square().mean().backward()
    assert a.grad is not None and a.grad.abs().sum() > 0
    for name, p in ff.named_parameters():
        assert p.grad is not None, name


def test_positional_embedding_lengths_follow_the_grid():
    ff = FuseFormer(8, num_tokens=12, sa_depth=1, ca_depth=1, num_heads=2)
    assert ff.sim_pos_embed.shape == (1, 25, 8)  # 2 * h * w + cls
    assert ff.cross_attn.query_pos_embed.shape == (1, 12, 8)
    assert ff.cross_attn.kv_pos_embed.shape == (1, 25, 8)
    q_sim = FuseFormer(8, num_tokens=12, sa_depth=1, ca_depth=1, num_heads=2, query="sim", key_value="join")
    assert q_sim.cross_attn.query_pos_embed.shape == (1, 25, 8)
    assert q_sim.cross_attn.kv_pos_embed.shape == (1, 12, 8)
    assert q_sim.join_proj is not None and q_sim.out_proj.in_features == 16


def test_paper_variant_builds_only_what_it_uses():
    assert FuseFormer(8, 4, 1, 1, 2, key_value="none").sim_blocks is None
    assert FuseFormer(8, 4, 1, 1, 2, key_value="none").cross_attn is None
    assert FuseFormer(8, 4, 1, 1, 2, query="sim", key_value="sim").join_proj is None
    with pytest.raises(ValueError):
        FuseFormer(8, 4, 1, 1, 2, query="sim", key_value="none")


def test_input_order_matters():
    """FuseFormer(a, b) and FuseFormer(b, a) differ (JoinToken's channel order, SimToken's token order)."""
    torch.manual_seed(0)
    ff = FuseFormer(8, 4, 1, 1, 2)
    with torch.no_grad():
        for p in ff.parameters():
            p.normal_(0, 0.2)
    a, b = torch.randn(1, 8, 2, 2), torch.randn(1, 8, 2, 2)
    assert not torch.allclose(ff(a, b), ff(b, a), atol=1e-4)
