"""Keypoint fitting (``eanet predict --fit keypoints``): each hand's pose, shape and placement fitted to MediaPipe.

A network trained on little data predicts the training set's average hands; even a good one leaves pixels between
its mesh and the fingers. This module moves each hand's mesh onto what MediaPipe's hand landmarker sees
(docs/inference.md, "Fitting meshes to keypoints"):

1. **Keypoints** (:func:`keypoints_from_detections`). Per detected hand, MediaPipe's 21 image landmarks (pixels) and
   21 3D "world" landmarks (metres, camera-aligned axes), put in our wrist-first joint order with
   :data:`~eanet.hand_model.skeleton.MEDIAPIPE_TO_JOINTS_21`. MediaPipe also runs on the mirror image, mapped back
   and merged: it is not mirror-symmetric, and the second pass finds hands the first misses (the lower hand of
   example_image2.png) and gives a second opinion on handedness.
2. **Which detection is which hand** (:func:`assign_hands`). With a network, the detections are matched to the
   network's projected 2D joints when one assignment costs less than half the other. Otherwise, and without a
   network, each detection's evidence of being a right hand is the sum of MediaPipe's handedness labels, read as
   naming the hand as seen (:func:`label_evidence`; averaged over both passes), and the thumb-side test of its 3D
   landmarks (:func:`chirality_from_world`); the detection with more evidence is the right hand, and a detection
   whose label and 3D shape disagree is reported.
3. **Start.** With a network: its pose and shape. Without: the hand model's mean pose and mean shape. The global
   rotation is the network's or the one that aligns the start pose's joints with MediaPipe's 3D landmarks
   (:func:`kabsch`), whichever reprojects better once the translation is solved in closed form onto the 2D
   landmarks (:func:`eanet.inference.placement.solve_translation`).
4. **Fit** (:class:`KeypointFitter`): L-BFGS-B (a bounded number of iterations) over each hand's 45 finger angles
   (flexion, abduction, twist per joint in the anatomical frames of :mod:`eanet.hand_model.poses`, bounded by the
   range of motion :data:`~eanet.hand_model.poses.JOINT_LIMITS_DEG`), global rotation, translation and betas
   (bounded by +-3), both hands together, minimising

   * the 2D reprojection of the 21 joints onto the landmarks with the image's camera, in units of the hand's size
     in the image, through a pseudo-Huber function: quadratic for small residuals, linear for large ones, so a
     landmark on the wrong finger pulls with a bounded force (robust like SMPLify's Geman-McClure term, Bogo et al.
     ECCV 2016, but never flat: with a bounded loss a hand pushed away by one large step stayed there);
   * MediaPipe's 3D bone directions (``1 - cos`` per bone, scale-free since MediaPipe's 3D scale is a guess): which
     way each finger bends towards or away from the camera, which 2D alone cannot tell;
   * a pose prior: squared distance of the finger angles to the start's;
   * a shape prior: squared betas;
   * interpenetration: sampled vertices of each hand inside spheres along the other hand's bones
     (:func:`bone_spheres`, sized on the hand model's rest mesh so touching skin costs nothing).

The hands are skinned on the few hundred vertices the joints and the collision test need (:class:`PartialSkin`:
the arithmetic of :class:`~eanet.hand_model.layer.HandModelLayer`, both hands in one batched pass). The fitted
parameters go through the full hand-model layer once at the end, so ``HandModelLayer(root_pose_aa, hand_pose_aa,
betas, transl=transl)`` reproduces the reported meshes.

What is reported (:class:`FitReport`, ``prediction.json`` ``fit``): per hand whether it was fitted, the mean 2D
distance between its 21 projected joints and the landmarks before and after (pixels), iterations and warnings.
Bad input (no hand, one hand, MediaPipe missing) leaves the unfitted hands, with a warning, instead of failing.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from eanet.geometry import axis_angle_to_rotmat, project_weak_perspective, rotmat_to_rot6d
from eanet.hand_model.lbs import skin_vertices
from eanet.hand_model.poses import JOINT_LIMITS_DEG, joint_frames, mirror_pose, pose_to_angles
from eanet.hand_model.skeleton import BONES_21, HANDS, MEDIAPIPE_TO_JOINTS_21, NUM_JOINTS
from eanet.inference.config import FitConfig
from eanet.inference.detect import HandDetection
from eanet.inference.placement import project, solve_translation
from eanet.inference.reliability import LOW_CONFIDENCE, low_confidence_after_fit, warning_code
from eanet.structures import HandPrediction, TwoHandPrediction, tensor_fields_map

__all__ = [
    "HandKeypoints",
    "HandStart",
    "HandFitReport",
    "FitReport",
    "PartialSkin",
    "KeypointFitter",
    "assign_hands",
    "chirality_from_world",
    "keypoints_from_detections",
    "label_evidence",
    "BoneSpheres",
    "bone_spheres",
    "sphere_penetration",
    "mean_keypoint_distance_px",
    "MeanHandNetwork",
]

logger = logging.getLogger(__name__)

#: Mirror across the x = 0 plane: the left hand model is the right one's mirror image (open hand exactly, MANO
#: nearly), so a left-hand local rotation is ``M R M`` of the right-hand one (:func:`~eanet.hand_model.poses.mirror_pose`).
_MIRROR = np.diag([-1.0, 1.0, 1.0])
#: ``M R M`` entrywise: ``(M R M)_ij = m_i m_j R_ij``.
_MIRROR_SIGNS = np.outer(np.diag(_MIRROR), np.diag(_MIRROR)).tolist()
#: Per-joint weights of the 2D term (wrist-first order): MediaPipe's thumb CMC sits nearer the wrist than the hand
#: models' first thumb joint (skeleton.MEDIAPIPE_TO_JOINT_NAMES), so it pulls half as hard.
_JOINT_WEIGHTS_2D = np.array([1.0, 0.5] + [1.0] * 19)
#: Per-bone weights of the 3D term (BONES_21 order): bones from the wrist are defined differently by MediaPipe (skin
#: landmarks) and the hand models (joint centres); the finger bones are what the term is for.
_BONE_WEIGHTS_3D = np.array([0.5 if parent == 0 else 1.0 for _, parent in BONES_21])
#: Thumb-side test: a palmar offset of the finger joints of this fraction of the palm length counts as certain.
_CHIRALITY_SCALE = 0.1
#: Network matching decides handedness when one assignment costs less than this fraction of the other, and only for
#: a network whose confidence is at least this for both hands.
_MATCH_RATIO = 0.5
_NETWORK_MATCH_CONFIDENCE = 0.5
#: Vertices per hand sampled for the interpenetration test.
_COLLISION_VERTICES = 160
#: A bone's sphere radius is this fraction of the 5th percentile of its vertices' distances from it (the skin's
#: nearest side: a palm's thickness, not its width), so the spheres sit inside the skin and touching is free.
_SPHERE_SHRINK = 0.9
#: Penetration depth unit of the interpenetration term (metres): 1 cm deep costs 1 per vertex.
_PENETRATION_UNIT_M = 0.01
#: Betas are kept within this many standard deviations (the open hand's and MANO's units).
_MAX_ABS_BETA = 3.0
#: The objective handed to L-BFGS-B is the loss times this (see KeypointFitter._minimise).
_LOSS_SCALE = 1e4
#: Nearest depth (metres) a fitted joint may take; guards the projection.
_MIN_DEPTH_M = 0.02


# ----------------------------------------------------------------------------------------------------------------
# keypoints and handedness


@dataclass(frozen=True)
class HandKeypoints:
    """One detected hand's keypoints in the wrist-first joint order, and the evidence of which hand it is.

    Attributes:
        index: position in the list of detected hands (best score first).
        uv_px: ``(21, 2)`` image landmarks, original-image pixels.
        world_m: ``(21, 3)`` MediaPipe's 3D landmarks (camera-aligned axes, metres, arbitrary origin), or None.
        labels: MediaPipe's handedness labels as given, one per detector pass that found the hand
            (``mirror:Right`` for the pass on the mirror image, whose labels name the mirrored hand).
        label_evidence: evidence from the labels that this is a right hand (+) or a left hand (-), in ``[-1, 1]``.
        shape_evidence: the same from the 3D landmarks' geometry (:func:`chirality_from_world`), in ``[-1, 1]``.
        score: the best detection score.
    """

    index: int
    uv_px: np.ndarray
    world_m: np.ndarray | None
    labels: tuple[str, ...] = ()
    label_evidence: float = 0.0
    shape_evidence: float = 0.0
    score: float = 1.0

    @property
    def evidence(self) -> float:
        """Total evidence of a right hand (+) or a left hand (-), in ``[-2, 2]``."""
        return self.label_evidence + self.shape_evidence

    @property
    def size_px(self) -> float:
        """The hand's size in the image: the larger side of its landmarks' box (pixels, at least 1)."""
        extent = self.uv_px.max(axis=0) - self.uv_px.min(axis=0)  # (2,)
        return max(float(extent.max()), 1.0)

    @property
    def center_px(self) -> np.ndarray:
        return self.uv_px.mean(axis=0)

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "keypoints_2d": np.round(self.uv_px, 2).tolist(), "labels": list(self.labels),
                "label_evidence": round(self.label_evidence, 3), "shape_evidence": round(self.shape_evidence, 3),
                "score": round(self.score, 3)}  # fmt: skip


def label_evidence(label: str, score: float, mirrored: bool = False) -> float:
    """Evidence in ``[-1, 1]`` that a detection is a right hand (+) or a left hand (-), from MediaPipe's label.

    The label is read as naming the hand in the image it was given. MediaPipe's older ``Hands`` solution documented
    labels for mirrored (selfie) images; the Tasks hand landmarker this project uses (mediapipe 1.2.3) names the
    hand as seen: on example_image1.png the hand whose anatomy is a left hand (back of the hand to the camera,
    thumb on top, fingers pointing left) is labelled ``Left``, the labels swap on the mirror image, and the thumb-side
    test of the 3D landmarks agrees in both. ``mirrored``: the label comes from the pass on the mirror image, so it
    names the other hand. The score (the label's probability, ``>= 0.5``) maps to ``2 * score - 1``.
    """
    strength = float(np.clip(2.0 * score - 1.0, 0.0, 1.0))
    sign = {"right": 1.0, "left": -1.0}.get(label.lower(), 0.0)
    return -sign * strength if mirrored else sign * strength


def chirality_from_world(world_m: np.ndarray) -> float:
    """Evidence in ``[-1, 1]`` that 3D hand landmarks are a right hand (+) or a left hand (-), from their geometry.

    A rigid point set and its mirror image differ only by which way it turns, so the test needs anatomy: with
    ``d`` the direction wrist -> knuckles and ``r`` pinky knuckle -> index knuckle, ``n = d x r`` points out of the
    back of a right hand and out of the palm of a left one (in any right-handed frame). Along ``n``, the thumb sits on
    the palm's side (its base is palmar of the knuckles, and it flexes and opposes towards the palm) and the fingers
    flex towards the palm (their extension past straight is small: JOINT_LIMITS_DEG). The offset used is the mean
    offset of the thumb's four joints plus that of the fingers' PIP, DIP and tips: negative for a right hand,
    positive for a left one. Measured on 600 random plausible poses of the open hand
    (:func:`~eanet.hand_model.poses.sample_hand_pose`): never wrong, evidence above 0.5 for 95% of them; the
    fingers alone were wrong for hyperextended fingers. Fingers and thumb bent backwards by the other hand can
    still fool it.

    Args:
        world_m: ``(21, 3)`` joints in the wrist-first order, a right-handed frame (MediaPipe's world landmarks:
            x right, y down, z away from the camera).

    Returns:
        ``clip(-offset / (0.1 * palm length), -1, 1)``; 0 for degenerate input.
    """
    w = np.asarray(world_m, dtype=np.float64)
    wrist = w[0]
    knuckles = w[[5, 9, 13, 17]]  # index, middle, ring, pinky MCP
    palm_dir = knuckles.mean(axis=0) - wrist
    across = w[5] - w[17]  # pinky MCP -> index MCP
    normal = np.cross(palm_dir, across)
    palm_length = float(np.linalg.norm(palm_dir))
    norm = float(np.linalg.norm(normal))
    if palm_length < 1e-6 or norm < 1e-12:
        return 0.0
    normal /= norm
    center = (wrist + knuckles.sum(axis=0)) / 5.0
    height = (w - center) @ normal  # (21,) signed offset from the palm along n
    offset = float(height[[1, 2, 3, 4]].mean() + height[[6, 7, 8, 10, 11, 12, 14, 15, 16, 18, 19, 20]].mean())
    return float(np.clip(-offset / (_CHIRALITY_SCALE * palm_length), -1.0, 1.0))


def _landmarks(hand: HandDetection) -> tuple[np.ndarray, np.ndarray | None] | None:
    """A detection's ``(21, 2)`` landmarks and ``(21, 3)`` world landmarks in the wrist-first order, or None."""
    if hand.landmarks is None:
        return None
    uv = np.asarray(hand.landmarks, dtype=np.float64)
    if uv.shape != (NUM_JOINTS, 2) or not np.all(np.isfinite(uv)):
        return None
    order = list(MEDIAPIPE_TO_JOINTS_21)
    world = None
    if hand.landmarks_world is not None:
        w = np.asarray(hand.landmarks_world, dtype=np.float64)
        if w.shape == (NUM_JOINTS, 3) and np.all(np.isfinite(w)) and np.ptp(w, axis=0).max() > 1e-6:
            world = w[order]
    return uv[order], world


def keypoints_from_detections(
    found: Sequence[HandDetection], found_mirrored: Sequence[HandDetection] | None = None, width: int | None = None
) -> list[HandKeypoints]:
    """Detected hands as :class:`HandKeypoints`, merging a pass on the mirror image when given.

    MediaPipe is not mirror-symmetric: on example_image2.png it finds one hand (and calls the left hand, seen from
    the palm, a right hand seen from the back) but on the mirror image both, with the right labels. So the fit also
    detects on the mirror image: its landmarks are mapped back (``u -> W - 1 - u``, world ``x -> -x``), a hand found
    in both passes (mean landmark distance under a third of its size) gets the mean of both landmark sets and both
    passes' evidence (averaged), and a hand found in one pass only is kept as found.

    Args:
        found: the detector's hands on the image.
        found_mirrored: its hands on the mirror image (None: not run).
        width: the image width (needed with ``found_mirrored``).

    Returns:
        At most two hands, highest detection score first.
    """
    passes: list[tuple[np.ndarray, np.ndarray | None, str, float, float, float]] = []  # per detection of a pass
    for mirrored, hands in ((False, found), (True, found_mirrored or [])):
        for hand in hands:
            got = _landmarks(hand)
            if got is None:
                continue
            uv, world = got
            if mirrored:
                uv = uv.copy()
                uv[:, 0] = (width - 1) - uv[:, 0]
                world = None if world is None else world * np.array([-1.0, 1.0, 1.0])
            shape = chirality_from_world(world) if world is not None else 0.0
            label = ("mirror:" if mirrored else "") + hand.detector_label
            passes.append((uv, world, label, label_evidence(hand.detector_label, hand.score, mirrored), shape,
                           float(hand.score)))  # fmt: skip
    groups: list[list[int]] = []
    for i, (uv, *_rest) in enumerate(passes):
        for group in groups:
            ref = passes[group[0]][0]
            size = max(float((ref.max(axis=0) - ref.min(axis=0)).max()), 1.0)
            mirrored_pass = passes[group[0]][2].startswith("mirror:") != passes[i][2].startswith("mirror:")
            if mirrored_pass and len(group) == 1 and np.linalg.norm(uv - ref, axis=1).mean() < size / 3.0:
                group.append(i)
                break
        else:
            groups.append([i])
    merged = []
    for group in groups:
        items = [passes[i] for i in group]
        worlds = [w for _, w, *_ in items if w is not None]
        merged.append((
            np.mean([uv for uv, *_ in items], axis=0),
            None if not worlds else np.mean([w - w.mean(axis=0) for w in worlds], axis=0),
            tuple(label for _, _, label, *_ in items),
            float(np.mean([e for *_, e, _, _ in items])),
            float(np.mean([e for *_, e, _ in items])),
            max(score for *_, score in items),
        ))  # fmt: skip
    merged.sort(key=lambda m: -m[5])
    return [HandKeypoints(i, uv, w, labels, le, se, sc) for i, (uv, w, labels, le, se, sc) in enumerate(merged[:2])]


@dataclass
class HandAssignment:
    """Which keypoints go to which hand, and why."""

    hands: dict[str, HandKeypoints]
    rule: str
    warnings: list[str] = field(default_factory=list)


def assign_hands(
    keypoints: Sequence[HandKeypoints], predicted_uv: dict[str, np.ndarray] | None = None
) -> HandAssignment:
    """Decide which detected hand is the right one and which the left (see the module docstring, step 2).

    Args:
        keypoints: one or two detected hands.
        predicted_uv: per side ``(21, 2)`` the network's projected joints (pixels); None without a network.

    Returns:
        :class:`HandAssignment` with ``rule`` ``network`` (matched to the network's joints) or ``labels+3d``.
    """
    keypoints = list(keypoints)[:2]
    warnings: list[str] = []
    for k in keypoints:
        if k.label_evidence * k.shape_evidence < 0 and min(abs(k.label_evidence), abs(k.shape_evidence)) > 0.3:
            warnings.append(
                f"detected hand {k.index}: MediaPipe's label says {'right' if k.label_evidence > 0 else 'left'} hand, "
                f"the thumb side of its 3D landmarks says {'right' if k.shape_evidence > 0 else 'left'}"
            )
    if not keypoints:
        return HandAssignment({}, "none", warnings)

    if predicted_uv is not None:
        def cost(k: HandKeypoints, side: str) -> float:
            return float(np.linalg.norm(predicted_uv[side] - k.uv_px, axis=1).mean()) / k.size_px

        if len(keypoints) == 2:
            a, b = keypoints
            straight = cost(a, "right") + cost(b, "left")
            swapped = cost(a, "left") + cost(b, "right")
            if min(straight, swapped) < _MATCH_RATIO * max(straight, swapped):
                hands = {"right": a, "left": b} if straight <= swapped else {"right": b, "left": a}
                if hands["right"].evidence < hands["left"].evidence and min(abs(a.evidence), abs(b.evidence)) > 0.3:
                    warnings.append("the network's hands and MediaPipe's handedness disagree on which detected hand "
                                    "is the right one; the network's placement was followed")  # fmt: skip
                return HandAssignment(hands, "network", warnings)
        else:
            (a,) = keypoints
            to_right, to_left = cost(a, "right"), cost(a, "left")
            if min(to_right, to_left) < _MATCH_RATIO * max(to_right, to_left):
                return HandAssignment({"right" if to_right <= to_left else "left": a}, "network", warnings)

    if len(keypoints) == 2:
        a, b = keypoints
        if a.evidence == b.evidence:
            warnings.append("the two detected hands look alike to both handedness tests; the better-scored one was "
                            "taken as the right hand")  # fmt: skip
        hands = {"right": a, "left": b} if a.evidence >= b.evidence else {"right": b, "left": a}
        if a.evidence * b.evidence > 0 and min(abs(a.evidence), abs(b.evidence)) > 0.3:
            warnings.append(
                f"both detected hands look like {'right' if a.evidence > 0 else 'left'} hands; the one with more "
                "evidence was taken as the right hand"
            )
        return HandAssignment(hands, "labels+3d", warnings)
    (a,) = keypoints
    if a.evidence == 0:
        warnings.append("nothing tells whether the one detected hand is a right or a left hand; it was fitted as a "
                        "right hand")  # fmt: skip
    return HandAssignment({"right" if a.evidence >= 0 else "left": a}, "labels+3d", warnings)


# ----------------------------------------------------------------------------------------------------------------
# the hand model on a subset of vertices


class PartialSkin:
    """Hand-model layers evaluated together on the vertices their 21 joints need, plus extra vertices.

    Same arithmetic as :class:`~eanet.hand_model.layer.HandModelLayer` (MANO's linear blend skinning, joints
    regressed from the posed mesh plus five fingertip vertices), but the regressor touches a few hundred vertices,
    so skinning only those (and ``extra_vertices``) gives the same joints at a fraction of the cost, and the hands
    are stacked so both run in one batched pass (each with its own template, blend shapes and weights). Float64.

    Args:
        layers: the hand-model layers (e.g. right and left); they must share the vertex count, the number of betas,
            the fingertip vertices and the kinematic tree.
        extra_vertices: ``(E,)`` vertex indices also returned (e.g. for collision tests).
    """

    def __init__(self, layers: Sequence[Any], extra_vertices: np.ndarray) -> None:
        dt = torch.float64
        first = layers[0]
        tips = [int(t) for t in first.tip_vertices]
        for layer in layers[1:]:
            if (layer.num_verts, layer.num_betas, tuple(layer.tip_vertices), layer.chain.parents) != (
                first.num_verts, first.num_betas, tuple(first.tip_vertices), first.chain.parents
            ):
                raise ValueError("PartialSkin needs hand models with the same vertices, betas, tips and joint tree")
        extra = [int(v) for v in np.asarray(extra_vertices).reshape(-1)]
        support: set[int] = set()
        for layer in layers:
            regressor = layer.J_regressor.detach().to("cpu", dt)  # (16, V)
            support |= set(torch.nonzero(regressor.abs().sum(dim=0) > 0).flatten().tolist())
        keep = sorted(support | set(tips) | set(extra))
        slot = {v: i for i, v in enumerate(keep)}
        index = torch.tensor(keep, dtype=torch.long)
        K, V, P = len(keep), int(first.num_verts), int(first.posedirs.shape[0])

        def stack(get) -> Tensor:
            return torch.stack([get(layer).detach().to("cpu", dt) for layer in layers])

        self.num_kept = K
        self.v_template = stack(lambda m: m.v_template[index])  # (L, K, 3)
        self.shapedirs = stack(lambda m: m.shapedirs[index].reshape(K * 3, -1).T)  # (L, S, K*3)
        self.posedirs = stack(lambda m: m.posedirs.view(P, V, 3)[:, index].reshape(P, K * 3))  # (L, P, K*3)
        self.weights = stack(lambda m: m.lbs_weights[index])  # (L, K, 16)
        self.joints_template = stack(lambda m: m.joints_template)  # (L, 16, 3)
        self.joints_shapedirs = stack(lambda m: m.joints_shapedirs.reshape(-1, m.num_betas).T)  # (L, S, 48)
        self.regressor = stack(lambda m: m.J_regressor[:, index])  # (L, 16, K)
        self.tip_slots = torch.tensor([slot[t] for t in tips], dtype=torch.long)  # (5,)
        self.extra_slots = torch.tensor([slot[v] for v in extra], dtype=torch.long)  # (E,)
        self.joints21_order = first.joints21_order.detach().cpu()  # (21,)
        self.chain = first.chain.to("cpu")
        self.eye = torch.eye(3, dtype=dt)

    def root_joint(self, betas: Tensor) -> Tensor:
        """``(H, 3)`` the rest-pose root (wrist) joint for ``(H, S)`` betas: the point a global rotation turns about."""
        return self.joints_template[:, 0] + (betas[:, None] @ self.joints_shapedirs[..., :3])[:, 0]

    def select(self, models: Sequence[int]) -> PartialSkin:
        """The same skin for hands using ``layers[m]`` for each ``m`` in ``models`` (e.g. ``[1]``: the left alone)."""
        out = object.__new__(PartialSkin)
        out.__dict__.update(self.__dict__)
        index = torch.tensor(list(models), dtype=torch.long)
        for name in ("v_template", "shapedirs", "posedirs", "weights", "joints_template", "joints_shapedirs",
                     "regressor"):  # fmt: skip
            setattr(out, name, getattr(self, name)[index])
        return out

    def __call__(self, rotmats: Tensor, betas: Tensor) -> tuple[Tensor, Tensor]:
        """Pose the hands, one per layer (use :meth:`select` for another set of hands).

        Args:
            rotmats: ``(H, 16, 3, 3)`` local rotations (mean pose included), root first.
            betas: ``(H, S)``.

        Returns:
            joints ``(H, 21, 3)`` and extra vertices ``(H, E, 3)``, in each hand model's frame.
        """
        H, J = rotmats.shape[:2]
        K = self.num_kept
        beta_row = betas[:, None]  # (H, 1, S)
        v_shaped = self.v_template + (beta_row @ self.shapedirs).view(H, K, 3)  # (H, K, 3)
        joints_rest = self.joints_template + (beta_row @ self.joints_shapedirs).view(H, J, 3)  # (H, 16, 3)
        pose_feature = (rotmats[:, 1:] - self.eye).reshape(H, 1, -1)  # (H, 1, P) MANO's (R - I) features
        v_posed = v_shaped + (pose_feature @ self.posedirs).view(H, K, 3)  # (H, K, 3)
        rot_world, joints_world = self.chain(rotmats, joints_rest)  # (H, 16, 3, 3), (H, 16, 3)
        verts = skin_vertices(v_posed, self.weights, rot_world, joints_world, joints_rest)  # (H, K, 3)
        joints_mano = self.regressor @ verts  # (H, 16, 3)
        tips = verts.index_select(1, self.tip_slots)  # (H, 5, 3)
        joints = torch.cat([joints_mano, tips], dim=1).index_select(1, self.joints21_order)  # (H, 21, 3)
        return joints, verts.index_select(1, self.extra_slots)


def farthest_point_sample(points: np.ndarray, count: int) -> np.ndarray:
    """``count`` indices of ``(N, 3)`` points spread evenly (greedy farthest-point sampling from point 0)."""
    count = min(count, len(points))
    chosen = [0]
    dist = np.linalg.norm(points - points[0], axis=1)
    for _ in range(count - 1):
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(points - points[nxt], axis=1))
    return np.array(chosen, dtype=np.int64)


def _segment_distances(points: Tensor, starts: Tensor, ends: Tensor) -> Tensor:
    """Distances of ``(N, 3)`` points to ``(C,)`` segments ``starts -> ends`` ``(C, 3)``: ``(N, C)``."""
    seg = ends - starts  # (C, 3)
    length2 = (seg * seg).sum(dim=1).clamp_min(1e-12)  # (C,)
    rel = points[:, None, :] - starts[None]  # (N, C, 3)
    t = ((rel * seg[None]).sum(dim=2) / length2).clamp(0.0, 1.0)  # (N, C)
    nearest = starts[None] + t[..., None] * seg[None]  # (N, C, 3)
    return (points[:, None, :] - nearest).norm(dim=2)  # (N, C)


@dataclass(frozen=True)
class BoneSpheres:
    """Spheres along a hand's bones that stay inside its skin: the volume the other hand must not enter.

    Attributes:
        parent, child: ``(M,)`` joints (wrist-first order) of each sphere's bone.
        position: ``(M,)`` where along the bone its centre sits (0 at the parent joint, 1 at the child).
        radius: ``(M,)`` metres.
    """

    parent: Tensor
    child: Tensor
    position: Tensor
    radius: Tensor

    def centres(self, joints: Tensor) -> Tensor:
        """``(M, 3)`` sphere centres for ``(21, 3)`` joints."""
        start = joints[self.parent]  # (M, 3)
        return start + self.position[:, None] * (joints[self.child] - start)


def bone_spheres(layer: Any) -> BoneSpheres:
    """Spheres along each bone of ``layer``'s hand, measured on its flat rest mesh (average shape).

    Each vertex belongs to its nearest bone; the bone's radius is :data:`_SPHERE_SHRINK` times the 5th percentile of
    its vertices' distances from it (so the spheres sit inside the skin and touching hands cost nothing; on the open
    hand 7-8 mm for finger bones, 11-14 mm for the palm), and the bone gets ``ceil(length / radius)`` spheres of that
    radius evenly spaced along it (neighbours overlap: no gaps).
    """
    with torch.no_grad():
        dt = layer.v_template.dtype
        zeros = torch.zeros(1, 3, dtype=dt, device=layer.v_template.device)
        flat = -layer.hands_mean[None] if not layer.flat_hand_mean else torch.zeros(1, 45, dtype=dt)
        out = layer(zeros, flat, torch.zeros(1, layer.num_betas, dtype=dt))  # the flat rest pose
        verts = out.verts[0].double().cpu()  # (V, 3)
        joints = out.joints[0].double().cpu()  # (21, 3)
    child = [c for c, _ in BONES_21]
    parent = [p for _, p in BONES_21]
    dist = _segment_distances(verts, joints[parent], joints[child]).numpy()  # (V, 20)
    nearest = dist.argmin(axis=1)
    lengths = (joints[child] - joints[parent]).norm(dim=1).numpy()  # (20,)
    rows: list[tuple[int, int, float, float]] = []
    for b, (c, p) in enumerate(BONES_21):
        mine = dist[nearest == b, b]
        if mine.size == 0:
            continue
        radius = _SPHERE_SHRINK * float(np.percentile(mine, 5))
        count = max(1, math.ceil(lengths[b] / max(radius, 1e-4)))
        rows += [(p, c, (i + 0.5) / count, radius) for i in range(count)]
    p_idx, c_idx, position, radius = zip(*rows, strict=True)
    return BoneSpheres(torch.tensor(p_idx), torch.tensor(c_idx), torch.tensor(position, dtype=torch.float64),
                       torch.tensor(radius, dtype=torch.float64))  # fmt: skip


def sphere_penetration(points: Tensor, joints: Tensor, spheres: BoneSpheres) -> Tensor:
    """How deep points lie inside a hand (its :class:`BoneSpheres`): ``(N,)`` metres, 0 outside.

    Args:
        points: ``(N, 3)`` points (e.g. another hand's vertices).
        joints: ``(21, 3)`` the hand's joints (wrist-first order), same frame.
        spheres: the hand's spheres.
    """
    dist = torch.cdist(points, spheres.centres(joints))  # (N, M)
    return (spheres.radius[None] - dist).clamp_min(0.0).max(dim=1).values  # (N,)


# ----------------------------------------------------------------------------------------------------------------
# rotations


def _euler_xyz(angles: Tensor) -> Tensor:
    """``(..., 3)`` angles (a, b, c) -> ``(..., 3, 3)`` = Rx(a) @ Ry(b) @ Rz(c) (scipy's intrinsic "XYZ", as
    :func:`eanet.hand_model.poses.angles_to_pose`)."""
    a, b, c = angles.unbind(-1)
    ca, sa, cb, sb, cc, sc = a.cos(), a.sin(), b.cos(), b.sin(), c.cos(), c.sin()
    row0 = torch.stack([cb * cc, -cb * sc, sb], dim=-1)
    row1 = torch.stack([ca * sc + sa * sb * cc, ca * cc - sa * sb * sc, -sa * cb], dim=-1)
    row2 = torch.stack([sa * sc - ca * sb * cc, sa * cc + ca * sb * sc, ca * cb], dim=-1)
    return torch.stack([row0, row1, row2], dim=-2)  # (..., 3, 3)


def _rotvec(rotmats: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(np.asarray(rotmats, dtype=np.float64).reshape(-1, 3, 3)).as_rotvec()  # (N, 3)


def _rotmat(rotvecs: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_rotvec(np.asarray(rotvecs, dtype=np.float64).reshape(-1, 3)).as_matrix()  # (N, 3, 3)


def kabsch(source: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Rotation ``R`` minimising ``sum w_i |R (s_i - s̄) - (t_i - t̄)|^2`` (weighted Kabsch), ``(3, 3)``."""
    w = np.ones(len(source)) if weights is None else np.asarray(weights, dtype=np.float64)
    sc = source - (w[:, None] * source).sum(0) / w.sum()
    tc = target - (w[:, None] * target).sum(0) / w.sum()
    u, _, vt = np.linalg.svd((w[:, None] * sc).T @ tc)  # (3, 3) cross-covariance
    d = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    return vt.T @ np.diag([1.0, 1.0, d]) @ u.T


def ray_rotation(uv: np.ndarray, focal: Sequence[float], princpt: Sequence[float]) -> np.ndarray:
    """The rotation taking the optical axis to the viewing ray through pixel ``uv``, ``(3, 3)``.

    MediaPipe estimates 3D landmarks from a crop as if looking straight at the hand; off the image centre the camera
    looks at it along that ray, so its 3D landmarks turned by this rotation are in the camera's axes.
    """
    ray = np.array([(uv[0] - princpt[0]) / focal[0], (uv[1] - princpt[1]) / focal[1], 1.0])
    ray /= np.linalg.norm(ray)
    axis = np.cross([0.0, 0.0, 1.0], ray)
    s = float(np.linalg.norm(axis))
    if s < 1e-12:
        return np.eye(3)
    return _rotmat(axis / s * math.atan2(s, float(ray[2])))[0]


# ----------------------------------------------------------------------------------------------------------------
# the fit


@dataclass
class HandStart:
    """Where a hand's fit starts.

    Attributes:
        root_rotmat: ``(3, 3)`` global rotation (camera frame).
        pose_abs: ``(45,)`` absolute finger pose (axis-angle, mean included: a ``flat_hand_mean=True`` pose).
        betas: ``(S,)`` shape.
        source: ``network`` or ``mean pose`` (recorded). The translation is always solved from the keypoints.
    """

    root_rotmat: np.ndarray
    pose_abs: np.ndarray
    betas: np.ndarray
    source: str = "network"


@dataclass
class HandFitReport:
    """How one hand's fit went.

    Attributes:
        fitted: whether the hand was fitted (False: the prediction is the unfitted one).
        detection_index: which of the detection's hands it was fitted to, or None.
        keypoint_dist_px_before: mean 2D distance (pixels) between the unfitted hand's 21 projected joints and the
            landmarks, or None without landmarks. Without a network (the hand model's mean pose), the unfitted hand
            is a placeholder, and this is the mean hand placed on the keypoints (the fit's start) instead.
        keypoint_dist_px_start: the same for the fit's start (start pose with its global rotation and translation
            placed on the keypoints in closed form).
        keypoint_dist_px_after: the same after fitting.
        iterations: optimiser iterations run.
        start: what the fit started from: ``network`` or ``mean pose`` (finger pose and shape), and where its
            global rotation came from: ``network``, ``keypoints`` (aligned to MediaPipe's 3D landmarks) or
            ``placeholder`` (the no-network stand-in's backs-to-the-camera hands).
        warnings: messages for the user.
    """

    fitted: bool = False
    detection_index: int | None = None
    keypoint_dist_px_before: float | None = None
    keypoint_dist_px_start: float | None = None
    keypoint_dist_px_after: float | None = None
    iterations: int = 0
    start: str = ""
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        def px(v: float | None) -> float | None:
            return None if v is None else round(float(v), 3)

        return {"fitted": self.fitted, "detection_index": self.detection_index,
                "keypoint_dist_px_before": px(self.keypoint_dist_px_before),
                "keypoint_dist_px_start": px(self.keypoint_dist_px_start),
                "keypoint_dist_px_after": px(self.keypoint_dist_px_after), "iterations": self.iterations,
                "start": self.start, "warnings": list(self.warnings)}  # fmt: skip


@dataclass
class FitReport:
    """Keypoint fitting of one image (``prediction.json`` ``fit``).

    Attributes:
        method: ``keypoints``.
        status: ``fitted`` (both hands), ``one_hand`` (one hand fitted), ``not_fitted``.
        handedness: how detections were assigned to hands (``network``, ``labels+3d``, ``none``).
        right, left: per-hand reports.
        warnings: image-level messages (also added to the prediction's warnings).
        time_ms: fitting time (detection not included).
        keypoints: the detected hands' keypoints and handedness evidence (``index`` is what
            ``detection_index`` refers to).
        rel_trans_network: ``(3,)`` the network's left-minus-right wrist offset before fitting (metres).
    """

    method: str = "keypoints"
    status: str = "not_fitted"
    handedness: str = "none"
    right: HandFitReport = field(default_factory=HandFitReport)
    left: HandFitReport = field(default_factory=HandFitReport)
    warnings: list[str] = field(default_factory=list)
    time_ms: float = 0.0
    keypoints: list[HandKeypoints] = field(default_factory=list)
    rel_trans_network: np.ndarray | None = None

    def hands(self):
        yield "right", self.right
        yield "left", self.left

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "status": self.status,
            "handedness": self.handedness,
            "detected_hands": [k.to_dict() for k in self.keypoints],
            "hands": {side: report.to_dict() for side, report in self.hands()},
            "warnings": list(self.warnings),
            "time_ms": round(float(self.time_ms), 1),
            "rel_trans_network": None if self.rel_trans_network is None else np.round(self.rel_trans_network, 6).tolist(),
        }

    def summary(self) -> dict[str, Any]:
        """The short form ``summary.json`` and the printed lines give: ``status`` and, per fitted hand, the mean
        keypoint distance in pixels before and after the fit."""
        return {"status": self.status, "keypoint_dist_px": {
            side: {"before": round(float(r.keypoint_dist_px_before), 1), "after": round(float(r.keypoint_dist_px_after), 1)}
            for side, r in self.hands() if r.fitted
        }}  # fmt: skip


def mean_keypoint_distance_px(joints_2d: np.ndarray, keypoints: HandKeypoints) -> float:
    """Mean distance (pixels) between ``(21, 2)`` projected joints and the keypoints (same joint order)."""
    return float(np.linalg.norm(np.asarray(joints_2d) - keypoints.uv_px, axis=1).mean())


@dataclass
class FittedHand:
    """A fitted hand: parameters for the full layer plus diagnostics. Arrays are float64 NumPy."""

    root_pose_aa: np.ndarray  # (3,)
    pose_abs: np.ndarray  # (45,) absolute finger pose
    betas: np.ndarray  # (S,)
    transl: np.ndarray  # (3,)
    start_rotation: str
    iterations: int
    start_dist_px: float


class KeypointFitter:
    """Fits hand-model parameters of one or two hands to their keypoints (see the module docstring).

    Args:
        hand_models: ``{"right": layer, "left": layer}`` (:class:`~eanet.hand_model.layer.HandModelLayer`).
        config: weights and iteration budget.
    """

    def __init__(self, hand_models: dict[str, Any], config: FitConfig | None = None) -> None:
        self.config = config or FitConfig()
        self.layers = hand_models
        rest = hand_models["right"].v_template.detach().double().cpu().numpy()  # (V, 3)
        self.skin = PartialSkin([hand_models[side] for side in HANDS], farthest_point_sample(rest, _COLLISION_VERTICES))
        self.spheres = {side: bone_spheres(hand_models[side]) for side in HANDS}
        dt = torch.float64
        self.frames = torch.from_numpy(joint_frames()).to(dt)  # (15, 3, 3) columns flexion, abduction, twist
        limits = np.deg2rad(JOINT_LIMITS_DEG)  # (15, 3, 2)
        self.limit_lo = torch.from_numpy(limits[..., 0]).to(dt)
        self.limit_hi = torch.from_numpy(limits[..., 1]).to(dt)
        self.joint_weights = torch.from_numpy(_JOINT_WEIGHTS_2D).to(dt)  # (21,)
        self.bone_weights = torch.from_numpy(_BONE_WEIGHTS_3D).to(dt)  # (20,)
        self.bone_child = torch.tensor([c for c, _ in BONES_21], dtype=torch.long)
        self.bone_parent = torch.tensor([p for _, p in BONES_21], dtype=torch.long)

    # ---- pose parameterisation

    def angles_from_pose(self, side: str, pose_abs: np.ndarray) -> np.ndarray:
        """``(45,)`` absolute axis-angle finger pose of ``side`` -> ``(15, 3)`` anatomical angles (radians)."""
        right_pose = pose_abs if side == "right" else mirror_pose(pose_abs)
        return np.deg2rad(pose_to_angles(np.asarray(right_pose, dtype=np.float64)))

    # ---- closed-form start

    def _joints_np(self, side: str, root: np.ndarray, pose_abs: np.ndarray, betas: np.ndarray) -> np.ndarray:
        """``(21, 3)`` joints in the model frame for a root rotation, absolute finger pose and betas."""
        fingers = _rotmat(pose_abs.reshape(15, 3))  # (15, 3, 3)
        rotmats = torch.from_numpy(np.concatenate([root[None], fingers])[None])  # (1, 16, 3, 3)
        with torch.no_grad():
            betas_t = torch.from_numpy(np.asarray(betas, dtype=np.float64))[None]  # (1, S)
            joints, _ = self.skin.select([HANDS.index(side)])(rotmats, betas_t)
        return joints[0].numpy()

    def place(self, side: str, start: HandStart, target: HandKeypoints, camera: Any) -> tuple[np.ndarray, np.ndarray, str]:
        """The start's global rotation and translation: the better of the network's rotation and the Kabsch
        alignment to MediaPipe's 3D landmarks, each with the translation solved onto the 2D landmarks.

        Returns:
            ``(root_rotmat (3, 3), transl (3,), which)`` with ``which`` ``network`` or ``keypoints``.
        """
        candidates = [("network" if start.source == "network" else "placeholder", np.asarray(start.root_rotmat))]
        if target.world_m is not None:
            flat = self._joints_np(side, np.eye(3), start.pose_abs, start.betas)  # (21, 3) root not rotated
            world_cam = target.world_m @ ray_rotation(target.center_px, camera.focal, camera.princpt).T  # (21, 3)
            weights = np.full(NUM_JOINTS, 0.3)
            weights[[0, 1, 5, 9, 13, 17]] = 1.0  # the palm is rigid; the fingers' pose is not known yet
            candidates.append(("keypoints", kabsch(flat, world_cam, weights)))
        best = None
        for name, rot in candidates:
            joints = self._joints_np(side, rot, start.pose_abs, start.betas)  # (21, 3)
            transl = self._solve_transl(joints, target, camera)
            err = mean_keypoint_distance_px(_project(joints + transl, camera), target)
            if best is None or err < best[0]:
                best = (err, rot, transl, name)
        assert best is not None
        return best[1], best[2], best[3]

    @staticmethod
    def _solve_transl(joints: np.ndarray, target: HandKeypoints, camera: Any) -> np.ndarray:
        """Translation putting ``joints`` (model frame, rotated) onto the 2D keypoints (closed form)."""
        fx = float(camera.focal[0])
        spread_m = float(np.sqrt(((joints[:, :2] - joints[:, :2].mean(0)) ** 2).sum(1).mean()))
        spread_px = float(np.sqrt(((target.uv_px - target.uv_px.mean(0)) ** 2).sum(1).mean()))
        depth = fx * spread_m / max(spread_px, 1e-6)  # weak-perspective depth of the hand's centre
        transl = solve_translation(joints, target.uv_px, camera.focal, camera.princpt,
                                   depth_prior=depth - float(joints[:, 2].mean()))  # fmt: skip
        if not np.all(np.isfinite(transl)) or float((joints[:, 2] + transl[2]).min()) <= _MIN_DEPTH_M:
            center = target.center_px
            transl = np.array([(center[0] - camera.princpt[0]) * depth / fx,
                               (center[1] - camera.princpt[1]) * depth / float(camera.focal[1]), depth])  # fmt: skip
            transl -= joints.mean(axis=0)
        return transl

    # ---- the optimisation

    def fit(self, starts: dict[str, HandStart], targets: dict[str, HandKeypoints], camera: Any) -> dict[str, FittedHand]:
        """Fit the hands in ``targets`` (each from ``starts[side]``) together.

        Args:
            starts: per side, the start (only sides in ``targets`` are used).
            targets: per side, the keypoints to fit to.
            camera: the image's camera (``focal``, ``princpt``).

        Returns:
            Per fitted side, the parameters for the full layer.
        """
        threads = torch.get_num_threads()
        # Every tensor here is tiny (a few hundred vertices): intra-op threads only add synchronisation, which on a
        # busy 2-core machine made the hand model's pass 10-50x slower (measured: 2-3 ms vs 30-120 ms).
        torch.set_num_threads(1)
        try:
            return self._fit(starts, targets, camera)
        finally:
            torch.set_num_threads(threads)

    def _fit(self, starts: dict[str, HandStart], targets: dict[str, HandKeypoints], camera: Any) -> dict[str, FittedHand]:
        dt = torch.float64
        sides = [s for s in HANDS if s in targets]
        num_betas = int(self.layers[sides[0]].num_betas) if sides else 0
        x0, uv, size, bones, has_bones, root0, pivot, info = [], [], [], [], [], [], [], []
        for side in sides:
            start, target = starts[side], targets[side]
            rot, transl, which = self.place(side, start, target, camera)
            joints0 = self._joints_np(side, rot, start.pose_abs, start.betas) + transl  # (21, 3) camera frame
            info.append((which, mean_keypoint_distance_px(_project(joints0, camera), target)))
            root0.append(rot)
            pivot.append((joints0 - transl).mean(axis=0))  # the start's joint centroid, hand-model frame
            angles = self.angles_from_pose(side, start.pose_abs).reshape(45)
            x0.append(np.concatenate([angles, np.zeros(3), transl, np.asarray(start.betas, np.float64)]))
            uv.append(target.uv_px)
            size.append(target.size_px)
            if target.world_m is not None:
                world_cam = target.world_m @ ray_rotation(target.center_px, camera.focal, camera.princpt).T  # (21, 3)
                b = world_cam[[c for c, _ in BONES_21]] - world_cam[[p for _, p in BONES_21]]  # (20, 3)
                bones.append(b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-9))
                has_bones.append(1.0)
            else:
                bones.append(np.zeros((len(BONES_21), 3)))
                has_bones.append(0.0)
        problem = _Problem(
            sides=sides,
            x0=torch.tensor(np.stack(x0), dtype=dt),  # (H, 51 + S)
            root0=torch.tensor(np.stack(root0), dtype=dt),  # (H, 3, 3)
            pivot=torch.tensor(np.stack(pivot), dtype=dt),  # (H, 3)
            uv=torch.tensor(np.stack(uv), dtype=dt),  # (H, 21, 2)
            size=torch.tensor(size, dtype=dt),  # (H,)
            bones=torch.tensor(np.stack(bones), dtype=dt),  # (H, 20, 3)
            has_bones=torch.tensor(has_bones, dtype=dt),  # (H,)
            mirror=torch.tensor([[[1.0] * 3] * 3 if s == "right" else _MIRROR_SIGNS for s in sides], dtype=dt)[:, None],
            skin=self.skin.select([HANDS.index(s) for s in sides]),
            focal=torch.tensor(camera.focal, dtype=dt),
            princpt=torch.tensor(camera.princpt, dtype=dt),
        )
        # Each unknown is optimised in units of a typical step (radians, metres, shape units), which is L-BFGS's
        # starting metric: 0.08 rad per finger angle, 0.05 rad of global rotation, 4 mm of translation, 0.05 of a
        # beta (chosen on synthetic hands: about half the joint error of 0.04 / 0.02 rad after 40 iterations).
        unit = torch.tensor([0.08] * 45 + [0.05] * 3 + [0.004] * 3 + [0.05] * num_betas, dtype=dt)
        steps, iterations = self._minimise(problem, unit)
        out = {}
        with torch.no_grad():
            x = problem.x0 + unit * steps
            turn = axis_angle_to_rotmat(x[:, 45:48])  # (H, 3, 3)
            roots = (turn @ problem.root0).numpy()  # (H, 3, 3)
            transl = self._layer_transl(problem, x, turn).numpy()  # (H, 3)
            fingers = self._finger_rotmats(problem, x[:, :45]).numpy()  # (H, 15, 3, 3)
            for h, side in enumerate(sides):
                out[side] = FittedHand(
                    root_pose_aa=_rotvec(roots[h])[0],
                    pose_abs=_rotvec(fingers[h]).reshape(45),
                    betas=x[h, 51:].numpy().copy(),
                    transl=transl[h].copy(),
                    start_rotation=info[h][0],
                    iterations=iterations,
                    start_dist_px=info[h][1],
                )
        return out

    def _minimise(self, problem: _Problem, unit: Tensor) -> tuple[Tensor, int]:
        """L-BFGS-B (scipy) over the steps ``p`` (``x = x0 + unit * p``); the joint angles are bounded by the
        anatomical range of motion and betas by +-3. Loss and gradient come from torch (float64).

        Returns:
            ``(steps (H, 51 + S), iterations)``.
        """
        from scipy.optimize import minimize

        cfg = self.config
        shape = problem.x0.shape
        if cfg.iterations == 0:
            return torch.zeros(shape, dtype=problem.x0.dtype), 0
        x0 = problem.x0.numpy()
        unit_np = unit.numpy()
        lo = np.full(shape, -np.inf)
        hi = np.full(shape, np.inf)
        lo[:, :45] = self.limit_lo.numpy().reshape(45)
        hi[:, :45] = self.limit_hi.numpy().reshape(45)
        lo[:, 51:], hi[:, 51:] = -_MAX_ABS_BETA, _MAX_ABS_BETA
        start = np.clip(x0, lo, hi)  # a network's pose may lie a little outside the ranges
        offset = (start - x0) / unit_np  # (H, 51 + S) steps of the clipped start
        bounds = list(zip(((lo - x0) / unit_np).reshape(-1), ((hi - x0) / unit_np).reshape(-1), strict=True))

        def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
            steps = torch.from_numpy(flat.reshape(shape)).requires_grad_(True)
            # Scaled so typical losses are >> 1: L-BFGS-B's stopping test compares the decrease with max(|f|, 1),
            # which for raw losses (~0.005) stopped fits after one iteration.
            loss = _LOSS_SCALE * self._loss(problem, problem.x0 + unit * steps)
            (grad,) = torch.autograd.grad(loss, [steps])
            return float(loss.detach()), grad.numpy().reshape(-1)

        result = minimize(objective, offset.reshape(-1), jac=True, method="L-BFGS-B", bounds=bounds,
                          options={"maxiter": cfg.iterations, "maxfun": 2 * cfg.iterations, "ftol": cfg.tolerance,
                                   "gtol": 1e-9})  # fmt: skip
        logger.debug("L-BFGS-B: %s (%d iterations, %d evaluations, loss %.6g)", result.message, result.nit,
                     result.nfev, result.fun)  # fmt: skip
        return torch.from_numpy(result.x.reshape(shape)), int(result.nit)

    @staticmethod
    def _layer_transl(problem: _Problem, x: Tensor, turn: Tensor) -> Tensor:
        """The layer's translation ``(H, 3)`` for parameters ``x``.

        The rotation step turns the hand about the start's joint centroid, not about the wrist (where the layer's
        global rotation acts): a tilt then leaves the hand in place instead of swinging the fingers through the
        image, so rotation and translation do not have to move together (better conditioned; measured: the same
        accuracy in half the iterations). With ``J0`` the wrist and ``c`` the pivot, turning by ``T`` about ``c``
        equals the layer's rotation about ``J0`` plus ``t + c - J0 + T (J0 - c)``.
        """
        wrist = problem.skin.root_joint(x[:, 51:])  # (H, 3)
        return x[:, 48:51] + problem.pivot - wrist + (turn @ (wrist - problem.pivot)[..., None])[..., 0]

    def _finger_rotmats(self, problem: _Problem, angles: Tensor) -> Tensor:
        """``(H, 45)`` anatomical angles -> ``(H, 15, 3, 3)`` local rotations of each hand's model."""
        euler = _euler_xyz(angles.view(-1, 15, 3))  # (H, 15, 3, 3)
        local = self.frames @ euler @ self.frames.transpose(-1, -2)  # (H, 15, 3, 3) right hand
        return local * problem.mirror  # left: M R M with M = diag(-1, 1, 1), an entrywise sign pattern

    def _loss(self, problem: _Problem, x: Tensor) -> Tensor:
        """The fit's objective for the parameters ``x`` ``(H, 51 + S)`` of the hands in ``problem``."""
        cfg = self.config
        H = x.shape[0]
        angles = x[:, :45].view(H, 15, 3)  # (H, 15, 3)
        betas = x[:, 51:]  # (H, S)
        turn = axis_angle_to_rotmat(x[:, 45:48])  # (H, 3, 3)
        roots = turn @ problem.root0  # (H, 3, 3)
        transl = self._layer_transl(problem, x, turn)  # (H, 3)
        rotmats = torch.cat([roots[:, None], self._finger_rotmats(problem, x[:, :45])], dim=1)  # (H, 16, 3, 3)
        joints, extra = problem.skin(rotmats, betas)  # (H, 21, 3), (H, E, 3)
        joints_cam = joints + transl[:, None]  # (H, 21, 3)
        # 2D: pseudo-Huber on residuals in units of the hand's size: quadratic below delta, linear above, so a
        # misplaced landmark pulls with a bounded force, yet every landmark still pulls (a bounded loss such as
        # Geman-McClure lets a hand that a large step moved away stay there: its gradient vanishes).
        delta2 = cfg.robust_scale**2
        z = joints_cam[..., 2:].clamp_min(_MIN_DEPTH_M)  # (H, 21, 1)
        uv = joints_cam[..., :2] / z * problem.focal + problem.princpt  # (H, 21, 2)
        r2 = ((uv - problem.uv) ** 2).sum(dim=-1) / problem.size[:, None] ** 2  # (H, 21)
        robust = delta2 * (torch.sqrt(1.0 + r2 / delta2) - 1.0)  # ~ r^2 / 2 for small r
        total = (robust @ self.joint_weights).sum() / self.joint_weights.sum()
        # 3D: bone directions from MediaPipe's world landmarks (scale-free).
        if cfg.weight_bones_3d > 0:
            bone = joints_cam[:, self.bone_child] - joints_cam[:, self.bone_parent]  # (H, 20, 3)
            cos = (bone * problem.bones).sum(dim=-1) / bone.norm(dim=-1).clamp_min(1e-9)  # (H, 20)
            per_hand = ((1.0 - cos) @ self.bone_weights) / self.bone_weights.sum()  # (H,)
            total = total + cfg.weight_bones_3d * (per_hand * problem.has_bones).sum()
        # Pose prior: near the start, inside the anatomical range of motion. Shape prior: small betas.
        angles0 = problem.x0[:, :45].view(H, 15, 3)
        total = total + cfg.weight_pose_prior * ((angles - angles0) ** 2).mean(dim=(1, 2)).sum()
        total = total + cfg.weight_shape_prior * (betas**2).sum()
        if H == 2 and cfg.weight_interpenetration > 0:
            verts_cam = extra + transl[:, None]  # (2, E, 3)
            right, left = problem.sides.index("right"), problem.sides.index("left")
            depth = torch.cat([
                sphere_penetration(verts_cam[right], joints_cam[left], self.spheres["left"]),  # right skin in the left
                sphere_penetration(verts_cam[left], joints_cam[right], self.spheres["right"]),
            ]) / _PENETRATION_UNIT_M  # fmt: skip
            total = total + cfg.weight_interpenetration * (depth**2).mean()
        return total


class _Adam:
    """Adam (Kingma and Ba, ICLR 2015; default betas and epsilon) on one tensor, updated in place.

    Written out because ``torch.optim`` imports ``torch._dynamo`` on first use, which took 2-8 s of CPU on the
    development machine: longer than a whole fit.
    """

    def __init__(self, param: Tensor, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        self.param, self.beta1, self.beta2, self.eps = param, beta1, beta2, eps
        self.m = torch.zeros_like(param)
        self.v = torch.zeros_like(param)
        self.t = 0

    @torch.no_grad()
    def step(self, grad: Tensor, lr: float) -> None:
        self.t += 1
        self.m.mul_(self.beta1).add_(grad, alpha=1.0 - self.beta1)
        self.v.mul_(self.beta2).addcmul_(grad, grad, value=1.0 - self.beta2)
        m_hat = self.m / (1.0 - self.beta1**self.t)
        v_hat = self.v / (1.0 - self.beta2**self.t)
        self.param.sub_(lr * m_hat / (v_hat.sqrt() + self.eps))


@dataclass
class _Problem:
    """The fixed data of one fit, hands stacked (``H`` fitted hands, in :data:`HANDS` order)."""

    sides: list[str]
    x0: Tensor  # (H, 51 + S) start: 45 anatomical angles, 3 root rotation step, 3 translation, S betas
    root0: Tensor  # (H, 3, 3) start global rotation
    pivot: Tensor  # (H, 3) point the rotation step turns the hand about (hand-model frame)
    uv: Tensor  # (H, 21, 2) keypoints, pixels
    size: Tensor  # (H,) hand size in the image, pixels
    bones: Tensor  # (H, 20, 3) MediaPipe's unit bone directions, camera axes
    has_bones: Tensor  # (H,) 1 where MediaPipe's 3D landmarks are available
    mirror: Tensor  # (H, 1, 3, 3) entrywise signs turning a right-hand local rotation into this hand's
    skin: PartialSkin  # the hand models of these hands
    focal: Tensor  # (2,)
    princpt: Tensor  # (2,)


def _project(points: np.ndarray, camera: Any) -> np.ndarray:
    return project(points, camera.focal, camera.princpt)


# ----------------------------------------------------------------------------------------------------------------
# a network stand-in for fitting without a checkpoint


class MeanHandNetwork:
    """What :class:`~eanet.inference.predictor.Predictor` runs when there is no checkpoint (``--fit keypoints``
    alone): the hand model's mean pose and shape for every image, backs of both hands to the camera, fingers up,
    the right hand on the right of the crop. It predicts nothing from the image: its heatmap joints are NaN (so the
    confidence is 0), and only keypoint fitting makes its meshes follow the photo.

    Args:
        hand_models: ``(right, left)`` hand-model layers.
        input_size: ``(H, W)`` crop size (only the placement of unfitted hands depends on it).
    """

    feature_grid = (8, 8)

    def __init__(self, hand_models: tuple[Any, Any], input_size: tuple[int, int] = (256, 256)) -> None:
        self.input_size = input_size
        # Camera-frame orientations (columns: where the model's x, y, z axes go). Right hand (fingers along -x, back
        # +y, thumb +z in its model frame): fingers up (-y_cam), back to the camera (-z_cam), so thumb to -x_cam.
        # The left hand is its mirror image (fingers along +x): fingers up, back to the camera, thumb to +x_cam.
        orient = {
            "right": np.array([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]),
            "left": np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]),
        }
        grid_w, grid_h = self.feature_grid[1], self.feature_grid[0]
        scale = 0.4 * grid_h / 0.18  # a hand (~18 cm) spans 40% of the crop
        wrist_hm = {"right": (0.68 * grid_w, 0.8 * grid_h), "left": (0.32 * grid_w, 0.8 * grid_h)}
        self._hands: dict[str, HandPrediction] = {}
        for side, layer in zip(HANDS, hand_models, strict=True):
            dtype = layer.v_template.dtype
            root_aa = torch.from_numpy(_rotvec(orient[side])).to(dtype)  # (1, 3)
            hand_pose = layer.hands_mean[None].clone() if layer.flat_hand_mean else torch.zeros(1, 45, dtype=dtype)
            betas = torch.zeros(1, layer.num_betas, dtype=dtype)
            with torch.no_grad():
                out = layer(root_aa, hand_pose, betas)
            root_model = out.joints[:, 0]  # (1, 3)
            cam = torch.tensor([[scale, wrist_hm[side][0] - scale * float(root_model[0, 0]),
                                 wrist_hm[side][1] - scale * float(root_model[0, 1])]], dtype=dtype)  # fmt: skip
            rotmat = axis_angle_to_rotmat(torch.cat([root_aa, hand_pose], dim=1).view(1, 16, 3))  # (1, 16, 3, 3)
            self._hands[side] = HandPrediction(
                root_pose_6d=rotmat_to_rot6d(rotmat[:, 0]),
                hand_pose_6d=rotmat_to_rot6d(rotmat[:, 1:]).reshape(1, 90),
                root_pose_aa=root_aa,
                hand_pose_aa=hand_pose,
                pose_rotmat=rotmat,
                betas=betas,
                cam=cam,
                joints_hm=torch.full((1, NUM_JOINTS, 3), float("nan"), dtype=dtype),
                joints_cam=out.joints - root_model[:, None],
                verts_cam=out.verts - root_model[:, None],
                root_model=root_model,
                joints_proj_hm=project_weak_perspective(out.joints, cam),
            )
        gap_m = (wrist_hm["left"][0] - wrist_hm["right"][0]) / scale
        self._rel_trans = torch.tensor([[gap_m, 0.0, 0.0]], dtype=torch.float64)

    def __call__(self, img: Tensor):
        batch = img.shape[0]
        hands = {side: tensor_fields_map(h, lambda t: t.expand(batch, *t.shape[1:])) for side, h in self._hands.items()}
        return TwoHandPrediction(right=hands["right"], left=hands["left"], rel_trans=self._rel_trans.expand(batch, 3))


# ----------------------------------------------------------------------------------------------------------------
# a whole image


def fit_image_prediction(
    prediction: Any,
    keypoints: Sequence[HandKeypoints],
    fitter: KeypointFitter,
    *,
    network: bool,
    hands_mean: dict[str, np.ndarray],
) -> FitReport:
    """Fit both hands of an :class:`~eanet.inference.result.ImagePrediction` to detected keypoints, in place.

    Args:
        prediction: the unfitted prediction (its hands are replaced by the fitted ones).
        keypoints: the detected hands (:func:`keypoints_from_detections`; at most two are used).
        fitter: the fitter for the prediction's hand models.
        network: True when the prediction comes from a network (start from it, match handedness to it); False
            for :class:`MeanHandNetwork` (start from the mean pose placed on the keypoints).
        hands_mean: per side ``(45,)`` the layer's mean pose that ``hand_pose_aa`` is relative to (zeros for
            ``flat_hand_mean``).

    Returns:
        The :class:`FitReport` (also stored as ``prediction.fit``; its warnings are added to the prediction's).
    """
    t0 = time.perf_counter()
    report = FitReport(rel_trans_network=np.asarray(prediction.rel_trans, dtype=np.float64).copy())
    keypoints = list(keypoints)[:2]
    report.keypoints = keypoints
    if not keypoints:
        report.warnings.append("keypoint fitting: MediaPipe found no hand; the meshes are not fitted")
        return _finish(prediction, report, t0)
    # A network's placement says which hand is which only if it is trained enough to agree with itself: an untrained
    # or barely trained one puts its average hands at fixed places (docs/inference.md, "Confidence").
    trusted = network and min(prediction.right.confidence, prediction.left.confidence) >= _NETWORK_MATCH_CONFIDENCE
    predicted_uv = {side: hand.joints_2d for side, hand in prediction.hands()} if trusted else None
    assignment = assign_hands(keypoints, predicted_uv)
    report.handedness = assignment.rule
    report.warnings.extend(f"keypoint fitting: {w}" for w in assignment.warnings)
    starts = {}
    for side, hand in prediction.hands():
        hand_report = report.right if side == "right" else report.left
        target = assignment.hands.get(side)
        if target is None:
            hand_report.warnings.append(
                f"MediaPipe did not find the {side} hand; it is not fitted"
                + (" and keeps the network's offset from the fitted hand" if network else
                   " (without a checkpoint it is the hand model's mean hand beside the fitted one, a placeholder)")
            )  # fmt: skip
            continue
        hand_report.detection_index = target.index
        hand_report.keypoint_dist_px_before = mean_keypoint_distance_px(hand.joints_2d, target)
        betas = np.asarray(hand.betas, np.float64) if network else np.zeros(int(fitter.layers[side].num_betas))
        starts[side] = HandStart(_rotmat(hand.root_pose_aa)[0], np.asarray(hand.hand_pose_aa_flat, np.float64), betas,
                                 source="network" if network else "mean pose")  # fmt: skip
    fitted = fitter.fit(starts, dict(assignment.hands), prediction.camera)
    for side, result in fitted.items():
        _apply(prediction, side, result, fitter.layers[side], hands_mean[side])
        hand_report = report.right if side == "right" else report.left
        hand_report.fitted = True
        hand_report.iterations = result.iterations
        hand_report.start = f"{starts[side].source}, rotation from {result.start_rotation}"
        hand_report.keypoint_dist_px_after = mean_keypoint_distance_px(getattr(prediction, side).joints_2d,
                                                                       assignment.hands[side])  # fmt: skip
        hand_report.keypoint_dist_px_start = result.start_dist_px
        if not network:
            # Without a network the unfitted hand is a placeholder at a default place; the honest "before" is the
            # mean hand placed on the keypoints (the fit's start).
            hand_report.keypoint_dist_px_before = result.start_dist_px
    for _, hand_report in report.hands():
        if not hand_report.fitted:
            report.warnings.extend(f"keypoint fitting: {w}" for w in hand_report.warnings)
    return _finish(prediction, report, t0)


def _finish(prediction: Any, report: FitReport, t0: float) -> FitReport:
    fitted = [side for side, r in report.hands() if r.fitted]
    report.status = "fitted" if len(fitted) == 2 else ("one_hand" if fitted else "not_fitted")
    if len(fitted) == 1:
        # The other hand keeps the offset the network predicted between the wrists (rel_trans, left minus right).
        moved, other = fitted[0], ("left" if fitted[0] == "right" else "right")
        offset = report.rel_trans_network if other == "left" else -report.rel_trans_network
        _shift(prediction, other, getattr(prediction, moved).root_cam + offset - getattr(prediction, other).root_cam)
    prediction.rel_trans = prediction.left.root_cam - prediction.right.root_cam
    report.time_ms = (time.perf_counter() - t0) * 1e3
    prediction.fit = report
    if fitted:
        distances = {side: r.keypoint_dist_px_after for side, r in report.hands() if r.fitted}
        prediction.warnings[:] = [
            low_confidence_after_fit(w, distances) if warning_code(w) == LOW_CONFIDENCE else w
            for w in prediction.warnings
        ]
    prediction.warnings.extend(w for w in report.warnings if w not in prediction.warnings)
    prediction.timings_ms["fit_ms"] = report.time_ms
    return report


def _shift(prediction: Any, side: str, delta: np.ndarray) -> None:
    """Move ``side``'s hand by ``delta`` metres (camera frame)."""
    from dataclasses import replace

    old = getattr(prediction, side)
    joints_cam = old.joints_cam + delta
    placement = {**old.placement, "moved_with_fitted_hand_m": np.round(delta, 6).tolist()}
    setattr(prediction, side, replace(old, transl=old.transl + delta, root_cam=old.root_cam + delta, joints_cam=joints_cam,
                                      verts_cam=old.verts_cam + delta, joints_2d=_project(joints_cam, prediction.camera),
                                      placement=placement))  # fmt: skip


def _apply(prediction: Any, side: str, fitted: FittedHand, layer: Any, hands_mean: np.ndarray) -> None:
    """Replace ``side``'s hand of ``prediction`` by the fitted one (the full layer gives meshes and joints)."""
    from dataclasses import replace

    old = getattr(prediction, side)
    camera = prediction.camera
    dtype = layer.v_template.dtype
    hand_pose = fitted.pose_abs - hands_mean  # (45,) relative to the mean when the layer adds it
    with torch.no_grad():
        out = layer(torch.tensor(fitted.root_pose_aa[None], dtype=dtype), torch.tensor(hand_pose[None], dtype=dtype),
                    torch.tensor(fitted.betas[None], dtype=dtype), transl=torch.tensor(fitted.transl[None], dtype=dtype))  # fmt: skip
    joints_cam = out.joints[0].double().numpy()  # (21, 3)
    verts_cam = out.verts[0].double().numpy()  # (V, 3)
    placement = {"method": "fitted to MediaPipe keypoints (eanet.inference.fit)", "before_fit": old.placement}
    new = replace(
        old,
        root_pose_aa=fitted.root_pose_aa,
        hand_pose_aa=hand_pose,
        hand_pose_aa_flat=fitted.pose_abs,
        pose_rotmat=out.rotmats[0].double().numpy(),
        betas=fitted.betas,
        transl=fitted.transl,
        root_cam=joints_cam[0],
        joints_cam=joints_cam,
        verts_cam=verts_cam,
        joints_2d=_project(joints_cam, camera),
        placement=placement,
    )
    setattr(prediction, side, new)

