"""Two-hand scenes for the synthetic dataset: hand poses, interacting configurations and short motion sequences.

Every hand is a hand-model layer (the built-in open hand or MANO) driven exactly as InterHand2.6M's NeuralAnnot
parameters drive MANO: ``pose`` = 3 root axis-angle numbers **in the world frame**
plus 45 finger numbers **relative to the mean hand** (``flat_hand_mean=False``), ``shape`` = 10 betas and
``trans`` in metres, so that ``layer(pose[:3], pose[3:], shape, transl=trans)`` is the hand in world metres. The
world joints (mm) written to ``_joint_3d.json`` are that output's joints times 1000, with the layer's training
fingertips, which is the relation a reader inverts.

Configurations (``SCENE_KINDS``):

* ``touch``: the hands are brought together until they touch (palm to palm, fingertips to fingertips, or an
  arbitrary contact such as one hand holding the other);
* ``overlap``: the hands are stacked along a palm normal (one in front of the other), crossing at an angle,
  touching or a few centimetres apart;
* ``interlaced``: palms facing, fingers spread and flexed, offset sideways by half a finger spacing so the fingers
  alternate, then pushed together until contact (an approximation: there is no physics, see below);
* ``far``: both hands in view, 4-25 cm apart;
* ``right`` / ``left``: one hand only (the other is absent: no joints, ``None`` parameters).

Contact and interpenetration: the moving hand approaches the other along a straight line in 2 mm steps and stops
when the closest vertex pair is within the target gap (then a bisection refines the stop). A final check estimates
penetration with a signed-distance proxy (each vertex against the nearest vertex of the other hand and that
vertex's normal); frames above 4 mm are backed off along the approach line. The proxy misses penetrations thinner
than the mesh spacing (~4 mm on MANO's fingers) and the fingers of one hand may still cross each other (the
finger-pose sampler has joint limits but no self-collision test).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial import cKDTree

from eanet.hand_model.poses import NAMED_POSES, mirror_pose, relative_to_mean, sample_hand_pose
from eanet.hand_model.skeleton import NUM_BETAS
from eanet.render.scene import vertex_normals

__all__ = [
    "SCENE_KINDS",
    "INTERACTING_KINDS",
    "HandParams",
    "HandFrame",
    "SceneFrame",
    "HandRig",
    "Articulation",
    "sample_articulation",
    "SceneSampler",
    "penetration_proxy",
]

SCENE_KINDS: tuple[str, ...] = ("touch", "overlap", "interlaced", "far", "right", "left")
INTERACTING_KINDS: tuple[str, ...] = ("touch", "overlap", "interlaced", "far")

# MANO-16 joint indices (eanet.hand_model.skeleton.MANO_JOINTS_16): wrist, then (index, middle, pinky, ring, thumb)
# x three joints from the knuckle outwards.
_MANO_FINGERS = {
    "index": (1, 2, 3),
    "middle": (4, 5, 6),
    "pinky": (7, 8, 9),
    "ring": (10, 11, 12),
    "thumb": (13, 14, 15),
}
# Fingertip (thumb, index, middle, ring, pinky) position in the layer's tip tuple.
_TIP_SLOT = {"thumb": 0, "index": 1, "middle": 2, "ring": 3, "pinky": 4}
_FINGER_ORDER = ("index", "middle", "pinky", "ring", "thumb")  # MANO-16 order of the 15 finger joints

#: Rounding of the parameters written to the JSON (and used for the world joints, so both agree exactly).
POSE_DECIMALS = 6  # radians
SHAPE_DECIMALS = 6
TRANS_DECIMALS = 7  # metres (0.1 micrometre)


@dataclass
class HandParams:
    """One hand's NeuralAnnot-style parameters in the world frame.

    Attributes:
        pose: ``(48,)`` root axis-angle (world) + 45 finger axis-angle numbers relative to the mean hand.
        shape: ``(10,)`` betas.
        trans: ``(3,)`` translation in metres.
    """

    pose: np.ndarray
    shape: np.ndarray
    trans: np.ndarray

    def to_json(self) -> dict[str, list[float]]:
        return {"pose": self.pose.tolist(), "shape": self.shape.tolist(), "trans": self.trans.tolist()}


@dataclass
class HandFrame:
    """A posed hand in the world.

    Attributes:
        params: its parameters (rounded as written).
        verts_mm: ``(V, 3)`` vertices, world frame, mm.
        joints_mm: ``(21, 3)`` joints in InterHand2.6M order (tip first, wrist last), world frame, mm.
    """

    params: HandParams
    verts_mm: np.ndarray
    joints_mm: np.ndarray


@dataclass
class SceneFrame:
    """One time step of a sequence.

    Attributes:
        kind: one of :data:`SCENE_KINDS`.
        right, left: the hands, None when absent.
        min_distance_mm: closest vertex pair between the hands (None for a single hand).
        penetration_mm: signed-distance proxy of the deepest penetration (0 when none; None for a single hand).
    """

    kind: str
    right: HandFrame | None
    left: HandFrame | None
    min_distance_mm: float | None = None
    penetration_mm: float | None = None

    def hand(self, side: str) -> HandFrame | None:
        return self.right if side == "right" else self.left

    @property
    def joints_world_mm(self) -> np.ndarray:
        """``(42, 3)``: right 0-20, left 21-41 (InterHand2.6M order); zeros for an absent hand."""
        out = np.zeros((42, 3), dtype=np.float64)
        if self.right is not None:
            out[:21] = self.right.joints_mm
        if self.left is not None:
            out[21:] = self.left.joints_mm
        return out


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _rotvec_to_matrix(rotvec: np.ndarray) -> np.ndarray:
    """Rodrigues for one ``(3,)`` vector (float64)."""
    angle = float(np.linalg.norm(rotvec))
    if angle < 1e-12:
        return np.eye(3)
    k = rotvec / angle
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * K + (1 - np.cos(angle)) * K @ K


def _matrix_to_rotvec(R: np.ndarray) -> np.ndarray:
    """Inverse Rodrigues for one ``(3, 3)`` rotation, stable near 0 and pi (float64)."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(R).as_rotvec()


def _random_rotation(rng: np.random.Generator, max_angle: float) -> np.ndarray:
    axis = _unit(rng.normal(size=3))
    return _rotvec_to_matrix(axis * rng.uniform(0.0, max_angle))


def _frame(a: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Right-handed frame with columns ``[a, n, a x n]`` from a finger direction and a palm normal (made orthogonal)."""
    a = _unit(np.asarray(a, dtype=np.float64))
    n = np.asarray(n, dtype=np.float64)
    n = _unit(n - np.dot(n, a) * a)
    return np.stack([a, n, np.cross(a, n)], axis=1)


@dataclass
class Articulation:
    """Anatomical finger angles (radians) for the 15 finger joints in MANO-16 order (index, middle, pinky, ring,
    thumb; knuckle outwards): ``flex`` curls towards the palm, ``abd`` spreads towards the thumb side."""

    flex: np.ndarray
    abd: np.ndarray

    def lerp(self, other: Articulation, t: float) -> Articulation:
        return Articulation(self.flex + t * (other.flex - self.flex), self.abd + t * (other.abd - self.abd))


# Joint ranges (radians) per finger joint: (flex_min, flex_max) for knuckle/middle/distal joints.
_FLEX_RANGE = {
    "index": ((-0.25, 1.5), (0.0, 1.75), (0.0, 1.3)),
    "middle": ((-0.25, 1.5), (0.0, 1.8), (0.0, 1.3)),
    "ring": ((-0.25, 1.5), (0.0, 1.8), (0.0, 1.3)),
    "pinky": ((-0.3, 1.5), (0.0, 1.75), (0.0, 1.3)),
    "thumb": ((-0.3, 0.7), (-0.1, 0.9), (-0.3, 1.2)),
}
# Spread of the knuckles at full "spread" (positive: towards the thumb side).
_SPREAD = {"index": 0.22, "middle": 0.03, "ring": -0.14, "pinky": -0.32, "thumb": 0.45}


def sample_articulation(rng: np.random.Generator, style: str = "any") -> Articulation:
    """Random plausible finger angles.

    Styles: ``"any"`` (a global grasp level with per-finger variation, from open to fist, plus pointing/pinching
    variants), ``"open"`` (nearly flat, for palm-to-palm), ``"spread_flexed"`` (fingers spread and bent at the
    knuckles, for interlacing).
    """
    flex = np.zeros(15)
    abd = np.zeros(15)
    if style == "any":
        grasp = rng.beta(0.9, 1.3)
        curls = {f: np.clip(grasp + rng.normal(0, 0.22), 0, 1) for f in _FINGER_ORDER}
        variant = rng.random()
        if variant < 0.15:  # pointing: index straight, others curled
            curls.update(index=rng.uniform(0, 0.15), middle=rng.uniform(0.6, 1), ring=rng.uniform(0.7, 1))
            curls["pinky"] = rng.uniform(0.7, 1)
        elif variant < 0.25:  # pinch: thumb and index meet
            curls.update(index=rng.uniform(0.45, 0.7), thumb=rng.uniform(0.5, 0.8))
        spread = rng.uniform(-0.3, 1.0) * (1.0 - 0.7 * grasp)
    elif style == "open":
        curls = {f: rng.uniform(0.0, 0.18) for f in _FINGER_ORDER}
        spread = rng.uniform(-0.3, 0.3)
    elif style == "spread_flexed":
        curls = {f: rng.uniform(0.0, 0.12) for f in _FINGER_ORDER}
        curls["thumb"] = rng.uniform(0.0, 0.3)
        spread = rng.uniform(0.8, 1.2)
    else:
        raise ValueError(f"unknown articulation style {style!r}")
    for f, joints in _MANO_FINGERS.items():
        c = curls[f]
        for k, (lo, hi) in enumerate(_FLEX_RANGE[f]):
            idx = joints[k] - 1
            base = lo + (hi - lo) * np.clip(c + rng.normal(0, 0.06), 0, 1)
            flex[idx] = base
        abd[joints[0] - 1] = _SPREAD[f] * spread + rng.normal(0, 0.04)
    if style == "spread_flexed":  # bend at the knuckles so the fingers can wrap over the other hand
        for f in ("index", "middle", "ring", "pinky"):
            j = _MANO_FINGERS[f]
            flex[j[0] - 1] = rng.uniform(0.5, 0.95)
            flex[j[1] - 1] = rng.uniform(0.2, 0.6)
            flex[j[2] - 1] = rng.uniform(0.1, 0.4)
    return Articulation(flex=flex, abd=abd)


class HandRig:
    """The two hand-model layers plus the geometry the sampler needs (canonical frames, joint axes, palm side).

    Args:
        right, left: :class:`eanet.hand_model.HandModelLayer` of each side (any dtype; the rig uses a float64 copy
            on the CPU).
    """

    def __init__(self, right, left) -> None:
        self.layers = {
            "right": right.to(device="cpu", dtype=torch.float64),
            "left": left.to(device="cpu", dtype=torch.float64),
        }
        self.faces = {s: self.layers[s].faces.cpu().numpy() for s in self.layers}
        self.num_verts = {s: int(self.layers[s].num_verts) for s in self.layers}
        self.num_betas = {s: int(self.layers[s].num_betas) for s in self.layers}
        self._canonical: dict[tuple[str, bytes], tuple[np.ndarray, np.ndarray]] = {}
        self._axes = {s: self._joint_axes(s) for s in self.layers}
        self._palm = {s: self._palm_weights(s) for s in self.layers}

    # -- model evaluation -------------------------------------------------------------------------------------

    def _betas(self, side: str, betas: np.ndarray) -> torch.Tensor:
        b = torch.as_tensor(np.atleast_2d(betas), dtype=torch.float64)  # (N, 10)
        S = self.num_betas[side]
        if b.shape[1] < S:
            b = torch.cat([b, b.new_zeros(b.shape[0], S - b.shape[1])], dim=1)  # (N, S)
        return b[:, :S]

    @torch.no_grad()
    def run(
        self, side: str, pose: np.ndarray, betas: np.ndarray, trans: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Run one side's layer.

        Args:
            side: ``"right"`` or ``"left"``.
            pose: ``(N, 48)`` root + finger axis-angle (fingers relative to the mean hand).
            betas: ``(N, 10)``.
            trans: optional ``(N, 3)`` metres.

        Returns:
            vertices ``(N, V, 3)``, joints in InterHand2.6M order ``(N, 21, 3)`` and kinematic joint positions
            ``(N, 16, 3)``, all in metres (float64).
        """
        layer = self.layers[side]
        pose_t = torch.as_tensor(np.atleast_2d(pose), dtype=torch.float64)  # (N, 48)
        transl = None if trans is None else torch.as_tensor(np.atleast_2d(trans), dtype=torch.float64)
        out = layer(pose_t[:, :3], pose_t[:, 3:], self._betas(side, betas), transl=transl)
        return out.verts.numpy(), out.joints_ih26m.numpy(), out.transforms[:, :, :3, 3].numpy()

    def canonical(self, side: str, betas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The hand's own frame at zero root rotation: ``(3, 3)`` columns ``[a, n, a x n]`` (``a`` wrist -> middle
        knuckle, ``n`` the direction the palm faces) and the kinematic root position ``(3,)`` (metres)."""
        betas = np.asarray(betas, dtype=np.float64).reshape(-1)
        key = (side, betas.tobytes())
        if key not in self._canonical:
            if len(self._canonical) > 256:
                self._canonical.clear()
            _, _, kin = self.run(side, np.zeros((1, 48)), betas[None])
            self._canonical[key] = (self._frame_from_joints(side, kin[0]), kin[0, 0])
        return self._canonical[key]

    @staticmethod
    def _palm_normal(side: str, kin: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a = _unit(kin[4] - kin[0])  # wrist -> middle knuckle
        b = _unit(kin[1] - kin[7])  # pinky knuckle -> index knuckle: across the palm towards the thumb
        # Right hand: palm normal = b x a; the left hand is the mirror image, so the cross product flips.
        n = np.cross(b, a) if side == "right" else np.cross(a, b)
        return a, _unit(n), b

    def _frame_from_joints(self, side: str, kin: np.ndarray) -> np.ndarray:
        a, n, _ = self._palm_normal(side, kin)
        return _frame(a, n)

    def global_orient(
        self, side: str, betas: np.ndarray, finger_dir: np.ndarray, palm_normal: np.ndarray
    ) -> np.ndarray:
        """Root axis-angle that points the hand's fingers along ``finger_dir`` with the palm facing ``palm_normal``."""
        canon, _ = self.canonical(side, betas)
        R = _frame(finger_dir, palm_normal) @ canon.T
        return _matrix_to_rotvec(R)

    # -- anatomy ----------------------------------------------------------------------------------------------

    def _rest_kinematics(self, side: str) -> np.ndarray:
        """Kinematic joints ``(16, 3)`` and fingertips of the flat hand (all rotations zero), mean shape."""
        layer = self.layers[side]
        flat = -layer.hands_mean.cpu().numpy() if not layer.flat_hand_mean else np.zeros(45)
        pose = np.concatenate([np.zeros(3), flat])[None]
        verts, _, kin = self.run(side, pose, np.zeros((1, NUM_BETAS)))
        tips = verts[0, list(layer.tip_vertices)]  # (5, 3) thumb, index, middle, ring, pinky
        return kin[0], tips

    def _joint_axes(self, side: str) -> tuple[np.ndarray, np.ndarray]:
        """Per finger joint (15, MANO-16 order) a flexion axis and an abduction axis in the rest frame."""
        kin, tips = self._rest_kinematics(side)
        a, n, b = self._palm_normal(side, kin)
        flex_axes = np.zeros((15, 3))
        abd_axes = np.zeros((15, 3))
        abd_axis = _unit(np.cross(a, b))  # rotating about it moves the fingers towards +b (the thumb side)
        for finger, joints in _MANO_FINGERS.items():
            # The thumb's pad faces partly across the palm: it flexes towards the little finger, not only the palm.
            nf = n if finger != "thumb" else _unit(n - 0.9 * b)
            for k, j in enumerate(joints):
                child = kin[joints[k + 1]] if k < 2 else tips[_TIP_SLOT[finger]]
                d = _unit(child - kin[j])
                flex_axes[j - 1] = _unit(np.cross(d, nf))  # rotating d about it moves d towards nf
                abd_axes[j - 1] = abd_axis
        return flex_axes, abd_axes

    def finger_pose(self, side: str, art: Articulation) -> np.ndarray:
        """``(45,)`` finger pose relative to the mean hand (``flat_hand_mean=False``) for anatomical angles."""
        flex_axes, abd_axes = self._axes[side]
        full = np.zeros((15, 3))
        for j in range(15):
            R = _rotvec_to_matrix(flex_axes[j] * art.flex[j]) @ _rotvec_to_matrix(abd_axes[j] * art.abd[j])
            full[j] = _matrix_to_rotvec(R)
        layer = self.layers[side]
        mean = layer.hands_mean.cpu().numpy() if not layer.flat_hand_mean else np.zeros(45)
        return full.reshape(45) - mean  # (45,)

    @property
    def named_poses(self) -> tuple[str, ...]:
        """Names of :data:`eanet.hand_model.poses.NAMED_POSES`."""
        return tuple(NAMED_POSES)

    def _relative(self, side: str, absolute_pose: np.ndarray) -> np.ndarray:
        layer = self.layers[side]
        if layer.flat_hand_mean:
            return absolute_pose
        return relative_to_mean(absolute_pose, layer.hands_mean.cpu().numpy())

    def prior_finger_pose(self, side: str, rng: np.random.Generator) -> np.ndarray:
        """``(45,)`` finger pose relative to the mean hand from :func:`eanet.hand_model.poses.sample_hand_pose`."""
        return self._relative(side, sample_hand_pose(rng, 1, side=side)[0].astype(np.float64))

    def named_finger_pose(self, side: str, name: str) -> np.ndarray:
        """``(45,)`` finger pose relative to the mean hand for a named posture (mirrored for the left hand)."""
        pose = np.asarray(NAMED_POSES[name], dtype=np.float64)
        if side == "left":
            pose = mirror_pose(pose)
        return self._relative(side, pose)

    def _palm_weights(self, side: str) -> np.ndarray:
        layer = self.layers[side]
        kin, _ = self._rest_kinematics(side)
        _, n, _ = self._palm_normal(side, kin)
        flat = -layer.hands_mean.cpu().numpy() if not layer.flat_hand_mean else np.zeros(45)
        verts, _, _ = self.run(side, np.concatenate([np.zeros(3), flat])[None], np.zeros((1, NUM_BETAS)))
        normals = vertex_normals(verts[0], self.faces[side])
        return np.clip(0.35 + 0.9 * (normals @ n), 0.0, 1.0)  # a soft band where palm and back meet

    def palm_weights(self, side: str) -> np.ndarray:
        """``(V,)`` in ``[0, 1]``: 1 on the palm side of the hand (palm and finger pads), 0 on the back."""
        return self._palm[side]

    def vertex_normals(self, side: str, verts: np.ndarray) -> np.ndarray:
        return vertex_normals(verts, self.faces[side])


def penetration_proxy(
    verts_a: np.ndarray, normals_a: np.ndarray, verts_b: np.ndarray, tree_a: cKDTree | None = None, radius: float = 12.0
) -> float:
    """Depth (same unit as the vertices) by which ``verts_b`` enters the mesh ``a``, estimated per vertex of ``b``
    from the nearest vertex of ``a`` and its outward normal; 0 when no vertex of ``b`` is inside.

    Only vertices within ``radius`` of ``a`` count (far vertices can have a misleading nearest normal).
    """
    tree_a = tree_a or cKDTree(verts_a)
    dist, idx = tree_a.query(verts_b, distance_upper_bound=radius)
    ok = np.isfinite(dist)
    if not ok.any():
        return 0.0
    signed = np.einsum("ij,ij->i", verts_b[ok] - verts_a[idx[ok]], normals_a[idx[ok]])
    return float(max(0.0, -signed.min()))


@dataclass
class _HandPlan:
    """Per-sequence plan of one hand: keyframe finger poses (45, relative to the mean hand) and orientation targets
    in the interaction frame."""

    pose0: np.ndarray
    pose1: np.ndarray
    finger_dir: np.ndarray
    palm_normal: np.ndarray
    wobble0: np.ndarray  # rotation vectors applied to the target frame at t=0 and t=1
    wobble1: np.ndarray


class SceneSampler:
    """Samples sequences of two-hand (or one-hand) frames in the world (mm).

    Args:
        rig: the hands.
        max_penetration_mm: frames whose penetration proxy exceeds this are backed off along the approach line.
        view_spread: in ``(0, 1]``; 1 (default) is the full variety described in the module docstring. Below 1,
            for small training recipes that must learn in minutes: the interaction frame turns about the vertical
            by at most ``±180° x view_spread`` (instead of any angle), its tilt, drift and the hands' wobble shrink by
            the same factor, and each hand's planned orientation is pulled towards a canonical one (fingers up,
            palm towards the world ``-y`` side, where ``sample_camera_rig(..., view_spread=...)`` puts the cameras)
            keeping ``view_spread`` of its rotation angle away from it. Contacts are still resolved per frame, so
            hands touch as before, but the kinds' characteristic relative orientations are partly lost.
    """

    #: Canonical hand orientation of ``view_spread < 1`` (interaction frame): fingers up (+z), palm facing -y.
    CANONICAL_FINGER_DIR = np.array([0.0, 0.0, 1.0])
    CANONICAL_PALM_NORMAL = np.array([0.0, -1.0, 0.0])

    def __init__(self, rig: HandRig, max_penetration_mm: float = 4.0, view_spread: float = 1.0) -> None:
        if not 0.0 < view_spread <= 1.0:
            raise ValueError(f"view_spread must be in (0, 1], got {view_spread}")
        self.rig = rig
        self.max_penetration_mm = max_penetration_mm
        self.view_spread = float(view_spread)

    # -- public -----------------------------------------------------------------------------------------------

    def sample_sequence(
        self,
        rng: np.random.Generator,
        kind: str,
        num_frames: int,
        betas: dict[str, np.ndarray],
        center_mm: np.ndarray,
        target_pose: str | None = None,
    ) -> list[SceneFrame]:
        """One sequence: ``num_frames`` frames of a smooth motion of configuration ``kind``.

        Args:
            rng: random generator.
            kind: one of :data:`SCENE_KINDS`.
            num_frames: frames to produce.
            betas: ``{"right": (10,), "left": (10,)}`` the subject's hand shapes.
            center_mm: ``(3,)`` workspace centre (world, mm); the hands' centre stays near it.
            target_pose: single-hand kinds: a name in ``rig.named_poses`` the hand moves towards (the sequence
                then goes from a random pose to that one), or None for two random keyframes.
        """
        if kind not in SCENE_KINDS:
            raise ValueError(f"unknown scene kind {kind!r}; choose from {SCENE_KINDS}")
        # The interaction frame: x to the subject's right, y away from the subject, z up; turned about the vertical
        # and tilted so the cameras see every side over many sequences.
        spread = self.view_spread
        turn = rng.uniform(0, 2 * np.pi)
        if spread < 1.0:
            turn = spread * (turn - np.pi)  # around 0: the palms (canonical -y) face the narrowed camera rig
        G0 = _rotvec_to_matrix(np.array([0.0, 0.0, turn])) @ _random_rotation(rng, np.deg2rad(35 * spread))
        drift = _unit(rng.normal(size=3)) * np.deg2rad(rng.uniform(0, 25)) * spread
        shift0 = rng.uniform(-60, 60, size=3)
        shift1 = shift0 + rng.uniform(-40, 40, size=3)
        if kind in ("right", "left"):
            plans = {kind: self._single_plan(rng, kind, target_pose)}
            contact = None
        else:
            plans, contact = self._pair_plan(rng, kind)
        if spread < 1.0:
            plans = {side: self._narrowed(plan) for side, plan in plans.items()}
        frames = []
        for f in range(num_frames):
            t = f / max(num_frames - 1, 1)
            G = _rotvec_to_matrix(drift * t) @ G0
            center = np.asarray(center_mm, dtype=np.float64) + shift0 + t * (shift1 - shift0)
            frames.append(self._frame(rng, kind, plans, contact, betas, G, center, t))
        return frames

    # -- plans ------------------------------------------------------------------------------------------------

    def _keyframe(self, rng, side: str, style: str) -> np.ndarray:
        """A finger pose (45,) for one keyframe.

        ``"any"`` mixes three sources for variety: the hand-model package's pose prior
        (:func:`eanet.hand_model.poses.sample_hand_pose`, 40%), a named posture with noise (20%) and this module's
        anatomical sampler (40%, which also covers pointing/pinching). ``"named:<name>"`` is a named posture with
        small noise; other styles go to :func:`sample_articulation`.
        """
        if style == "any":
            u = rng.random()
            if u < 0.4:
                return self.rig.prior_finger_pose(side, rng)
            if u < 0.6:
                style = "named:" + str(rng.choice(sorted(self.rig.named_poses)))
        if style.startswith("named:"):
            pose = self.rig.named_finger_pose(side, style[len("named:") :])
            return pose + rng.normal(0.0, 0.05, size=45)
        return self.rig.finger_pose(side, sample_articulation(rng, style))

    def _plan(self, rng, side, finger_dir, palm_normal, style0="any", style1=None, wobble=0.25) -> _HandPlan:
        style1 = style1 or style0
        return _HandPlan(
            pose0=self._keyframe(rng, side, style0),
            pose1=self._keyframe(rng, side, style1),
            finger_dir=np.asarray(finger_dir, dtype=np.float64),
            palm_normal=np.asarray(palm_normal, dtype=np.float64),
            wobble0=_unit(rng.normal(size=3)) * rng.uniform(0, wobble),
            wobble1=_unit(rng.normal(size=3)) * rng.uniform(0, wobble),
        )

    def _narrowed(self, plan: _HandPlan) -> _HandPlan:
        """``plan`` with its orientation pulled towards the canonical one (``view_spread`` of the angle kept)."""
        spread = self.view_spread
        canon = _frame(self.CANONICAL_FINGER_DIR, self.CANONICAL_PALM_NORMAL)  # (3, 3)
        rel = canon.T @ _frame(plan.finger_dir, plan.palm_normal)  # (3, 3) rotation from the canonical frame
        frame = canon @ _rotvec_to_matrix(_matrix_to_rotvec(rel) * spread)  # (3, 3) columns [a, n, a x n]
        return dataclasses.replace(
            plan,
            finger_dir=frame[:, 0],
            palm_normal=frame[:, 1],
            wobble0=plan.wobble0 * spread,
            wobble1=plan.wobble1 * spread,
        )

    def _random_dirs(self, rng, bias=None, spread=1.0):
        a = rng.normal(size=3) * spread + (0 if bias is None else np.asarray(bias, dtype=np.float64))
        a = _unit(a)
        n = rng.normal(size=3)
        n = _unit(n - np.dot(n, a) * a)
        return a, n

    def _single_plan(self, rng, side: str, target_pose: str | None) -> _HandPlan:
        a, n = self._random_dirs(rng, bias=[0.0, 0.6, 0.6], spread=0.8)
        return self._plan(rng, side, a, n, "any", f"named:{target_pose}" if target_pose else "any", wobble=0.5)

    def _pair_plan(self, rng, kind: str):
        """Plans of both hands and the contact specification: the left hand approaches the right along ``u``."""
        x, y, z = np.eye(3)
        jitter = lambda v, s=0.25: _unit(np.asarray(v, dtype=np.float64) + rng.normal(0, s, size=3))  # noqa: E731
        lateral = np.zeros(3)
        if kind == "far":
            aR, nR = self._random_dirs(rng, bias=[0.3, 0.7, 0.5], spread=0.8)
            aL, nL = self._random_dirs(rng, bias=[-0.3, 0.7, 0.5], spread=0.8)
            plans = {"right": self._plan(rng, "right", aR, nR), "left": self._plan(rng, "left", aL, nL)}
            u, gap = jitter(x, 0.3), (rng.uniform(40, 250), rng.uniform(40, 250))
        elif kind == "touch":
            mode = rng.choice(["palms", "tips", "hold", "random"], p=[0.25, 0.2, 0.25, 0.3])
            if mode == "palms":  # palm to palm, fingers up (pray / clap)
                aR = jitter(z + 0.5 * y, 0.2)
                aL = jitter(aR, 0.25)
                plans = {
                    "right": self._plan(rng, "right", aR, jitter(-x, 0.2), "open"),
                    "left": self._plan(rng, "left", aL, jitter(x, 0.2), "open"),
                }
                u = x
            elif mode == "tips":  # fingertips towards each other
                nR = jitter(rng.choice([-1.0, 1.0]) * z, 0.5)
                plans = {
                    "right": self._plan(rng, "right", jitter(-x, 0.3), nR),
                    "left": self._plan(rng, "left", jitter(x, 0.3), jitter(rng.choice([-1.0, 1.0]) * nR, 0.5)),
                }
                u = x
            elif mode == "hold":  # the right palm faces the incoming left hand (holding, cupping, covering)
                u = jitter(x, 0.5)
                aR, _ = self._random_dirs(rng)
                plans = {
                    "right": self._plan(rng, "right", aR, -u),
                    "left": self._plan(rng, "left", *self._random_dirs(rng)),
                }
            else:
                u = _unit(rng.normal(size=3))
                plans = {
                    "right": self._plan(rng, "right", *self._random_dirs(rng)),
                    "left": self._plan(rng, "left", *self._random_dirs(rng)),
                }
            gap = (rng.uniform(1.5, 5.0), rng.uniform(1.5, 5.0))
        elif kind == "overlap":
            nR = jitter(rng.choice([z, -z, -y]), 0.4)
            aR = _unit(np.cross(nR, rng.normal(size=3)))
            side = rng.choice([-1.0, 1.0])  # the left hand in front of the right palm (+1) or behind its back (-1)
            nL = nR * rng.choice([-1.0, 1.0], p=[0.3, 0.7])
            aL = _rotvec_to_matrix(nR * rng.uniform(-1.3, 1.3)) @ aR * rng.choice([-1.0, 1.0])
            plans = {
                "right": self._plan(rng, "right", aR, nR, wobble=0.15),
                "left": self._plan(rng, "left", aL, nL, wobble=0.15),
            }
            u = -side * nR
            lateral = rng.uniform(-30, 30, size=3)
            g = rng.uniform(3.0, 40.0) if rng.random() < 0.5 else rng.uniform(1.5, 5.0)
            gap = (g, g * rng.uniform(0.7, 1.3))
        elif kind == "interlaced":
            nR = jitter(-x, 0.2)
            aR = jitter(z + 0.6 * y, 0.25)
            aR = _unit(aR - np.dot(aR, nR) * nR)
            aL = _rotvec_to_matrix(nR * rng.uniform(-0.5, 0.5)) @ aR
            plans = {
                "right": self._plan(rng, "right", aR, nR, "spread_flexed", wobble=0.08),
                "left": self._plan(rng, "left", aL, -nR, "spread_flexed", wobble=0.08),
            }
            u = -nR
            # Half a finger spacing across the palm, so the fingers fall between each other.
            lateral = np.cross(aR, nR) * rng.choice([-1.0, 1.0]) * rng.uniform(8.0, 11.0)
            gap = (rng.uniform(1.5, 3.5), rng.uniform(1.5, 3.5))
        else:  # pragma: no cover - kinds are checked by the caller
            raise ValueError(kind)
        return plans, {"u": _unit(u), "gap": gap, "lateral": lateral}

    # -- frames -----------------------------------------------------------------------------------------------

    def _posed(self, side, plan: _HandPlan, betas, G, t) -> tuple[np.ndarray, np.ndarray]:
        """Pose (48,) and vertices (V, 3, metres, zero translation) of a hand at time ``t``."""
        wobble = _rotvec_to_matrix(plan.wobble0 + t * (plan.wobble1 - plan.wobble0))
        a = G @ wobble @ plan.finger_dir
        n = G @ wobble @ plan.palm_normal
        root = self.rig.global_orient(side, betas, a, n)
        fingers = plan.pose0 + t * (plan.pose1 - plan.pose0)
        return np.concatenate([root, fingers]), a

    def _finish(self, side, pose, betas, trans_m) -> HandFrame:
        pose = np.round(pose, POSE_DECIMALS)
        shape = np.round(np.asarray(betas, dtype=np.float64)[:NUM_BETAS], SHAPE_DECIMALS)
        trans = np.round(trans_m, TRANS_DECIMALS)
        verts, joints, _ = self.rig.run(side, pose[None], shape[None], trans[None])
        return HandFrame(HandParams(pose, shape, trans), verts[0] * 1000.0, joints[0] * 1000.0)

    def _frame(self, rng, kind, plans, contact, betas, G, center, t) -> SceneFrame:
        if contact is None:  # single hand: centre its vertices on the workspace point
            side = kind
            pose, _ = self._posed(side, plans[side], betas[side], G, t)
            verts, _, _ = self.rig.run(side, pose[None], np.atleast_2d(betas[side]))
            trans = center / 1000.0 - verts[0].mean(0)
            hand = self._finish(side, pose, betas[side], trans)
            return SceneFrame(kind, hand if side == "right" else None, hand if side == "left" else None)

        poses, verts = {}, {}
        for side in ("right", "left"):
            poses[side], _ = self._posed(side, plans[side], betas[side], G, t)
            v, _, _ = self.rig.run(side, poses[side][None], np.atleast_2d(betas[side]))
            verts[side] = v[0] * 1000.0  # (V, 3) mm, zero translation
        u = G @ contact["u"]
        gap = contact["gap"][0] + t * (contact["gap"][1] - contact["gap"][0])
        # Start with the hand centres together (plus the lateral offset), then slide the left hand back along -u
        # to the first position that keeps the gap.
        vr = verts["right"] - verts["right"].mean(0)
        vl0 = verts["left"] - verts["left"].mean(0) + G @ contact["lateral"]
        tree = cKDTree(vr)
        normals_r = self.rig.vertex_normals("right", vr)
        s = self._approach(tree, vl0, u, gap)
        vl = vl0 + s * u
        pen = max(penetration_proxy(vr, normals_r, vl, tree), 0.0)
        for _ in range(50):  # back off while the proxy says the hands interpenetrate
            if pen <= self.max_penetration_mm:
                break
            s -= 2.0
            vl = vl0 + s * u
            pen = penetration_proxy(vr, normals_r, vl, tree)
        mid = 0.5 * (vr.mean(0) + vl.mean(0))
        offset_r = center - mid
        trans_r = (offset_r - verts["right"].mean(0)) / 1000.0  # verts_r_final = verts + trans*1000
        trans_l = (vl + offset_r - verts["left"])[0] / 1000.0
        right = self._finish("right", poses["right"], betas["right"], trans_r)
        left = self._finish("left", poses["left"], betas["left"], trans_l)
        dist = float(cKDTree(right.verts_mm).query(left.verts_mm)[0].min())
        return SceneFrame(kind, right, left, min_distance_mm=dist, penetration_mm=pen)

    @staticmethod
    def _approach(tree: cKDTree, verts_moving: np.ndarray, u: np.ndarray, gap: float, start: float = 350.0) -> float:
        """Where a hand moving along ``u`` first comes within ``gap`` of the other hand.

        The moving hand (``verts_moving + s * u``) starts at ``s = -start`` and advances; far from the other hand
        it jumps by the current distance minus the gap (it cannot get closer than that), near it in 2 mm steps,
        and a bisection refines the stop to ~0.1 mm. If it never comes within the gap (it passes beside the other
        hand), it stops where it came closest.

        Returns:
            ``s`` (same unit as the vertices).
        """

        def dist(s: float) -> float:
            return float(tree.query(verts_moving + s * u, distance_upper_bound=gap + 50.0)[0].min())

        s = prev = -start
        best_s, best_d = s, np.inf
        while s <= start:
            d = dist(s)
            if d < gap:
                lo, hi = prev, s  # dist(lo) >= gap > dist(hi)
                for _ in range(6):
                    mid = 0.5 * (lo + hi)
                    if dist(mid) < gap:
                        hi = mid
                    else:
                        lo = mid
                return lo
            if d < best_d:
                best_s, best_d = s, d
            prev = s
            s += max(2.0, min(d - gap, 60.0)) if np.isfinite(d) else 50.0
        return best_s
