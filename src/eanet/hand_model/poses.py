"""Named finger poses, anatomical joint limits and a pose/shape prior for MANO-convention hand models.

Poses here are written the way a hand surgeon would: per joint a flexion, an abduction and a twist angle in degrees,
measured in an anatomical frame of that joint. :func:`angles_to_pose` turns them into the 45 axis-angle numbers a
hand-model layer takes (15 joints in MANO-16 order without the wrist, 3 numbers each).

Conventions:
    * Right hand, MANO's model frame: fingers point along -x, the back of the hand faces +y, the thumb is on the +z
      side. Rest joint rotations are the identity (as in MANO and the open hand), so each joint's rotation is
      expressed in these model axes. A left-hand pose is the mirror image: ``mirror_pose`` (``(x, -y, -z)`` per
      joint), as for MANO's left model.
    * Joint frame (columns ``flexion, abduction, twist``): *twist* runs along the bone in the rest pose, *flexion*
      is the axis about which a positive angle bends the bone towards the palm (for the long fingers roughly +z),
      *abduction* = twist x flexion (roughly the back-of-hand normal); a positive abduction angle moves the bone
      towards the thumb side (radial deviation). The local rotation is ``Rx(flex) @ Ry(abd) @ Rz(twist)`` in the
      joint frame.
    * Every pose here is **absolute** ("flat hand mean" semantics): the rotation actually applied to each joint,
      zero being the flat template. A layer built with ``flat_hand_mean=False`` adds its model's ``hands_mean``, so
      pass ``relative_to_mean(pose, layer.hands_mean)`` to it.

The joint frames are those of the open hand's rest pose (:data:`FINGER_SPLAY_DEG` and the ``THUMB_*`` constants,
kept equal to ``tools/build_open_hand.py``'s parameters and checked by the tests). MANO's rest pose differs by a
few degrees (its fingers are more spread), so the same angles give a similar, not identical, posture on MANO.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from eanet.hand_model.skeleton import MANO_JOINTS_16

__all__ = [
    "FINGER_SPLAY_DEG",
    "THUMB_AZIMUTH_DEG",
    "THUMB_ELEVATION_DEG",
    "THUMB_PRONATION_DEG",
    "JOINT_LIMITS_DEG",
    "NAMED_POSE_ANGLES_DEG",
    "NAMED_POSES",
    "joint_frames",
    "angles_to_pose",
    "pose_to_angles",
    "mirror_pose",
    "relative_to_mean",
    "clip_to_limits",
    "sample_hand_pose",
    "sample_betas",
]

#: The 15 posed joints (MANO-16 without the wrist), in the order of the 45 pose numbers.
POSE_JOINTS: tuple[str, ...] = MANO_JOINTS_16[1:]

#: Rest direction of each long finger: degrees from the hand's long axis towards the thumb side, in the palm plane.
FINGER_SPLAY_DEG: dict[str, float] = {"Index": 7.0, "Middle": 0.0, "Ring": -7.0, "Pinky": -15.0}
#: Rest direction of the thumb's metacarpal, proximal and distal phalanx: degrees from the hand's long axis towards
#: the thumb side (azimuth) and out of the palm plane (elevation, negative = towards the palm).
THUMB_AZIMUTH_DEG: tuple[float, float, float] = (38.0, 27.0, 20.0)
THUMB_ELEVATION_DEG: tuple[float, float, float] = (-12.0, -8.0, -5.0)
#: How far the thumb pad is turned from facing the palm's normal towards facing the fingers (degrees).
THUMB_PRONATION_DEG: float = 50.0


def _palm_dir(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """Unit direction in the model frame from palm-plane angles (x = -distal, y = dorsal, z = radial)."""
    a, e = np.deg2rad(azimuth_deg), np.deg2rad(elevation_deg)
    return np.array([-np.cos(e) * np.cos(a), np.sin(e), np.cos(e) * np.sin(a)])


def joint_frames() -> np.ndarray:
    """Anatomical frames of the 15 posed joints in the right hand's model frame.

    Returns:
        ``(15, 3, 3)``: per joint, columns ``(flexion axis, abduction axis, twist axis)``, a rotation matrix.
    """
    palmar = np.array([0.0, -1.0, 0.0])
    frames = np.zeros((15, 3, 3))
    for j, name in enumerate(POSE_JOINTS):
        finger, segment = name.split("_")
        s = int(segment) - 1
        if finger == "Thumb":
            t = _palm_dir(THUMB_AZIMUTH_DEG[s], THUMB_ELEVATION_DEG[s])
            p0 = palmar - (palmar @ t) * t
            p0 /= np.linalg.norm(p0)
            psi = np.deg2rad(THUMB_PRONATION_DEG)
            pad = np.cos(psi) * p0 - np.sin(psi) * np.cross(t, p0)
        else:
            t = _palm_dir(FINGER_SPLAY_DEG[finger], 0.0)
            pad = palmar
        flex = np.cross(t, pad)
        flex /= np.linalg.norm(flex)
        abd = np.cross(t, flex)
        frames[j] = np.stack([flex, abd, t], axis=1)
    return frames


_FRAMES = joint_frames()


def _euler_to_rotmat(angles_rad: np.ndarray) -> np.ndarray:
    """``(..., 3)`` (a, b, c) -> ``(..., 3, 3)`` = Rx(a) @ Ry(b) @ Rz(c)."""
    return Rotation.from_euler("XYZ", angles_rad.reshape(-1, 3)).as_matrix().reshape(*angles_rad.shape[:-1], 3, 3)


def angles_to_pose(angles_deg: np.ndarray) -> np.ndarray:
    """Anatomical angles to an axis-angle finger pose.

    Args:
        angles_deg: ``(..., 15, 3)`` (flexion, abduction, twist) in degrees per posed joint (MANO-16 order).

    Returns:
        ``(..., 45)`` axis-angle pose (right hand, absolute).
    """
    angles_deg = np.asarray(angles_deg, dtype=np.float64)
    local = _euler_to_rotmat(np.deg2rad(angles_deg))  # (..., 15, 3, 3)
    rot = _FRAMES @ local @ np.swapaxes(_FRAMES, -1, -2)  # (..., 15, 3, 3) in model axes
    rotvec = Rotation.from_matrix(rot.reshape(-1, 3, 3)).as_rotvec()  # (N * 15, 3)
    return rotvec.reshape(*angles_deg.shape[:-2], 45)


def pose_to_angles(pose: np.ndarray) -> np.ndarray:
    """Inverse of :func:`angles_to_pose` (exact while |abduction| < 90 degrees).

    Args:
        pose: ``(..., 45)`` axis-angle right-hand finger pose (absolute).

    Returns:
        ``(..., 15, 3)`` (flexion, abduction, twist) in degrees.
    """
    pose = np.asarray(pose, dtype=np.float64)
    rot = Rotation.from_rotvec(pose.reshape(-1, 3)).as_matrix().reshape(*pose.shape[:-1], 15, 3, 3)
    local = np.swapaxes(_FRAMES, -1, -2) @ rot @ _FRAMES  # (..., 15, 3, 3)
    euler = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_euler("XYZ")  # (N * 15, 3)
    return np.rad2deg(euler).reshape(*pose.shape[:-1], 15, 3)


def mirror_pose(pose: np.ndarray) -> np.ndarray:
    """Right-hand pose to the mirror-image left-hand pose (and back): ``(x, y, z) -> (x, -y, -z)`` per joint.

    Args:
        pose: ``(..., 3k)`` axis-angle vectors.
    """
    pose = np.asarray(pose)
    sign = np.tile(np.array([1.0, -1.0, -1.0], dtype=pose.dtype), pose.shape[-1] // 3)
    return pose * sign


def relative_to_mean(pose: np.ndarray, hands_mean: np.ndarray) -> np.ndarray:
    """The ``hand_pose`` a ``flat_hand_mean=False`` layer needs to produce the absolute ``pose``.

    This subtracts axis-angle vectors, exactly undoing the layer's ``hand_pose + hands_mean`` (MANO's convention).
    """
    return np.asarray(pose) - np.asarray(hands_mean)


def _table(rows: dict[str, tuple[tuple[float, float, float], ...]]) -> np.ndarray:
    """Per-finger joint angles (base to tip) -> ``(15, 3)`` in MANO-16 order."""
    out = np.zeros((15, 3))
    for finger, joints in rows.items():
        for s, angles in enumerate(joints):
            out[POSE_JOINTS.index(f"{finger}_{s + 1}")] = angles
    return out


#: Anatomical range of motion, ``(15, 3, 2)`` (min, max) degrees per joint and axis (flexion, abduction, twist).
#: Active ranges after the AAOS "Joint Motion: Method of Measuring and Recording" (1965) and Hume et al., "Functional
#: range of motion of the joints of the hand", J Hand Surg 15A, 1990: finger MCP -20..90, PIP 0..105, DIP -10..85,
#: thumb MCP -10..60, IP -15..80. Abduction and twist (not measured clinically at PIP/DIP) are kept small.
JOINT_LIMITS_DEG: np.ndarray = np.stack(
    [
        _table(
            {
                f: ((-20.0, -25.0, -10.0), (-5.0, -5.0, -5.0), (-10.0, -5.0, -5.0))
                for f in ("Index", "Middle", "Ring", "Pinky")
            }
            | {"Thumb": ((-25.0, -35.0, -20.0), (-10.0, -10.0, -10.0), (-15.0, -5.0, -5.0))}
        ),
        _table(
            {f: ((90.0, 25.0, 10.0), (105.0, 5.0, 5.0), (85.0, 5.0, 5.0)) for f in ("Index", "Middle", "Ring", "Pinky")}
            | {"Thumb": ((55.0, 45.0, 40.0), (60.0, 10.0, 15.0), (80.0, 5.0, 5.0))}
        ),
    ],
    axis=-1,
)

_FIST_FINGERS = {
    "Index": ((80.0, -4.0, 0.0), (95.0, 0.0, 0.0), (55.0, 0.0, 0.0)),
    "Middle": ((85.0, 0.0, 0.0), (100.0, 0.0, 0.0), (55.0, 0.0, 0.0)),
    "Ring": ((88.0, 3.0, 0.0), (100.0, 0.0, 0.0), (55.0, 0.0, 0.0)),
    "Pinky": ((88.0, 8.0, 0.0), (95.0, 0.0, 0.0), (50.0, 0.0, 0.0)),
}
_EXTENDED = ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0))

#: Named postures as anatomical angles ``(15, 3)`` (flexion, abduction, twist) in degrees.
NAMED_POSE_ANGLES_DEG: dict[str, np.ndarray] = {
    "flat": np.zeros((15, 3)),
    "relaxed": _table(
        {
            "Index": ((12.0, -2.0, 0.0), (20.0, 0.0, 0.0), (10.0, 0.0, 0.0)),
            "Middle": ((16.0, 0.0, 0.0), (25.0, 0.0, 0.0), (12.0, 0.0, 0.0)),
            "Ring": ((20.0, 2.0, 0.0), (28.0, 0.0, 0.0), (12.0, 0.0, 0.0)),
            "Pinky": ((24.0, 5.0, 0.0), (30.0, 0.0, 0.0), (14.0, 0.0, 0.0)),
            "Thumb": ((10.0, -8.0, 0.0), (10.0, 0.0, 0.0), (12.0, 0.0, 0.0)),
        }
    ),
    "fist": _table(_FIST_FINGERS | {"Thumb": ((40.0, -15.0, 25.0), (45.0, 0.0, 0.0), (35.0, 0.0, 0.0))}),
    "point": _table(
        _FIST_FINGERS | {"Index": _EXTENDED, "Thumb": ((40.0, -10.0, 25.0), (40.0, 0.0, 0.0), (30.0, 0.0, 0.0))}
    ),
    "victory": _table(
        _FIST_FINGERS
        | {
            "Index": ((0.0, 10.0, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
            "Middle": ((0.0, -8.0, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
            "Thumb": ((45.0, -15.0, 25.0), (45.0, 0.0, 0.0), (30.0, 0.0, 0.0)),
        }
    ),
    "pinch": _table(
        {
            "Index": ((40.0, -2.0, 0.0), (55.0, 0.0, 0.0), (25.0, 0.0, 0.0)),
            "Middle": ((15.0, 0.0, 0.0), (15.0, 0.0, 0.0), (8.0, 0.0, 0.0)),
            "Ring": ((15.0, 4.0, 0.0), (15.0, 0.0, 0.0), (8.0, 0.0, 0.0)),
            "Pinky": ((15.0, 10.0, 0.0), (15.0, 0.0, 0.0), (8.0, 0.0, 0.0)),
            "Thumb": ((20.0, 0.0, 30.0), (15.0, 0.0, 0.0), (30.0, 0.0, 0.0)),
        }
    ),
    "spread": _table(
        {
            "Index": ((0.0, 15.0, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
            "Middle": ((0.0, 2.0, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
            "Ring": ((0.0, -10.0, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
            "Pinky": ((0.0, -20.0, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
            "Thumb": ((-10.0, 25.0, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
        }
    ),
    "thumbs_up": _table(_FIST_FINGERS | {"Thumb": ((0.0, -25.0, 20.0), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0))}),
}

#: Named postures as ``(45,)`` absolute axis-angle right-hand finger poses (see the module docstring).
NAMED_POSES: dict[str, np.ndarray] = {
    name: angles_to_pose(angles).astype(np.float32) for name, angles in NAMED_POSE_ANGLES_DEG.items()
}


def clip_to_limits(angles_deg: np.ndarray) -> np.ndarray:
    """Clamp ``(..., 15, 3)`` anatomical angles to :data:`JOINT_LIMITS_DEG`."""
    return np.clip(angles_deg, JOINT_LIMITS_DEG[..., 0], JOINT_LIMITS_DEG[..., 1])


def _lerp(a: float, b: float, t: np.ndarray) -> np.ndarray:
    return a + (b - a) * t


def sample_hand_pose(
    generator: np.random.Generator,
    n: int,
    *,
    side: str = "right",
    curl_range: tuple[float, float] = (0.0, 1.0),
    independent_fingers: float = 0.5,
    spread: float = 1.0,
    noise_deg: float = 5.0,
) -> np.ndarray:
    """Random plausible finger poses, within :data:`JOINT_LIMITS_DEG`.

    A small synergy model rather than independent angles (which give implausible hands): each long finger has a
    curl ``c`` in ``[0, 1]`` (shared by all fingers, plus a little jitter, or drawn per finger with probability
    ``independent_fingers``), which sets MCP flexion (-10..88 deg) and PIP flexion (0..100 deg); the DIP follows
    the PIP at ~2/3 of its angle (the tendon coupling of the long fingers); spreading shrinks as the fingers curl;
    the thumb gets an opposition amount that moves it from beside the index finger towards the palm, plus
    independent MCP/IP flexion. Gaussian noise of ``noise_deg`` is added and every angle clipped to the limits.

    Args:
        generator: the NumPy random generator (the only source of randomness).
        n: number of poses.
        side: ``"right"`` or ``"left"`` (the mirrored pose, for a left-hand model).
        curl_range: range of the shared finger curl.
        independent_fingers: probability that a pose draws each finger's curl independently.
        spread: scale of finger spreading (0 = none).
        noise_deg: standard deviation of per-angle noise, degrees.

    Returns:
        ``(n, 45)`` float32 absolute axis-angle finger poses (use :func:`relative_to_mean` for a
        ``flat_hand_mean=False`` layer).
    """
    if side not in ("right", "left"):
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    g = generator
    lo, hi = curl_range
    shared = g.uniform(lo, hi, size=(n, 1))  # (n, 1)
    jitter = np.clip(shared + g.normal(0.0, 0.08, size=(n, 4)), 0.0, 1.0)  # (n, 4)
    independent = g.uniform(0.0, 1.0, size=(n, 4))
    use_independent = g.uniform(size=(n, 1)) < independent_fingers
    curl = np.where(use_independent, independent, jitter)  # (n, 4) index, middle, ring, pinky
    spread_amount = g.uniform(-0.3, 1.0, size=(n, 1)) * spread  # (n, 1)
    spread_abd = np.array([15.0, 2.0, -10.0, -20.0])  # the "spread" pose's MCP abduction

    angles = np.zeros((n, 15, 3))
    for k, finger in enumerate(("Index", "Middle", "Ring", "Pinky")):
        c = curl[:, k]
        mcp, pip, dip = (POSE_JOINTS.index(f"{finger}_{s}") for s in (1, 2, 3))
        angles[:, mcp, 0] = _lerp(-10.0, 88.0, c)
        angles[:, pip, 0] = _lerp(0.0, 100.0, c)
        angles[:, dip, 0] = angles[:, pip, 0] * (2.0 / 3.0)
        angles[:, mcp, 1] = spread_amount[:, 0] * spread_abd[k] * (1.0 - c)
        angles[:, mcp, 2] = g.normal(0.0, 3.0, size=n)
    opposition = g.uniform(0.0, 1.0, size=n)
    cmc, tmcp, tip = (POSE_JOINTS.index(f"Thumb_{s}") for s in (1, 2, 3))
    angles[:, cmc, 0] = _lerp(-10.0, 45.0, opposition)
    angles[:, cmc, 1] = _lerp(20.0, -15.0, opposition)
    angles[:, cmc, 2] = _lerp(0.0, 30.0, opposition)
    thumb_flex = g.uniform(0.0, 1.0, size=n)
    angles[:, tmcp, 0] = _lerp(-5.0, 50.0, thumb_flex)
    angles[:, tip, 0] = _lerp(-10.0, 70.0, np.clip(thumb_flex + g.normal(0.0, 0.2, size=n), 0.0, 1.0))
    angles += g.normal(0.0, noise_deg, size=angles.shape) * np.array([1.0, 0.5, 0.3])  # less abduction/twist noise
    pose = angles_to_pose(clip_to_limits(angles)).astype(np.float32)  # (n, 45)
    return pose if side == "right" else mirror_pose(pose)


def sample_betas(
    generator: np.random.Generator, n: int, num_betas: int = 10, std: float = 1.0, max_abs: float = 2.5
) -> np.ndarray:
    """Random shape coefficients: independent normal draws with standard deviation ``std``, clipped to
    ``+-max_abs`` (MANO's and the open hand's betas are both scaled so that one unit is about one standard
    deviation).

    Returns:
        ``(n, num_betas)`` float32.
    """
    return np.clip(generator.normal(0.0, std, size=(n, num_betas)), -max_abs, max_abs).astype(np.float32)
