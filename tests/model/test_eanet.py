import dataclasses

import pytest
import torch
from model_helpers import tiny_config

from eanet.config import list_named_configs, load_config
from eanet.errors import InvalidInputError
from eanet.model import build_model, model_kwargs
from eanet.model.config import ModelConfig
from eanet.model.eanet import EANet
from eanet.structures import HandPrediction, TwoHandPrediction


def _perturb_(model: EANet, seed: int = 0) -> EANet:
    """Move every weight off its (very small) official init so outputs depend on all of them, keeping activations
    at realistic magnitudes (matrix noise ~ 1/sqrt(fan_in))."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() > 1 and "pos_embed" not in name and "cls_token" not in name:
                std = 0.5 / p[0].numel() ** 0.5
            else:
                std = 0.1
            p.add_(torch.randn(p.shape, generator=g) * std)
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=g) * 0.1)
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) + 0.5)
    return model


def _hand_tensors(hand: HandPrediction) -> dict[str, torch.Tensor]:
    return {f.name: getattr(hand, f.name) for f in dataclasses.fields(hand)}


def _all_tensors(pred: TwoHandPrediction) -> dict[str, torch.Tensor]:
    out = {"rel_trans": pred.rel_trans}
    for side, hand in pred.hands():
        out.update({f"{side}.{k}": v for k, v in _hand_tensors(hand).items()})
    return out


@pytest.fixture
def tiny_model(hand_layers):
    torch.manual_seed(0)
    return _perturb_(build_model(tiny_config(), hand_models=hand_layers))


def test_output_shapes(tiny_model):
    pred = tiny_model(torch.rand(2, 3, 64, 64))
    assert isinstance(pred, TwoHandPrediction)
    assert pred.rel_trans.shape == (2, 3)
    expected = {
        "root_pose_6d": (2, 6), "hand_pose_6d": (2, 90), "root_pose_aa": (2, 3), "hand_pose_aa": (2, 45),
        "pose_rotmat": (2, 16, 3, 3), "betas": (2, 10), "cam": (2, 3), "joints_hm": (2, 21, 3),
        "joints_cam": (2, 21, 3), "verts_cam": (2, 778, 3), "root_model": (2, 3), "joints_proj_hm": (2, 21, 2),
    }  # fmt: skip
    for _, hand in pred.hands():
        assert {k: tuple(v.shape) for k, v in _hand_tensors(hand).items()} == expected
        assert hand.pose_aa.shape == (2, 48)
        assert torch.isfinite(hand.verts_cam).all()
        # wrist-relative outputs: the wrist (joint 0) is the origin
        assert hand.joints_cam[:, 0].abs().max() == 0
        # joints_hm lie inside the heatmap volume (4 depth bins, 2x2 grid at 64x64)
        assert hand.joints_hm.min() >= 0 and hand.joints_hm[..., :2].max() <= 1 and hand.joints_hm[..., 2].max() <= 3


def test_pose_representations_agree(tiny_model):
    from eanet.geometry import axis_angle_to_rotmat, rot6d_to_rotmat

    pred = tiny_model(torch.rand(2, 3, 64, 64))
    hand = pred.right
    assert torch.allclose(hand.pose_rotmat[:, 0], rot6d_to_rotmat(hand.root_pose_6d), atol=1e-6)
    assert torch.allclose(axis_angle_to_rotmat(hand.pose_aa.view(2, 16, 3)), hand.pose_rotmat, atol=1e-4)


def test_every_parameter_receives_a_gradient(tiny_model):
    tiny_model.train()
    pred = tiny_model(torch.rand(2, 3, 64, 64))
    loss = sum(t.square().mean() for t in _all_tensors(pred).values())
    loss.backward()
    missing = [n for n, p in tiny_model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert missing == []


def test_rotation_head_sees_detached_joints(tiny_model):
    """Only the 2.5D-joint output trains the heatmap convs (official model.py detaches the joints)."""
    pred = tiny_model(torch.rand(2, 3, 64, 64))
    (pred.right.root_pose_6d.sum() + pred.right.hand_pose_6d.sum()).backward()
    heatmap = tiny_model.position_head.heatmap["right"].weight
    assert heatmap.grad is None or heatmap.grad.abs().max() == 0
    assert tiny_model.rotation_head.joint_proj["right"].conv.weight.grad.abs().max() > 0


@pytest.mark.parametrize("batch", [3, 4])
def test_eval_outputs_are_independent_of_the_rest_of_the_batch(tiny_model, batch):
    tiny_model.eval()
    img = torch.rand(batch, 3, 64, 64)
    with torch.no_grad():
        together = _all_tensors(tiny_model(img))
        alone = [_all_tensors(tiny_model(img[i : i + 1])) for i in range(batch)]
    for key, value in together.items():
        stacked = torch.cat([a[key] for a in alone])
        tol = 1e-5 if "verts" in key or "joints_cam" in key else 1e-4
        assert torch.allclose(value, stacked, atol=tol), key


def test_determinism(hand_layers):
    def build():
        torch.manual_seed(123)
        return build_model(tiny_config(), hand_models=hand_layers)

    a, b = build(), build()
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    a.eval()
    img = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        first, second = _all_tensors(a(img)), _all_tensors(a(img))
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_official_initialisation(hand_layers):
    torch.manual_seed(0)
    model = build_model(tiny_config(width=64, num_heads=2), hand_models=hand_layers)
    ff = model.interaction.extract
    assert ff.sim_pos_embed.std().item() == pytest.approx(1.0, abs=0.05)  # randn, not trunc_normal(0.02)
    assert ff.join_proj.weight.std().item() == pytest.approx(0.01, rel=0.05)
    assert ff.cross_attn.blocks[0].attn.q.weight.std().item() == pytest.approx(0.01, rel=0.05)
    assert model.hand_proj["right"].conv.weight.std().item() == pytest.approx(0.001, rel=0.05)
    assert model.backbone.layer1[0].conv1.weight.std().item() == pytest.approx(0.001, rel=0.05)
    assert torch.all(model.hand_fuse["left"].bn.weight == 1)


def test_wrong_input_size_is_a_clear_error(tiny_model):
    with pytest.raises(InvalidInputError, match=r"\(B, 3, 64, 64\)"):
        tiny_model(torch.rand(1, 3, 96, 96))


def test_hand_model_data_never_enters_the_state_dict(tiny_model):
    assert not [k for k in tiny_model.state_dict() if k.startswith("hand_models")]
    assert not list(tiny_model.hand_models.parameters())


def test_positional_embeddings_follow_the_input_size(hand_layers):
    model = build_model(tiny_config(input_size=(96, 64)), hand_models=hand_layers)  # 3x2 grid
    assert model.interaction.extract.sim_pos_embed.shape[1] == 2 * 6 + 1
    assert model.interaction.adapt["left"].cross_attn.query_pos_embed.shape[1] == 6
    pred = model.eval()(torch.rand(1, 3, 96, 64))
    assert pred.left.joints_hm[..., 1].max() <= 2  # y in 0..h-1


def _tiny_named(name: str) -> ModelConfig:
    cfg = load_config(name).model
    small = {k: (1 if getattr(cfg, k) > 0 else 0) for k in ("sa_depth", "ca_depth", "sjt_depth")}
    return dataclasses.replace(
        cfg, backbone="resnet18", input_size=(64, 64), width=16, num_heads=2, sjt_num_heads=2, **small
    )


@pytest.mark.parametrize("name", list_named_configs())
def test_every_named_configuration_builds_and_runs(name, hand_layers):
    torch.manual_seed(0)
    model = build_model(_tiny_named(name), hand_models=hand_layers)
    pred = model(torch.rand(2, 3, 64, 64))
    loss = sum(t.square().mean() for t in _all_tensors(pred).values())
    loss.backward()
    assert torch.isfinite(loss)
    assert [n for n, p in model.named_parameters() if p.grad is None] == []


def _count(cfg: ModelConfig) -> int:
    with torch.device("meta"):
        net = EANet(None, None, **model_kwargs(cfg))
    return sum(p.numel() for p in net.parameters())


def test_parameter_counts_of_the_release_and_light():
    assert _count(load_config("eanet").model) == 136_738_221  # the official model's optimised parameters
    assert _count(load_config("eanet-light").model) == 53_128_621  # width-256 re-parameterisation
    assert load_config("eanet").model == ModelConfig()


def test_full_model_builds_with_every_module_sized_as_the_release(hand_layers):
    """The one real (not meta-device) build of the full default model: parameter count and the official init."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(), hand_models=hand_layers)
    assert sum(p.numel() for p in model.parameters()) == 136_738_221
    assert model.rotation_head.root_pose["right"].in_features == 21 * 515
    assert model.interaction.extract.sim_pos_embed.shape == (1, 129, 512)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu(tiny_model):
    tiny_model.eval()
    img = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        cpu = _all_tensors(tiny_model(img))
        gpu = _all_tensors(tiny_model.to("cuda")(img.to("cuda")))
    for key in cpu:
        assert torch.allclose(cpu[key], gpu[key].cpu(), atol=1e-3), key
