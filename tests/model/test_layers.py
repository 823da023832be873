import pytest
import torch
from torch import nn

from eanet.model.attention import CrossAttentionBlock, SelfAttentionBlock
from eanet.model.layers import ConvBNReLU, init_official_, sample_joint_features, soft_argmax_3d


def test_soft_argmax_finds_a_sharp_peak_in_x_y_z_order():
    hm = torch.full((1, 2, 4, 5, 6), -1e4)  # (B, J, D, h, w)
    hm[0, 0, 3, 1, 5] = 0.0  # joint 0 at z=3, y=1, x=5
    hm[0, 1, 0, 4, 2] = 0.0
    out = soft_argmax_3d(hm)
    assert torch.allclose(out, torch.tensor([[[5.0, 1.0, 3.0], [2.0, 4.0, 0.0]]]))


def test_soft_argmax_of_a_flat_heatmap_is_the_volume_centre():
    out = soft_argmax_3d(torch.zeros(2, 3, 8, 8, 8))
    assert torch.allclose(out, torch.full((2, 3, 3), 3.5))


def test_joint_features_at_pixel_centres_equal_the_map_and_interpolate_between():
    feat = torch.randn(2, 5, 4, 6)
    xy = torch.tensor([[[0.0, 0.0], [5.0, 3.0], [2.0, 1.0]]]).repeat(2, 1, 1)
    out = sample_joint_features(feat, xy)  # (B, J, C)
    assert out.shape == (2, 3, 5)
    assert torch.allclose(out[:, 0], feat[:, :, 0, 0], atol=1e-6)
    assert torch.allclose(out[:, 1], feat[:, :, 3, 5], atol=1e-6)
    assert torch.allclose(out[:, 2], feat[:, :, 1, 2], atol=1e-6)
    mid = sample_joint_features(feat, torch.tensor([[[2.5, 1.0]]]).repeat(2, 1, 1))
    assert torch.allclose(mid[:, 0], (feat[:, :, 1, 2] + feat[:, :, 1, 3]) / 2, atol=1e-6)


def test_official_init_statistics():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(400, 300), nn.Linear(400, 300, bias=False), nn.Conv2d(300, 400, 1), nn.BatchNorm2d(8))
    m.apply(init_official_)
    assert m[0].weight.std().item() == pytest.approx(0.01, rel=0.02)
    assert m[1].weight.std().item() == pytest.approx(0.01, rel=0.02)
    assert m[2].weight.std().item() == pytest.approx(0.001, rel=0.02)
    assert m[0].bias.abs().max() == 0 and m[2].bias.abs().max() == 0
    assert torch.all(m[3].weight == 1) and torch.all(m[3].bias == 0)


def test_self_attention_block_equals_timm_block():
    """Same parameter names and function as timm's ViT Block with qkv_bias=False (what the official code uses)."""
    from timm.models.vision_transformer import Block

    torch.manual_seed(0)
    ours = SelfAttentionBlock(32, 4)
    timm_block = Block(32, 4, 4.0, qkv_bias=False, norm_layer=nn.LayerNorm)
    timm_block.attn.fused_attn = False
    with torch.no_grad():
        for p in ours.parameters():
            p.normal_(0, 0.2)
    timm_block.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(3, 7, 32)
    assert torch.allclose(ours(x), timm_block(x), atol=1e-5)


def test_cross_attention_block_math():
    torch.manual_seed(0)
    blk = CrossAttentionBlock(16, 2)
    with torch.no_grad():
        for p in blk.parameters():
            p.normal_(0, 0.3)
    q, kv = torch.randn(2, 5, 16), torch.randn(2, 9, 16)
    qn, kn = blk.norm_q(q), blk.norm_kv(kv)
    qh = blk.attn.q(qn).view(2, 5, 2, 8).transpose(1, 2)
    kh = blk.attn.k(kn).view(2, 9, 2, 8).transpose(1, 2)
    vh = blk.attn.v(kn).view(2, 9, 2, 8).transpose(1, 2)
    attn = (qh @ kh.transpose(-1, -2) / 8**0.5).softmax(-1)
    x = q + blk.attn.proj((attn @ vh).transpose(1, 2).reshape(2, 5, 16))
    expected = x + blk.mlp.fc2(torch.nn.functional.gelu(blk.mlp.fc1(blk.norm_mlp(x))))
    assert torch.allclose(blk(q, kv), expected, atol=1e-5)
    assert blk.attn.q.bias is None and blk.mlp.fc1.bias is None and blk.attn.proj.bias is not None


def test_conv_bn_relu_is_non_negative():
    out = ConvBNReLU(3, 4)(torch.randn(2, 3, 5, 5))
    assert out.shape == (2, 4, 5, 5) and out.min() >= 0
