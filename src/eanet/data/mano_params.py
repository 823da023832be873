"""Hand-model (NeuralAnnot MANO) parameters: world frame to camera frame, exactly and without a mesh.

InterHand2.6M stores one parameter set per time step in the world frame
(``InterHand2.6M_<split>_MANO_NeuralAnnot.json``). The official loader (``InterHand26M.__getitem__``, the steps of
InterWild's ``get_mano_data``) moves it to a camera by rotating the root pose by the camera rotation ``R``, running
MANO with the world ``trans`` and then placing the mesh with ``X - root + R @ root + t``, where ``root`` is the wrist
*regressed from that mesh*. Two costs and one inexactness: it runs the hand model on the CPU for every sample, and
the regressed wrist moves with the pose blend shapes, so the result differs from ``R @ X_world + t`` by
``(R - I) R G q`` with ``q`` the regressed wrist's offset from the rotation pivot (about a millimetre).

Linear blend skinning rotates the whole hand about the rest-pose root joint ``J0(beta) = J_regressor[0] @
(v_template + shapedirs @ beta)``, which depends only on the shape. For any rotation ``R``::

    LBS(R G, hand_pose, beta) + trans' = J0 + R (LBS(G, hand_pose, beta) - J0) + trans'

so choosing ``trans_cam = R (J0 + trans) + t - J0`` makes ``LBS(R G, hand_pose, beta) + trans_cam`` equal to
``R (LBS(G, hand_pose, beta) + trans) + t`` for every vertex and every regressed joint, exactly. That needs ``J0``
(a (3, 10) matrix-vector product) instead of a mesh; :class:`eanet.data.collate.ManoTargetBuilder` then computes
vertices and joints for a whole batch in one pass (tested in ``tests/data/test_mano_params.py`` against the direct
world route to 1e-5 m).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from eanet.hand_model.base import HandModelData

__all__ = ["RootPivot", "rotate_root_pose", "world_to_camera", "mirror_pose", "rotz"]


@dataclass(frozen=True)
class RootPivot:
    """``J0(beta) = template + dirs @ beta``: the rest-pose root joint of one hand model (metres, model frame)."""

    template: np.ndarray  # (3,)
    dirs: np.ndarray  # (3, S)

    @classmethod
    def from_data(cls, data: HandModelData) -> RootPivot:
        w = np.asarray(data.J_regressor[0], dtype=np.float64)  # (V,)
        template = w @ np.asarray(data.v_template, dtype=np.float64)  # (3,)
        dirs = np.einsum("v,vcs->cs", w, np.asarray(data.shapedirs, dtype=np.float64))  # (3, S)
        return cls(template=template, dirs=dirs)

    def __call__(self, betas: np.ndarray) -> np.ndarray:
        betas = np.asarray(betas, dtype=np.float64)
        return self.template + self.dirs[:, : betas.shape[-1]] @ betas  # (3,)


def rotate_root_pose(rotation: np.ndarray, root_pose_aa: np.ndarray) -> np.ndarray:
    """Axis-angle of ``rotation @ Rodrigues(root_pose_aa)`` (float64 ``(3,)``)."""
    root, _ = cv2.Rodrigues(np.asarray(root_pose_aa, dtype=np.float64).reshape(3, 1))
    out, _ = cv2.Rodrigues(np.asarray(rotation, dtype=np.float64) @ root)
    return out.reshape(3)


def world_to_camera(
    pose_aa: np.ndarray, betas: np.ndarray, trans_world_m: np.ndarray, cam_rot: np.ndarray, cam_trans_m: np.ndarray,
    pivot: RootPivot,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Move one hand's parameters from the world frame to a camera frame (exact; see the module docstring).

    Args:
        pose_aa: ``(48,)`` root then finger axis-angle, root in the world frame.
        betas: ``(10,)``.
        trans_world_m: ``(3,)`` world translation, metres.
        cam_rot: ``(3, 3)`` world-to-camera rotation; ``cam_trans_m``: ``(3,)`` metres
            (``X_cam = cam_rot @ X_world + cam_trans``).
        pivot: the hand model's root pivot (:class:`RootPivot` of the same side).

    Returns:
        ``pose_cam`` ``(48,)`` (root rotated into the camera frame, fingers unchanged) and ``trans_cam`` ``(3,)``
        such that ``hand_model(pose_cam, betas, transl=trans_cam) == cam_rot @ hand_model(pose_aa, betas,
        transl=trans_world) + cam_trans``.
    """
    pose_cam = np.array(pose_aa, dtype=np.float64).reshape(48)
    pose_cam[:3] = rotate_root_pose(cam_rot, pose_cam[:3])
    j0 = pivot(betas)
    trans_cam = np.asarray(cam_rot, np.float64) @ (j0 + np.asarray(trans_world_m, np.float64)) + cam_trans_m - j0
    return pose_cam, trans_cam


def mirror_pose(pose_aa: np.ndarray) -> np.ndarray:
    """Mirror every joint's axis-angle across the x = 0 plane: ``(x, y, z) -> (x, -y, -z)`` (the official flip)."""
    pose = np.array(pose_aa, dtype=np.float64).reshape(-1, 3)
    pose[:, 1:] *= -1.0
    return pose.reshape(np.shape(pose_aa))


def rotz(angle_deg: float) -> np.ndarray:
    """Rotation about the camera's z axis by ``angle_deg`` (the official 3D augmentation uses ``-rot``)."""
    a = np.deg2rad(angle_deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
