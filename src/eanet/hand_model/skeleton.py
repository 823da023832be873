"""Joint names, orders and index maps of the hand skeletons used across the package.

Three 21-joint/16-joint orders meet in this project; every conversion between them goes through the index maps
here, and nowhere else.

* **MANO-16** (the kinematic tree of MANO and of the built-in open hand model): wrist, then index, middle, pinky,
  ring and thumb, three joints each from the knuckle outwards.
* **Wrist-first 21** (``JOINTS_21``): the order the official EANet model predicts and the one its evaluation
  regressor uses (InterWild's "sh" order, identical to IntagHand's): wrist, then thumb, index, middle, ring and
  pinky, each from base (``_1``) to tip (``_4``).
* **InterHand2.6M 21** (``IH26M_JOINTS_21``): the dataset's order, tip first and wrist last, per finger thumb to
  pinky (InterHand2.6M's ``skeleton.txt``).
* **MediaPipe 21** (``MEDIAPIPE_JOINTS_21``): the hand landmarker's order (``HandLandmark`` in MediaPipe's hand
  landmarker documentation): wrist, then thumb CMC, MCP, IP, tip, then index, middle, ring and pinky, each MCP, PIP,
  DIP, tip. Joint by joint it is the wrist-first order (thumb CMC = ``Thumb_1``, finger MCP = ``X_1``, tips =
  ``X_4``), so ``MEDIAPIPE_TO_JOINTS_21`` is the identity; it is still written out name by name
  (``MEDIAPIPE_TO_JOINT_NAMES``) so the correspondence is stated once and tested.

Two-hand arrays stack the right hand first (indices 0-20) and the left hand second (21-41), in both orders.
"""

from __future__ import annotations

__all__ = [
    "NUM_MANO_JOINTS",
    "NUM_JOINTS",
    "NUM_BETAS",
    "NUM_HAND_POSE",
    "MANO_NUM_VERTS",
    "MANO_JOINTS_16",
    "MANO_PARENTS",
    "JOINTS_21",
    "IH26M_JOINTS_21",
    "MANO16_TIPS_TO_JOINTS_21",
    "JOINTS_21_TO_IH26M",
    "IH26M_TO_JOINTS_21",
    "MEDIAPIPE_JOINTS_21",
    "MEDIAPIPE_TO_JOINT_NAMES",
    "MEDIAPIPE_TO_JOINTS_21",
    "MEDIAPIPE_TO_IH26M",
    "WRIST",
    "MIDDLE_MCP",
    "IH26M_WRIST",
    "FINGERS",
    "BONES_21",
    "MANO_TIP_VERTICES_TRAIN",
    "MANO_TIP_VERTICES_EVAL",
    "HANDS",
]

#: Hands in the order every two-hand array stacks them.
HANDS: tuple[str, str] = ("right", "left")

NUM_MANO_JOINTS = 16
NUM_JOINTS = 21
NUM_BETAS = 10
#: Finger pose: 15 joints x 3 axis-angle numbers.
NUM_HAND_POSE = 45
MANO_NUM_VERTS = 778

FINGERS: tuple[str, ...] = ("Thumb", "Index", "Middle", "Ring", "Pinky")

MANO_JOINTS_16: tuple[str, ...] = (
    "Wrist",
    "Index_1", "Index_2", "Index_3",
    "Middle_1", "Middle_2", "Middle_3",
    "Pinky_1", "Pinky_2", "Pinky_3",
    "Ring_1", "Ring_2", "Ring_3",
    "Thumb_1", "Thumb_2", "Thumb_3",
)  # fmt: skip

#: Parent of each MANO-16 joint (-1 for the root).
MANO_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)

JOINTS_21: tuple[str, ...] = ("Wrist",) + tuple(f"{f}_{i}" for f in FINGERS for i in range(1, 5))

IH26M_JOINTS_21: tuple[str, ...] = tuple(f"{f}_{i}" for f in FINGERS for i in range(4, 0, -1)) + ("Wrist",)

#: ``joints_21 = cat([mano16, tips(thumb, index, middle, ring, pinky)])[:, MANO16_TIPS_TO_JOINTS_21]``.
#: Indices 16-20 are the five fingertip vertices in the order thumb, index, middle, ring, pinky.
MANO16_TIPS_TO_JOINTS_21: tuple[int, ...] = (0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20)

#: ``joints_ih26m = joints_21[:, JOINTS_21_TO_IH26M]``.
JOINTS_21_TO_IH26M: tuple[int, ...] = tuple(JOINTS_21.index(name) for name in IH26M_JOINTS_21)

#: ``joints_21 = joints_ih26m[:, IH26M_TO_JOINTS_21]``.
IH26M_TO_JOINTS_21: tuple[int, ...] = tuple(IH26M_JOINTS_21.index(name) for name in JOINTS_21)

#: MediaPipe hand-landmarker landmark names, in its output order (``mediapipe.tasks.python.vision.HandLandmark``).
MEDIAPIPE_JOINTS_21: tuple[str, ...] = (
    "WRIST",
    "THUMB_CMC", "THUMB_MCP", "THUMB_IP", "THUMB_TIP",
    "INDEX_FINGER_MCP", "INDEX_FINGER_PIP", "INDEX_FINGER_DIP", "INDEX_FINGER_TIP",
    "MIDDLE_FINGER_MCP", "MIDDLE_FINGER_PIP", "MIDDLE_FINGER_DIP", "MIDDLE_FINGER_TIP",
    "RING_FINGER_MCP", "RING_FINGER_PIP", "RING_FINGER_DIP", "RING_FINGER_TIP",
    "PINKY_MCP", "PINKY_PIP", "PINKY_DIP", "PINKY_TIP",
)  # fmt: skip

#: Which joint of ours each MediaPipe landmark is (the one explicit table; the index maps below come from it). The
#: anatomical joints agree; their exact positions do not quite (MediaPipe marks the skin over a joint, a hand
#: model's regressor the joint centre; MediaPipe's thumb CMC sits nearer the wrist than MANO's first thumb joint).
MEDIAPIPE_TO_JOINT_NAMES: dict[str, str] = {
    "WRIST": "Wrist",
    "THUMB_CMC": "Thumb_1", "THUMB_MCP": "Thumb_2", "THUMB_IP": "Thumb_3", "THUMB_TIP": "Thumb_4",
    "INDEX_FINGER_MCP": "Index_1", "INDEX_FINGER_PIP": "Index_2", "INDEX_FINGER_DIP": "Index_3",
    "INDEX_FINGER_TIP": "Index_4",
    "MIDDLE_FINGER_MCP": "Middle_1", "MIDDLE_FINGER_PIP": "Middle_2", "MIDDLE_FINGER_DIP": "Middle_3",
    "MIDDLE_FINGER_TIP": "Middle_4",
    "RING_FINGER_MCP": "Ring_1", "RING_FINGER_PIP": "Ring_2", "RING_FINGER_DIP": "Ring_3", "RING_FINGER_TIP": "Ring_4",
    "PINKY_MCP": "Pinky_1", "PINKY_PIP": "Pinky_2", "PINKY_DIP": "Pinky_3", "PINKY_TIP": "Pinky_4",
}  # fmt: skip

#: ``joints_21 = mediapipe[:, MEDIAPIPE_TO_JOINTS_21]`` (MediaPipe landmarks in the wrist-first order).
MEDIAPIPE_TO_JOINTS_21: tuple[int, ...] = tuple(
    MEDIAPIPE_JOINTS_21.index(next(mp for mp, ours in MEDIAPIPE_TO_JOINT_NAMES.items() if ours == name))
    for name in JOINTS_21
)

#: ``joints_ih26m = mediapipe[:, MEDIAPIPE_TO_IH26M]`` (MediaPipe landmarks in InterHand2.6M's order).
MEDIAPIPE_TO_IH26M: tuple[int, ...] = tuple(MEDIAPIPE_TO_JOINTS_21[i] for i in JOINTS_21_TO_IH26M)

#: Root of the wrist-first order (the official model's root).
WRIST = 0
#: Middle-finger knuckle in the wrist-first order (the IntagHand / official-evaluation root).
MIDDLE_MCP = JOINTS_21.index("Middle_1")
#: Wrist in the InterHand2.6M order.
IH26M_WRIST = 20

#: (child, parent) pairs of the wrist-first skeleton, for drawing and bone-length checks.
BONES_21: tuple[tuple[int, int], ...] = tuple(
    (1 + 4 * f + i, 0 if i == 0 else 4 * f + i) for f in range(5) for i in range(4)
)

#: MANO fingertip vertices (thumb, index, middle, ring, pinky) used for training targets and model outputs by the
#: official code (InterWild's and InterHand2.6M's ``J_regressor_mano_ih26m`` choice).
MANO_TIP_VERTICES_TRAIN: tuple[int, ...] = (745, 317, 445, 556, 673)
#: The same, as the official evaluation (IntagHand's ``Jr``) regresses them: the middle tip is vertex 444.
MANO_TIP_VERTICES_EVAL: tuple[int, ...] = (745, 317, 444, 556, 673)

assert JOINTS_21_TO_IH26M == (4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9, 16, 15, 14, 13, 20, 19, 18, 17, 0)
assert IH26M_TO_JOINTS_21 == (20, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 19, 18, 17, 16)
assert tuple(
    (["Wrist", *MANO_JOINTS_16[1:]] + [f"{f}_4" for f in FINGERS])[i] for i in MANO16_TIPS_TO_JOINTS_21
) == JOINTS_21
