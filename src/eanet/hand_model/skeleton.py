"""Joint names, orders and index maps of the hand skeletons used across the package.

Three 21-joint/16-joint orders meet in this project; every conversion between them goes through the index maps
here, and nowhere else.

* **MANO-16** (the kinematic tree of MANO and of the built-in open hand model): wrist, then index, middle, pinky,
  ring and thumb, three joints each from the knuckle outwards.
* **Wrist-first 21** (``JOINTS_21``): the order the official EANet model predicts and the one its evaluation
  regressor uses (InterWild's "sh" order, identical to IntagHand's): wrist, then thumb, index, middle, ring and
  pinky, each from base (``_1``) to tip (``_4``).
* **InterHand2.6M 21** (``IH26M_JOINTS_21``): the dataset's order, tip first and wrist last, per finger thumb to
  pinky (``interhand_format.md`` §4a).

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
