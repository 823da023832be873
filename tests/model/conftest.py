"""Fixtures for the model tests: tiny configurations and hand-model layers from random data of MANO's shapes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from eanet.hand_model.base import HandModelData
from eanet.hand_model.skeleton import MANO_PARENTS, MANO_TIP_VERTICES_EVAL, MANO_TIP_VERTICES_TRAIN
from eanet.model.config import ModelConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
OFFICIAL_KEYS_TSV = Path(__file__).resolve().parent / "data" / "official_state_dict.tsv"

#: A fast configuration every test can afford: ResNet-18 trunk, 64x64 input (2x2 grid), width 32, depth 1.
TINY = dict(
    backbone="resnet18", input_size=(64, 64), width=32, num_heads=2, sa_depth=1, ca_depth=1, sjt_depth=1,
    sjt_num_heads=2, heatmap_depth=4,
)  # fmt: skip


def tiny_config(**changes) -> ModelConfig:
    return ModelConfig(**{**TINY, **changes})


def random_hand_model_data(side: str, seed: int = 0, num_verts: int = 778) -> HandModelData:
    """A hand model with MANO's array shapes and random content (no MANO data)."""
    rng = np.random.default_rng(seed + (side == "left"))
    weights = rng.random((num_verts, 16)).astype(np.float32)
    weights /= weights.sum(1, keepdims=True)
    regressor = rng.random((16, num_verts)).astype(np.float32)
    regressor /= regressor.sum(1, keepdims=True)
    return HandModelData(
        name="random test hand",
        side=side,
        v_template=(rng.standard_normal((num_verts, 3)) * 0.05).astype(np.float32),
        shapedirs=(rng.standard_normal((num_verts, 3, 10)) * 0.01).astype(np.float32),
        posedirs=(rng.standard_normal((num_verts, 3, 135)) * 0.01).astype(np.float32),
        J_regressor=regressor,
        weights=weights,
        parents=np.array(MANO_PARENTS, dtype=np.int64),
        faces=rng.integers(0, num_verts, (1538, 3)).astype(np.int64),
        hands_mean=(rng.standard_normal(45) * 0.1).astype(np.float32),
        tip_vertices=MANO_TIP_VERTICES_TRAIN,
        tip_vertices_eval=MANO_TIP_VERTICES_EVAL,
        is_mano=False,
    )


class _StubHandLayer(torch.nn.Module):
    """Stand-in with HandModelLayer's interface until eanet.hand_model.HandModelLayer exists (smplx LBS)."""

    def __init__(self, data: HandModelData) -> None:
        super().__init__()
        self.side = data.side
        self.num_verts = data.num_verts
        self.tip_vertices = data.tip_vertices
        for name, arr in (
            ("v_template", data.v_template), ("shapedirs", data.shapedirs[..., :10]),
            ("posedirs", data.posedirs.reshape(-1, 135).T), ("J_regressor", data.J_regressor),
            ("lbs_weights", data.weights), ("hands_mean", data.hands_mean),
        ):  # fmt: skip
            self.register_buffer(name, torch.as_tensor(np.ascontiguousarray(arr), dtype=torch.float32), persistent=False)
        self.register_buffer("parents", torch.as_tensor(data.parents), persistent=False)

    def forward(self, global_orient, hand_pose, betas, transl=None):
        from smplx.lbs import lbs

        from eanet.hand_model.base import HandModelOutput
        from eanet.hand_model.skeleton import MANO16_TIPS_TO_JOINTS_21

        pose = torch.cat([global_orient, hand_pose + self.hands_mean], 1)
        verts, joints16 = lbs(betas, pose, self.v_template, self.shapedirs, self.posedirs, self.J_regressor,
                              self.parents, self.lbs_weights)
        j16 = torch.einsum("jv,bvc->bjc", self.J_regressor, verts)
        joints = torch.cat([j16, verts[:, list(self.tip_vertices)]], 1)[:, list(MANO16_TIPS_TO_JOINTS_21)]
        return HandModelOutput(verts=verts, joints=joints, joints_mano=j16, rotmats=None, transforms=None)


def random_hand_layers(seed: int = 0):
    try:
        from eanet.hand_model import HandModelLayer
    except ImportError:
        HandModelLayer = _StubHandLayer
    return tuple(HandModelLayer(random_hand_model_data(side, seed)) for side in ("right", "left"))


@pytest.fixture
def hand_layers():
    return random_hand_layers()


def mano_dir() -> Path | None:
    env = os.environ.get("EANET_MANO_DIR")
    path = Path(env) if env else REPO_ROOT / ".." / "shared" / "assets" / "mano"
    return path if (path / "MANO_RIGHT.pkl").is_file() and (path / "MANO_LEFT.pkl").is_file() else None
