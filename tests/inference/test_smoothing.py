"""Temporal smoothing: the One-Euro filter and the per-hand sequence smoother measurably reduce jitter."""

from __future__ import annotations

import numpy as np
import pytest

from eanet.inference.smoothing import HandSequenceSmoother, OneEuroFilter, SmoothingSettings, quaternions_continuous


def _jitter(x: np.ndarray) -> float:
    """Mean frame-to-frame change (the jitter a viewer sees)."""
    return float(np.abs(np.diff(x, axis=0)).mean())


def test_one_euro_reduces_jitter_and_follows_the_signal():
    fps, n = 30.0, 300
    t = np.arange(n) / fps
    truth = np.stack([0.05 * np.sin(2 * np.pi * 0.1 * t), 0.02 * t], axis=1)  # slow motion
    noisy = truth + np.random.default_rng(0).normal(scale=0.01, size=truth.shape)
    filt = OneEuroFilter(min_cutoff=1.0, beta=1.0)
    smooth = np.stack([filt(x, 1 / fps) for x in noisy])
    assert _jitter(smooth) < 0.3 * _jitter(noisy)
    # closer to the truth than the raw signal (after the first second)
    err_raw = np.abs(noisy - truth)[30:].mean()
    err_smooth = np.abs(smooth - truth)[30:].mean()
    assert err_smooth < 0.6 * err_raw
    assert smooth.shape == noisy.shape and np.array_equal(smooth[0], noisy[0])


def test_one_euro_speed_term_reduces_lag_on_fast_motion():
    fps = 30.0
    t = np.arange(60) / fps
    ramp = np.where(t > 0.5, (t - 0.5) * 2.0, 0.0)[:, None]  # starts moving fast
    lag = {}
    for beta in (0.0, 5.0):
        filt = OneEuroFilter(min_cutoff=0.5, beta=beta)
        out = np.stack([filt(x, 1 / fps) for x in ramp])
        lag[beta] = float(np.abs(out - ramp)[-10:].mean())
    assert lag[5.0] < 0.5 * lag[0.0]


def test_quaternion_signs_are_made_continuous():
    q = np.array([[0.9, 0.1, 0.0, 0.42], [-0.9, -0.1, 0.0, -0.43]])
    fixed = quaternions_continuous(q[1:], q[:1])
    assert np.sum(fixed * q[:1]) > 0 and np.allclose(np.abs(fixed), np.abs(q[1:]))
    assert quaternions_continuous(q, None) is q


@pytest.fixture
def noisy_sequence(fake_predictor, image_dir):
    """A synthetic video: one prediction re-posed along a slow trajectory, plus noise on every parameter."""
    from dataclasses import replace

    base = fake_predictor.predict(image_dir / "a.png", cropped=True)
    rng = np.random.default_rng(1)
    frames, truth = [], []
    for i in range(90):
        hands = {}
        for side, hand in base.hands():
            pose_true = hand.hand_pose_aa + 0.2 * np.sin(i / 30.0)
            hands[side] = replace(
                hand,
                root_pose_aa=hand.root_pose_aa + rng.normal(scale=0.05, size=3),
                hand_pose_aa=pose_true + rng.normal(scale=0.05, size=45),
                betas=hand.betas + rng.normal(scale=0.1, size=hand.betas.shape),
            )
        root_true = base.right.root_cam + np.array([0.001 * i, 0.0, 0.0])
        hands["right"] = replace(hands["right"], root_cam=root_true + rng.normal(scale=0.005, size=3))
        rel = base.rel_trans + rng.normal(scale=0.005, size=3)
        frames.append(replace(base, right=hands["right"], left=hands["left"], rel_trans=rel))
        truth.append(root_true)
    return frames, np.array(truth)


def test_sequence_smoother_reduces_mesh_jitter(noisy_sequence, hand_layers):
    frames, truth = noisy_sequence
    smoother = HandSequenceSmoother(SmoothingSettings(strength=1.0), {"right": hand_layers[0], "left": hand_layers[1]})
    out = [smoother(f, 1 / 30) for f in frames]
    for side in ("right", "left"):
        raw = np.stack([getattr(f, side).hand_pose_aa for f in frames])
        smooth = np.stack([getattr(f, side).hand_pose_aa for f in out])
        assert _jitter(smooth) < 0.5 * _jitter(raw), side
    raw_root = np.stack([f.right.root_cam for f in frames])
    smooth_root = np.stack([f.right.root_cam for f in out])
    assert _jitter(smooth_root) < 0.5 * _jitter(raw_root)
    assert np.abs(smooth_root - truth)[30:].mean() < np.abs(raw_root - truth)[30:].mean()
    # rebuilt meshes follow the smoothed parameters (consistent placement and 2D joints)
    last = out[-1]
    np.testing.assert_allclose(last.left.root_cam - last.right.root_cam, last.rel_trans, atol=1e-9)
    np.testing.assert_allclose(last.right.joints_cam[0], last.right.root_cam, atol=1e-5)
    np.testing.assert_allclose(last.right.joints_2d, last.camera.project(last.right.joints_cam), atol=1e-3)
    # vertices: compared with the raw frames rebuilt the same way (a filter too fast to smooth anything)
    passthrough = HandSequenceSmoother(SmoothingSettings(strength=1.0, min_cutoff_hz=1e9), smoother.hand_models)
    raw_rebuilt = [passthrough(f, 1 / 30) for f in frames]
    np.testing.assert_allclose(raw_rebuilt[5].right.hand_pose_aa, frames[5].right.hand_pose_aa, atol=1e-5)
    raw_verts = _jitter(np.stack([f.left.verts_cam for f in raw_rebuilt]))
    smooth_verts = _jitter(np.stack([f.left.verts_cam for f in out]))
    assert last.left.placement["smoothed"] is True and smooth_verts < 0.5 * raw_verts


def test_strength_zero_is_off_and_stronger_is_smoother(noisy_sequence, hand_layers):
    frames, _ = noisy_sequence
    layers = {"right": hand_layers[0], "left": hand_layers[1]}
    off = HandSequenceSmoother(SmoothingSettings(strength=0.0), layers)
    assert all(off(f, 1 / 30) is f for f in frames[:3])
    jitter = {}
    for strength in (0.5, 4.0):
        smoother = HandSequenceSmoother(SmoothingSettings(strength=strength), layers)
        jitter[strength] = _jitter(np.stack([smoother(f, 1 / 30).right.hand_pose_aa for f in frames]))
    assert jitter[4.0] < jitter[0.5]
