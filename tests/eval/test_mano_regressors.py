"""With the real MANO files (skipped when absent): the evaluation regressor is MANO's J_regressor + tips 444."""

from __future__ import annotations

import pytest
import torch

from eanet.eval.evaluator import HandRegressors
from eanet.eval.metrics import regress_joints
from eanet.hand_model.skeleton import JOINTS_21


@pytest.mark.mano_assets
def test_eval_regressor_matches_the_layer_except_the_middle_tip(mano_dir):
    from eanet.hand_model.layer import HandModelLayer
    from eanet.hand_model.mano import load_mano_pair

    right, left = load_mano_pair(mano_dir)
    from_data = HandRegressors.from_model_data(right, left)
    layers = [HandModelLayer(d, dtype=torch.float64) for d in (right, left)]
    from_layers = HandRegressors.from_layers(*layers)
    assert torch.allclose(from_data.joints, from_layers.joints)
    assert torch.allclose(from_data.hands_mean, from_layers.hands_mean)

    g = torch.Generator().manual_seed(0)
    pose = torch.randn(2, 48, generator=g, dtype=torch.float64) * 0.3
    betas = torch.randn(2, 10, generator=g, dtype=torch.float64)
    verts, joints_layer = [], []
    for layer in layers:
        out = layer(pose[:, :3], pose[:, 3:], betas)
        verts.append(out.verts)
        joints_layer.append(out.joints)  # training tips (445 for the middle finger)
    verts = torch.stack(verts, 1)  # (2, 2, 778, 3)
    joints_eval = regress_joints(verts, from_data.joints)  # (2, 2, 21, 3)
    middle_tip = JOINTS_21.index("Middle_4")
    for h in range(2):
        same = [j for j in range(21) if j != middle_tip]
        assert torch.allclose(joints_eval[:, h, same], joints_layer[h][:, same], atol=1e-9)
        assert torch.allclose(joints_eval[:, h, middle_tip], verts[:, h, 444])
        assert not torch.allclose(joints_eval[:, h, middle_tip], joints_layer[h][:, middle_tip])
