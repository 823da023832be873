import pytest
import torch

from eanet.analysis.capture import (
    EXTRACT_INPUT_HANDS,
    capture_fuseformer,
    cross_attention_output,
    cross_attention_weights,
    extract_fuseformer,
)
from eanet.errors import InvalidInputError
from eanet.model.fuseformer import FuseFormer

B, C, H, W, HEADS, BLOCKS = 2, 16, 3, 2, 2, 2  # tiny model of conftest.TINY
N = H * W


def _hooks(module: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in module.modules())


def test_captures_tokens_and_attention_of_documented_shapes(make_tiny_model, tiny_image):
    model = make_tiny_model()
    module, hands = extract_fuseformer(model)
    with torch.no_grad(), capture_fuseformer(module) as cap:
        model.predict_parameters(tiny_image)
    assert hands == ("right", "left")
    assert cap.grid == (H, W)
    assert cap.tokens_a.shape == cap.tokens_b.shape == (B, N, C)
    assert cap.join_token.shape == (B, N, C)
    assert cap.sim_token.shape == (B, 2 * N + 1, C)
    assert len(cap.attention) == BLOCKS
    assert cap.attention_weights().shape == (BLOCKS, B, HEADS, N, 2 * N + 1)  # JoinToken queries x SimToken keys
    assert cap.key_segments() == [("cls", 0, 1), ("right", 1, 1 + N), ("left", 1 + N, 1 + 2 * N)]


def test_extract_inputs_are_right_then_left(make_tiny_model, tiny_image):
    """The halves' labels rest on EABlock calling extract(F_R, F_L): check against the hand projections."""
    model = make_tiny_model()
    feats = {}
    handles = [model.hand_proj[h].register_forward_hook(lambda m, a, o, h=h: feats.__setitem__(h, o)) for h in ("right", "left")]
    module, hands = extract_fuseformer(model)
    try:
        with torch.no_grad(), capture_fuseformer(module) as cap:
            model.predict_parameters(tiny_image)
    finally:
        for handle in handles:
            handle.remove()
    assert hands == EXTRACT_INPUT_HANDS == ("right", "left")
    for hand, tokens in zip(hands, (cap.tokens_a, cap.tokens_b), strict=True):
        expected = feats[hand].flatten(2).transpose(1, 2)  # (B, hw, C), row-major as FuseFormer
        torch.testing.assert_close(tokens, expected, rtol=0, atol=0)
    # SimToken = [cls, F_R part, F_L part] and JoinToken = FC(cat[F_R, F_L]) from those very tokens.
    with torch.no_grad():
        torch.testing.assert_close(cap.sim_token, module.sim_token(cap.tokens_a, cap.tokens_b))
        join = module.join_proj(torch.cat((cap.tokens_a, cap.tokens_b), dim=2))
    torch.testing.assert_close(cap.join_token, join)
    assert cap.tokens_a.abs().mean() > 1e-3 and not torch.allclose(cap.tokens_a, cap.tokens_b, atol=1e-3)


def test_recomputed_attention_rows_sum_to_one_and_reproduce_the_module_output(make_tiny_model, tiny_image):
    model = make_tiny_model()
    module, _ = extract_fuseformer(model)
    with torch.no_grad(), capture_fuseformer(module, record_io=True) as cap:
        model.predict_parameters(tiny_image)
    for block, rec in zip(module.cross_attn.blocks, cap.attention, strict=True):
        w = rec.weights
        assert (w >= 0).all()
        torch.testing.assert_close(w.sum(-1), torch.ones(w.shape[:-1]), rtol=0, atol=1e-5)
        # Far from uniform (the fixture spreads the weights), so a wrong recomputation could not pass by chance.
        assert w.max() > 2.0 / w.shape[-1]
        with torch.no_grad():
            out = cross_attention_output(block.attn, w, rec.key_value_in)
        torch.testing.assert_close(out, rec.output, rtol=1e-4, atol=1e-5)
        # A wrong key order would not reproduce it.
        with torch.no_grad():
            shuffled = cross_attention_output(block.attn, w.flip(-1), rec.key_value_in)
        assert not torch.allclose(shuffled, rec.output, atol=1e-3)


def test_attention_weights_match_explicit_softmax_of_the_official_formula():
    torch.manual_seed(1)
    ff = FuseFormer(8, 4, 1, 1, 2)
    attn = ff.cross_attn.blocks[0].attn
    q, kv = torch.randn(3, 4, 8), torch.randn(3, 9, 8)
    with torch.no_grad():
        w = cross_attention_weights(attn, q, kv)
        # official crosstransformer.py: (q @ k.transpose(-2, -1)) * scale, softmax(dim=-1)
        qh = attn.q(q).reshape(3, 4, 2, 4).permute(0, 2, 1, 3)
        kh = attn.k(kv).reshape(3, 9, 2, 4).permute(0, 2, 1, 3)
        expected = ((qh @ kh.transpose(-2, -1)) * 4**-0.5).softmax(dim=-1)
        torch.testing.assert_close(w, expected)
        torch.testing.assert_close(cross_attention_output(attn, w, kv), attn(q, kv), rtol=1e-4, atol=1e-5)


def test_capture_leaves_outputs_unchanged_and_removes_its_hooks(make_tiny_model, tiny_image):
    model = make_tiny_model()
    module, _ = extract_fuseformer(model)
    hooks_before = _hooks(model)
    with torch.no_grad():
        plain = model(tiny_image)
        with capture_fuseformer(module, record_io=True) as cap:
            captured = model(tiny_image)
        after = model(tiny_image)
    assert cap.captured
    assert _hooks(model) == hooks_before
    for hand in ("right", "left"):
        for name in ("verts_cam", "joints_cam", "joints_hm", "hand_pose_6d", "cam", "betas"):
            ref = getattr(getattr(plain, hand), name)
            torch.testing.assert_close(getattr(getattr(captured, hand), name), ref, rtol=0, atol=0)
            torch.testing.assert_close(getattr(getattr(after, hand), name), ref, rtol=0, atol=0)
    torch.testing.assert_close(captured.rel_trans, plain.rel_trans, rtol=0, atol=0)


def test_hooks_are_removed_when_the_forward_pass_fails(make_tiny_model):
    model = make_tiny_model()
    module, _ = extract_fuseformer(model)
    before = _hooks(model)
    with pytest.raises(RuntimeError), capture_fuseformer(module):
        module(torch.rand(1, C, H, W), torch.rand(1, C + 1, H, W))  # channel mismatch
    assert _hooks(model) == before


def test_works_under_inference_mode_and_keeps_the_last_pass(make_tiny_model, tiny_image):
    model = make_tiny_model()
    module, _ = extract_fuseformer(model)
    with torch.inference_mode(), capture_fuseformer(module) as cap:
        model.predict_parameters(tiny_image)
        model.predict_parameters(tiny_image[:1])
    assert cap.tokens_a.shape[0] == 1 and len(cap.attention) == BLOCKS
    assert cap.attention_weights().shape[1] == 1


@pytest.mark.parametrize(
    "query, key_value, nq, nk, segments",
    [
        ("join", "hand_features", N, 2 * N, [("right", 0, N), ("left", N, 2 * N)]),
        ("sim", "sim", 2 * N + 1, 2 * N + 1, [("cls", 0, 1), ("right", 1, N + 1), ("left", N + 1, 2 * N + 1)]),
        ("join", "join", N, N, [("join", 0, N)]),
    ],
)
def test_ablation_variants_are_captured(make_tiny_model, tiny_image, query, key_value, nq, nk, segments):
    model = make_tiny_model(cross_attention_query=query, cross_attention_kv=key_value)
    module, _ = extract_fuseformer(model)
    with torch.no_grad(), capture_fuseformer(module) as cap:
        model.predict_parameters(tiny_image)
    assert cap.attention_weights().shape == (BLOCKS, B, HEADS, nq, nk)
    assert cap.key_segments() == segments
    assert (cap.sim_token is not None) == ("sim" in (query, key_value))


def test_variant_without_cross_attention_has_no_weights(make_tiny_model, tiny_image):
    model = make_tiny_model(cross_attention_kv="none")
    module, _ = extract_fuseformer(model)
    with torch.no_grad(), capture_fuseformer(module) as cap:
        model.predict_parameters(tiny_image)
    assert cap.join_token.shape == (B, N, C) and cap.attention == []
    with pytest.raises(InvalidInputError, match="no cross-attention"):
        cap.attention_weights()


def test_models_without_an_extract_stage_are_refused(make_tiny_model):
    with pytest.raises(InvalidInputError, match="no extract-stage FuseFormer"):
        extract_fuseformer(make_tiny_model(interaction="ca_transformer"))
    with pytest.raises(InvalidInputError, match="needs a FuseFormer"):
        with capture_fuseformer(torch.nn.Linear(2, 2)):
            pass


def test_keyword_call_is_captured():
    torch.manual_seed(0)
    ff = FuseFormer(8, 4, 1, 1, 2)
    a, b = torch.rand(1, 8, 2, 2), torch.rand(1, 8, 2, 2)
    with torch.no_grad(), capture_fuseformer(ff) as cap:
        ff(a, feat_b=b)
    torch.testing.assert_close(cap.tokens_b, b.flatten(2).transpose(1, 2))
    with torch.no_grad(), capture_fuseformer(ff) as cap:
        ff(feat_a=a, feat_b=b)
    torch.testing.assert_close(cap.tokens_a, a.flatten(2).transpose(1, 2))
