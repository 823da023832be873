"""Helpers shared by the ONNX tests (importable as ``onnx_helpers``: pytest puts this directory on sys.path)."""

from __future__ import annotations

#: ResNet-18 trunk, 64x64 input (2x2 token grid), width 32, one block per transformer.
TINY = dict(
    backbone="resnet18", input_size=(64, 64), width=32, num_heads=2, sa_depth=1, ca_depth=1, sjt_depth=1,
    sjt_num_heads=2, heatmap_depth=4,
)  # fmt: skip


def perturb_(model, seed: int = 0):
    """Move every weight off its (very small) official init so all of them matter, at realistic magnitudes."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            std = 0.5 / p[0].numel() ** 0.5 if p.dim() > 1 and "pos_embed" not in name else 0.1
            p.add_(torch.randn(p.shape, generator=g) * std)
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=g) * 0.1)
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) + 0.5)
    return model


def tiny_model_and_config(seed: int = 0):
    """``(EANet on the open hand, Config)`` with perturbed weights and an exactly-zero right root rotation."""
    import torch

    from eanet.config import Config
    from eanet.hand_model import build_hand_models
    from eanet.hand_model.config import HandModelConfig
    from eanet.model import build_model
    from eanet.model.config import ModelConfig

    torch.manual_seed(seed)
    cfg = Config(model=ModelConfig(**TINY), hand_model=HandModelConfig(kind="open"))
    model = perturb_(build_model(cfg.model, hand_models=build_hand_models(cfg.hand_model)), seed)
    with torch.no_grad():
        layer = model.rotation_head.root_pose["right"]
        layer.weight.zero_()
        layer.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]))  # 6D identity -> axis-angle exactly 0
    return model.eval(), cfg
