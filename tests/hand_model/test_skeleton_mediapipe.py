"""The MediaPipe landmark order and its map to our joint orders (skeleton.MEDIAPIPE_*)."""

from __future__ import annotations

import numpy as np

from eanet.hand_model.skeleton import (
    IH26M_JOINTS_21,
    JOINTS_21,
    JOINTS_21_TO_IH26M,
    MEDIAPIPE_JOINTS_21,
    MEDIAPIPE_TO_IH26M,
    MEDIAPIPE_TO_JOINT_NAMES,
    MEDIAPIPE_TO_JOINTS_21,
)

#: Landmark indices as MediaPipe's hand-landmarker documentation numbers them (an independent source for the table).
DOCUMENTED_INDEX = {
    "WRIST": 0, "THUMB_CMC": 1, "THUMB_TIP": 4, "INDEX_FINGER_MCP": 5, "INDEX_FINGER_TIP": 8, "MIDDLE_FINGER_MCP": 9,
    "MIDDLE_FINGER_PIP": 10, "RING_FINGER_MCP": 13, "RING_FINGER_DIP": 15, "PINKY_MCP": 17, "PINKY_TIP": 20,
}  # fmt: skip


def test_mediapipe_names_are_in_mediapipes_documented_order():
    assert len(MEDIAPIPE_JOINTS_21) == 21 and len(set(MEDIAPIPE_JOINTS_21)) == 21
    for name, index in DOCUMENTED_INDEX.items():
        assert MEDIAPIPE_JOINTS_21[index] == name


def test_name_table_pairs_each_landmark_with_the_same_anatomical_joint():
    assert sorted(MEDIAPIPE_TO_JOINT_NAMES) == sorted(MEDIAPIPE_JOINTS_21)
    assert sorted(MEDIAPIPE_TO_JOINT_NAMES.values()) == sorted(JOINTS_21)  # a bijection
    segment = {"CMC": 1, "MCP": 1, "PIP": 2, "DIP": 3, "TIP": 4}
    for mp_name, ours in MEDIAPIPE_TO_JOINT_NAMES.items():
        if mp_name == "WRIST":
            assert ours == "Wrist"
            continue
        finger = mp_name.split("_")[0].capitalize()
        part = mp_name.split("_")[-1]
        # The thumb's MCP and IP are its second and third joints (its CMC is the first).
        expected = {"CMC": 1, "MCP": 2, "IP": 3, "TIP": 4}[part] if finger == "Thumb" else segment[part]
        assert ours == f"{finger}_{expected}", mp_name


def test_index_maps_reorder_landmarks_into_our_orders():
    names = np.array(MEDIAPIPE_JOINTS_21)
    ours = [MEDIAPIPE_TO_JOINT_NAMES[n] for n in names[list(MEDIAPIPE_TO_JOINTS_21)]]
    assert tuple(ours) == JOINTS_21
    ih = [MEDIAPIPE_TO_JOINT_NAMES[n] for n in names[list(MEDIAPIPE_TO_IH26M)]]
    assert tuple(ih) == IH26M_JOINTS_21
    # Going through our order gives the same InterHand2.6M order.
    assert MEDIAPIPE_TO_IH26M == tuple(MEDIAPIPE_TO_JOINTS_21[i] for i in JOINTS_21_TO_IH26M)
    assert IH26M_JOINTS_21[-1] == "Wrist" and MEDIAPIPE_TO_IH26M[-1] == DOCUMENTED_INDEX["WRIST"]
    assert MEDIAPIPE_TO_IH26M[0] == DOCUMENTED_INDEX["THUMB_TIP"]  # InterHand2.6M starts with the thumb tip
