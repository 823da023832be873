"""Temporal smoothing of per-frame predictions: the One-Euro filter (Casiez, Roussel, Vogel, CHI 2012).

The One-Euro filter is a first-order low-pass filter whose cutoff rises with the signal's speed: slow motion is
smoothed strongly (jitter removed), fast motion passes with little lag. Per element::

    alpha(fc) = 1 / (1 + 1 / (2 pi fc dt))
    dx_hat = alpha(d_cutoff) * (x - x_hat_prev) / dt + (1 - alpha(d_cutoff)) * dx_hat_prev
    fc = min_cutoff + beta * |dx_hat|
    x_hat = alpha(fc) * x + (1 - alpha(fc)) * x_hat_prev

:class:`HandSequenceSmoother` applies it to the parameters a prediction is made of, each group in its own units
(divided by a typical scale so one ``beta`` fits all) and rotations in a rotation-safe form:

* root and finger rotations as unit quaternions, sign-aligned with the previous frame (``q`` and ``-q`` are the
  same rotation), filtered component-wise and renormalised;
* betas; the right wrist position in the camera frame (metres); ``rel_trans`` (metres);

then rebuilds both meshes with the hand-model layers, so vertices, joints and 2D joints stay consistent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from eanet.geometry import axis_angle_to_rotmat, quaternion_to_axis_angle, rotmat_to_quaternion
from eanet.inference.placement import project

__all__ = ["OneEuroFilter", "SmoothingSettings", "HandSequenceSmoother", "quaternions_continuous"]


class OneEuroFilter:
    """Element-wise One-Euro filter over arrays of a fixed shape.

    Args:
        min_cutoff: minimum cutoff frequency (Hz); lower is smoother at rest.
        beta: speed coefficient (per unit of the signal per second); higher follows fast motion with less lag.
        d_cutoff: cutoff frequency (Hz) of the speed estimate.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0) -> None:
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError("min_cutoff and d_cutoff must be positive and beta non-negative")
        self.min_cutoff = float(min_cutoff)
        self.beta = float(beta)
        self.d_cutoff = float(d_cutoff)
        self.reset()

    def reset(self) -> None:
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None

    @staticmethod
    def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
        tau = 1.0 / (2.0 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, x: np.ndarray, dt: float) -> np.ndarray:
        """Filter one sample ``x`` taken ``dt`` seconds after the previous one; returns the filtered value."""
        x = np.asarray(x, dtype=np.float64)
        if self._x is None:
            self._x = x.copy()
            self._dx = np.zeros_like(x)
            return x.copy()
        if dt <= 0:
            raise ValueError(f"dt must be positive, got {dt}")
        dx = (x - self._x) / dt
        a_d = self._alpha(self.d_cutoff, dt)
        self._dx = a_d * dx + (1.0 - a_d) * self._dx
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx)
        a = self._alpha(cutoff, dt)
        self._x = a * x + (1.0 - a) * self._x
        return self._x.copy()


def quaternions_continuous(q: np.ndarray, reference: np.ndarray | None) -> np.ndarray:
    """Flip quaternions ``(..., 4)`` whose dot product with ``reference`` is negative (same rotation, no jump)."""
    if reference is None:
        return q
    sign = np.where(np.sum(q * reference, axis=-1, keepdims=True) < 0, -1.0, 1.0)
    return q * sign


@dataclass(frozen=True)
class SmoothingSettings:
    """One-Euro settings; ``strength`` 0 turns smoothing off, larger is smoother (``min_cutoff / strength``)."""

    strength: float = 1.0
    min_cutoff_hz: float = 1.0
    beta: float = 0.5
    d_cutoff_hz: float = 1.0

    @property
    def enabled(self) -> bool:
        return self.strength > 0

    @classmethod
    def from_config(cls, cfg) -> SmoothingSettings:
        return cls(cfg.smoothing, cfg.smoothing_min_cutoff_hz, cfg.smoothing_beta, cfg.smoothing_derivative_cutoff_hz)


#: Typical scale of each parameter group: values are filtered in these units, so one ``beta`` suits all.
_GROUP_SCALES = {"quat": 1.0, "betas": 1.0, "root_cam": 0.05, "rel_trans": 0.05, "box": 50.0}


class _GroupFilter:
    def __init__(self, settings: SmoothingSettings, scale: float) -> None:
        self.scale = scale
        self.filter = OneEuroFilter(settings.min_cutoff_hz / settings.strength, settings.beta, settings.d_cutoff_hz)

    def __call__(self, x: np.ndarray, dt: float) -> np.ndarray:
        return self.filter(np.asarray(x, dtype=np.float64) / self.scale, dt) * self.scale


class HandSequenceSmoother:
    """Smooths a stream of :class:`~eanet.inference.result.ImagePrediction` (video frames, in order).

    Args:
        settings: One-Euro settings.
        hand_models: ``{"right": layer, "left": layer}`` to rebuild meshes from smoothed parameters.
    """

    def __init__(self, settings: SmoothingSettings, hand_models: dict) -> None:
        self.settings = settings
        self.hand_models = hand_models
        self._filters: dict[str, _GroupFilter] = {}
        self._last_quats: dict[str, np.ndarray] = {}

    def reset(self) -> None:
        """Forget the past (e.g. after frames without a prediction)."""
        self._filters.clear()
        self._last_quats.clear()

    def _filter(self, key: str, group: str, x: np.ndarray, dt: float) -> np.ndarray:
        if key not in self._filters:
            self._filters[key] = _GroupFilter(self.settings, _GROUP_SCALES[group])
        return self._filters[key](x, dt)

    def smooth_box(self, box: np.ndarray, dt: float) -> np.ndarray:
        """Smooth a crop box ``(x, y, w, h)`` as centre and size (a separate filter from the hands')."""
        if not self.settings.enabled:
            return np.asarray(box, dtype=np.float64)
        x, y, w, h = (float(v) for v in box)
        c = self._filter("box", "box", np.array([x + 0.5 * w, y + 0.5 * h, w, h]), dt)
        return np.array([c[0] - 0.5 * c[2], c[1] - 0.5 * c[3], c[2], c[3]])

    def __call__(self, prediction, dt: float):
        """The smoothed prediction of the next frame (``dt`` seconds after the previous one)."""
        if not self.settings.enabled:
            return prediction
        import torch

        smoothed = {}
        root_right = self._filter("root_cam", "root_cam", prediction.right.root_cam, dt)
        rel_trans = self._filter("rel_trans", "rel_trans", prediction.rel_trans, dt)
        for side, hand in prediction.hands():
            # Rotations: the network's own (relative) pose, as quaternions (w, x, y, z), sign-continuous.
            pose = np.concatenate([hand.root_pose_aa, hand.hand_pose_aa]).reshape(16, 3)
            quat = rotmat_to_quaternion(axis_angle_to_rotmat(torch.from_numpy(pose))).numpy()  # (16, 4)
            quat = quaternions_continuous(quat, self._last_quats.get(side))
            quat = self._filter(f"{side}.quat", "quat", quat, dt)
            quat /= np.linalg.norm(quat, axis=-1, keepdims=True)
            self._last_quats[side] = quat
            pose = quaternion_to_axis_angle(torch.from_numpy(quat)).numpy().reshape(48)  # (48,)
            betas = self._filter(f"{side}.betas", "betas", hand.betas, dt)
            smoothed[side] = (pose, betas)

        out_hands = {}
        root_cam = {"right": root_right, "left": root_right + rel_trans}
        cam = prediction.camera
        for side, hand in prediction.hands():
            pose, betas = smoothed[side]
            layer = self.hand_models[side]
            buf = layer.v_template  # the layer's device and dtype (the model's device: CPU or GPU)
            inputs = [torch.as_tensor(np.asarray(a)[None], dtype=buf.dtype, device=buf.device)
                      for a in (pose[:3], pose[3:], betas)]  # fmt: skip
            with torch.inference_mode():
                out = layer(*inputs)
            joints_model = out.joints[0].double().cpu().numpy()  # (21, 3)
            verts_model = out.verts[0].double().cpu().numpy()  # (V, 3)
            transl = root_cam[side] - joints_model[0]
            joints_cam = joints_model + transl
            flat = pose[3:] + (hand.hand_pose_aa_flat - hand.hand_pose_aa)  # the layer's mean pose, unchanged
            rotmat = axis_angle_to_rotmat(torch.from_numpy(np.concatenate([pose[:3], flat]).reshape(16, 3))).numpy()
            out_hands[side] = replace(
                hand,
                root_pose_aa=pose[:3],
                hand_pose_aa=pose[3:],
                hand_pose_aa_flat=flat,
                pose_rotmat=rotmat,
                betas=betas,
                transl=transl,
                root_cam=root_cam[side],
                joints_cam=joints_cam,
                verts_cam=verts_model + transl,
                joints_2d=project(joints_cam, cam.focal, cam.princpt),
                placement={**hand.placement, "smoothed": True},
            )
        return replace(prediction, right=out_hands["right"], left=out_hands["left"], rel_trans=rel_trans)
