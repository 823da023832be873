"""Fixtures for the ONNX tests: one tiny checkpoint exported once per session through ``eanet export --check``.

Tracing with the dynamo exporter costs ~25 s of CPU even for the tiny network (torch.export's fake-tensor
tracing dominates), so every test shares the one file.

The tiny model's right hand regresses exactly the identity root rotation (its root-pose layer has zero weights
and the 6D identity as bias), so its root axis-angle is exactly zero: this exercises the Rodrigues epsilon that the
exporter's default optimisation would drop (NaN vertices in ONNX Runtime; see ``eanet.export_onnx.export``).
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import pytest

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


@dataclass
class Exported:
    model: object
    cfg: object
    checkpoint: Path
    onnx: Path
    exit_code: int
    stdout: str


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """The tiny checkpoint, exported (with ``--check`` at batch sizes 1 and 3) by the ``eanet`` CLI."""
    import torch

    from eanet.cli import main
    from eanet.model.checkpoint import save_model

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors on a shared 2-core machine: a second thread mostly spins
    try:
        root = tmp_path_factory.mktemp("onnx")
        model, cfg = tiny_model_and_config()
        checkpoint = root / "tiny.safetensors"
        save_model(model, cfg, checkpoint)
        out = root / "tiny.onnx"
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            code = main(
                ["export", "--checkpoint", str(checkpoint), "--out", str(out), "--check", "--check-batch-sizes", "1,3"]
            )
    finally:
        torch.set_num_threads(threads)
    return Exported(model, cfg, checkpoint, out, code, buffer.getvalue())
