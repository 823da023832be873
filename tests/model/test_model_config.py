import pytest
import torch

from eanet.config import ConfigError, load_config
from eanet.errors import CheckpointMismatchError, MissingFileError
from eanet.model.backbone import ResNetBackbone
from eanet.model.config import ModelConfig


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.width=30", "not divisible by num_heads"),
        ("model.input_size=[250, 256]", "multiples of output_stride 32"),
        ("model.input_size=[32, 32]", "at least 64"),
        ("model.sjt_depth=-1", "sjt_depth must be at least 0"),
        ("model.interaction=eablock_v2", "model.interaction"),
        ("model.cross_attention_query=sim", None),  # valid: q=t_S, kv=t_S
    ],
)
def test_invalid_model_fields_are_configuration_errors(override, message):
    if message is None:
        assert load_config("eanet", [override]).model.cross_attention_query == "sim"
        return
    with pytest.raises(ConfigError, match=message):
        load_config("eanet", [override])


def test_incompatible_variant_combinations_are_refused():
    with pytest.raises(ConfigError, match="needs separate hand features"):
        load_config("eanet", ["model.separate_hands=false"])
    with pytest.raises(ConfigError, match="requires cross_attention_query 'join'"):
        load_config("eanet", ["model.cross_attention_query=sim", "model.cross_attention_kv=none"])


def test_feature_grid_follows_the_input_size():
    assert ModelConfig().feature_grid == (8, 8)
    assert ModelConfig(input_size=(384, 320)).feature_grid == (12, 10)
    assert ModelConfig(input_size=(384, 320), heatmap_depth=16).heatmap_shape == (16, 12, 10)
    assert ModelConfig(input_size=(128, 96), output_stride=16).heatmap_shape == (8, 8, 6)


def test_backbone_loads_a_local_torchvision_state_dict(tmp_path):
    import torchvision

    reference = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)  # includes fc.*, which is ignored
    backbone = ResNetBackbone("resnet18", weights=path)
    assert torch.equal(backbone.layer3[1].conv2.weight, reference.layer3[1].conv2.weight)
    with pytest.raises(CheckpointMismatchError, match="do not fit a resnet50"):
        ResNetBackbone("resnet50", weights=path)
    with pytest.raises(MissingFileError, match="backbone_weights"):
        ResNetBackbone("resnet18", weights=tmp_path / "missing.pth")


def test_backbone_output_stride_and_init():
    torch.manual_seed(0)
    backbone = ResNetBackbone("resnet18")
    assert backbone(torch.rand(1, 3, 96, 64)).shape == (1, 512, 3, 2)
    assert backbone.conv1.weight.std().item() == pytest.approx(0.001, rel=0.1)  # official resnet.py: N(0, 0.001)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_output_stride_16_dilates_the_last_stage_without_changing_weights(name):
    strided, dilated = ResNetBackbone(name), ResNetBackbone(name, output_stride=16)
    assert dilated.output_stride == 16
    assert dilated(torch.rand(1, 3, 128, 96)).shape[2:] == (8, 6)  # 128/16, 96/16
    # Same parameter names and shapes: ImageNet / official weights load into either.
    assert {k: v.shape for k, v in strided.state_dict().items()} == {k: v.shape for k, v in dilated.state_dict().items()}
    convs = [m for m in dilated.layer4.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.stride == (1, 1) for c in convs)
    assert any(c.dilation == (2, 2) for c in convs)
    with pytest.raises(ValueError, match="output_stride"):
        ResNetBackbone(name, output_stride=8)


def test_three_stage_trunk_gives_c4_at_stride_16():
    backbone = ResNetBackbone("resnet18", output_stride=16, stages=3)
    assert backbone.out_channels == 256
    assert backbone(torch.rand(1, 3, 128, 64)).shape == (1, 256, 8, 4)
    assert not any(k.startswith("layer4.") for k in backbone.state_dict())
    with pytest.raises(ValueError, match="16 with 3 stages"):
        ResNetBackbone("resnet18", output_stride=32, stages=3)
    with pytest.raises(ValueError, match="set output_stride to 16"):
        ModelConfig(backbone_stages=3)


def test_output_stride_sets_the_feature_grid_and_is_checked():
    assert ModelConfig(input_size=(128, 128), output_stride=16).feature_grid == (8, 8)
    with pytest.raises(ValueError, match="output_stride must be one of"):
        ModelConfig(output_stride=8)
    with pytest.raises(ValueError, match="multiples of output_stride 16"):
        ModelConfig(input_size=(136, 128), output_stride=16)
    cfg = load_config("small-synthetic", ["model.input_size=[128,128]", "model.output_stride=16"])
    from eanet.model import build_model

    model = build_model(cfg.model, cfg.hand_model)
    assert model.feature_grid == (8, 8)
    out = model(torch.rand(2, 3, 128, 128))
    assert out.right.joints_hm.shape == (2, 21, 3)
