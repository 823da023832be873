"""Helpers shared by the model tests (importable as ``model_helpers``: pytest puts this directory on sys.path)."""

from __future__ import annotations

from pathlib import Path

from eanet.model.config import ModelConfig

OFFICIAL_KEYS_TSV = Path(__file__).resolve().parent / "data" / "official_state_dict.tsv"

#: A fast configuration every test can afford: ResNet-18 trunk, 64x64 input (2x2 grid), width 32, depth 1.
TINY = dict(
    backbone="resnet18", input_size=(64, 64), width=32, num_heads=2, sa_depth=1, ca_depth=1, sjt_depth=1,
    sjt_num_heads=2, heatmap_depth=4,
)  # fmt: skip


def tiny_config(**changes) -> ModelConfig:
    return ModelConfig(**{**TINY, **changes})


def hand_data_tensors(data) -> dict:
    """A :class:`HandModelData` as the tensors :func:`official_reference.reference_forward` reads."""
    import torch

    def t(a):
        return torch.as_tensor(a, dtype=torch.float32)

    return dict(
        v_template=t(data.v_template),
        shapedirs=t(data.shapedirs[..., :10]),
        posedirs=t(data.posedirs.reshape(-1, data.posedirs.shape[-1]).T),
        J_regressor=t(data.J_regressor),
        weights=t(data.weights),
        parents=torch.as_tensor(data.parents, dtype=torch.long),
        hands_mean=t(data.hands_mean),
        tips=torch.tensor(data.tip_vertices),
    )


