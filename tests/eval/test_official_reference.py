"""The ``official`` preset against a slow, literal per-sample reading of the official ``InterHand26M.evaluate``.

The reference below follows that function step by step, one sample and one joint at a time, with
``None`` for unscored entries and ``np.mean`` for the aggregation (so an empty slot would give NaN, as in the
official ``print_eval_result``). Random data exercise every branch: partial masks in the InterHand2.6M order,
missing NeuralAnnot fits (all-zero GT meshes), all three hand types, arbitrary prediction scale and translation.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eanet.eval.evaluator import Evaluator, HandRegressors
from eanet.eval.metrics import joint_regressor_21

V = 778


def official_reference(pred_verts, gt_verts, mano_exists, trunc_ih26m, hand_type, regressors):
    """The official evaluator, literally. ``pred_verts``, ``gt_verts``: (N, 2, V, 3) m; ``gt_verts`` 0 where no fit."""
    n_samples = pred_verts.shape[0]
    sh = [[None] * 42 for _ in range(n_samples)]
    ih = [[None] * 42 for _ in range(n_samples)]
    vsh, vih = [], []
    for n in range(n_samples):
        joints_pred, joints_gt, verts_pred, verts_gt = [], [], [], []
        for h in range(2):
            vp = pred_verts[n, h] * 1000.0  # step 1: mm
            vg = gt_verts[n, h] * 1000.0
            jp = regressors[h] @ vp  # step 2: own regressor per hand, eval tips
            jg = regressors[h] @ vg
            scale = np.linalg.norm(jg[9] - jg[0]) / np.linalg.norm(jp[9] - jp[0])  # step 3
            joints_pred.append((jp - jp[9]) * scale)
            verts_pred.append((vp - jp[9]) * scale)
            joints_gt.append(jg - jg[9])
            verts_gt.append(vg - jg[9])
        jp42 = np.concatenate(joints_pred)  # wrist-first, right then left
        jg42 = np.concatenate(joints_gt)
        for j in range(42):  # step 4: IH2.6M-order mask indexed with wrist-first joints
            if trunc_ih26m[n][j]:
                err = float(np.sqrt(np.sum((jp42[j] - jg42[j]) ** 2)))
                if hand_type[n] in ("right", "left"):
                    sh[n][j] = err
                else:
                    ih[n][j] = err

        vertex_mean = [float(np.sqrt(np.sum((verts_gt[h] - verts_pred[h]) ** 2, axis=1)).mean()) for h in range(2)]

        if hand_type[n] == "right" and mano_exists[n][0]:  # step 5
            vsh.append(vertex_mean[0])
        elif hand_type[n] == "left" and mano_exists[n][1]:
            vsh.append(vertex_mean[1])
        elif hand_type[n] == "interacting" and mano_exists[n][0] and mano_exists[n][1]:
            vih.append((vertex_mean[0] + vertex_mean[1]) / 2.0)
    # print_eval_result
    sh_slots = [np.mean([s[j] for s in sh if s[j] is not None]) for j in range(42)]
    ih_slots = [np.mean([s[j] for s in ih if s[j] is not None]) for j in range(42)]
    return {
        ("mpvpe_mm", "all"): np.mean(vsh + vih),
        ("mpvpe_mm", "single"): np.mean(vsh),
        ("mpvpe_mm", "interacting"): np.mean(vih),
        ("mpjpe_mm", "all"): np.mean(sh_slots + ih_slots),
        ("mpjpe_mm", "single"): np.mean(sh_slots),
        ("mpjpe_mm", "interacting"): np.mean(ih_slots),
    }


@pytest.mark.parametrize("seed", [0, 1])
def test_official_preset_matches_literal_reference(make_random_hand_data, seed):
    rng = np.random.default_rng(seed)
    n = 60
    right, left = make_random_hand_data("right", seed), make_random_hand_data("left", seed)
    regs = [joint_regressor_21(torch.as_tensor(d.J_regressor), d.tip_vertices_eval).numpy() for d in (right, left)]
    gt = rng.normal(0, 0.03, (n, 2, V, 3)) + np.array([0.0, 0.0, 0.7])
    mano_exists = rng.random((n, 2)) > 0.2
    hand_code = rng.integers(0, 3, n)
    hand_type = [("right", "left", "interacting")[c] for c in hand_code]
    # masks in the IH2.6M order (wrist at 20/41), wrist-ANDed like the data JSON mask; single hands have one hand
    trunc = rng.random((n, 42)) > 0.3
    trunc[:, 20] |= rng.random(n) > 0.1
    trunc[:, 41] |= rng.random(n) > 0.1
    trunc[:, :21] &= trunc[:, 20:21]
    trunc[:, 21:] &= trunc[:, 41:42]
    trunc[hand_code == 0, 21:] = False
    trunc[hand_code == 1, :21] = False
    # predictions: noisy, rescaled and translated copies of the GT, made wrist-relative as the model outputs them
    noise = rng.normal(0, 0.004, gt.shape)
    pred = (gt * rng.uniform(0.8, 1.2, (n, 2, 1, 1)) + noise) - gt[:, :, :1]
    gt_zeroed = np.where(mano_exists[:, :, None, None], gt, 0.0)  # the official loader's dummy mesh

    ref = official_reference(pred, gt_zeroed, mano_exists, trunc, hand_type, regs)

    from eanet.structures import HandPrediction, TwoHandPrediction

    def hand(v):
        b = v.shape[0]
        z = torch.zeros(b, 3)
        return HandPrediction(z, z, z, z, z, z, z, z, torch.zeros(b, 21, 3), torch.as_tensor(v), z, z)

    batch = {
        "hand_type": torch.as_tensor(hand_code),
        "annot_id": torch.arange(n),
        "mano_verts_cam": torch.as_tensor(gt),  # NOT zeroed: the preset must reproduce the zeroing itself
        "mano_valid": torch.as_tensor(mano_exists, dtype=torch.float32),
        "joints_valid_2d_ih26m": torch.as_tensor(trunc, dtype=torch.float32),
    }
    ev = Evaluator("official", HandRegressors.from_model_data(right, left))
    for chunk in (slice(0, 25), slice(25, 60)):  # two batches
        sub = TwoHandPrediction(hand(pred[chunk, 0]), hand(pred[chunk, 1]), torch.zeros(chunk.stop - chunk.start, 3))
        ev.update(sub, {k: v[chunk] for k, v in batch.items()})
    res = ev.compute()
    for (metric, cat), expected in ref.items():
        assert np.isfinite(expected), (metric, cat)
        assert res.value(metric, cat) == pytest.approx(expected, abs=1e-6, rel=1e-9), (metric, cat)
    # the reference scores missing-fit hands as exact zeros; so must we
    assert res.notes and "scored 0 mm" in res.notes[0]
