"""The built-in open hand model (not MANO): asset integrity, surface, symmetry, skinning, shape space, poses."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from eanet.errors import InvalidInputError, MissingFileError
from eanet.hand_model import HandModelLayer, load_hand_model_data
from eanet.hand_model import open_hand as oh
from eanet.hand_model.poses import (
    FINGER_SPLAY_DEG,
    NAMED_POSES,
    THUMB_AZIMUTH_DEG,
    THUMB_ELEVATION_DEG,
    THUMB_PRONATION_DEG,
    joint_frames,
    mirror_pose,
    relative_to_mean,
    sample_betas,
    sample_hand_pose,
)
from eanet.hand_model.skeleton import JOINTS_21, MANO_JOINTS_16, MANO_PARENTS

REPO_ROOT = Path(__file__).resolve().parents[2]
GENERATOR = REPO_ROOT / "tools" / "build_open_hand.py"
F64 = torch.float64
LONG_FINGERS = ("Index", "Middle", "Ring", "Pinky")
FINGERS = ("Thumb", *LONG_FINGERS)


@pytest.fixture(scope="module")
def right():
    return oh.load_open_hand_data("right")


@pytest.fixture(scope="module")
def left():
    return oh.load_open_hand_data("left")


@pytest.fixture(scope="module")
def right_layer(right):
    return HandModelLayer(right, flat_hand_mean=True, dtype=F64)


@pytest.fixture(scope="module")
def left_layer(left):
    return HandModelLayer(left, flat_hand_mean=True, dtype=F64)


def run(layer, hand_pose=None, betas=None, global_orient=None, batch=1):
    """Pose a layer from NumPy arrays (absolute poses unless the layer uses the mean)."""
    hand_pose = np.zeros((batch, 45)) if hand_pose is None else np.atleast_2d(hand_pose)
    batch = hand_pose.shape[0]
    betas = np.zeros((batch, 10)) if betas is None else np.atleast_2d(betas)
    global_orient = np.zeros((batch, 3)) if global_orient is None else np.atleast_2d(global_orient)
    with torch.no_grad():
        return layer(
            torch.tensor(global_orient, dtype=F64), torch.tensor(hand_pose, dtype=F64), torch.tensor(betas, dtype=F64)
        )


def load_generator():
    """Import tools/build_open_hand.py (its module level needs only NumPy)."""
    spec = importlib.util.spec_from_file_location("build_open_hand", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_open_hand"] = module
    spec.loader.exec_module(module)
    return module


def j21(name: str) -> int:
    return JOINTS_21.index(name)


# ----------------------------------------------------------------------------------------------------------------------
# Asset, naming, format
# ----------------------------------------------------------------------------------------------------------------------


def test_asset_is_small_and_checksum_matches():
    path = oh.asset_path()
    assert path.stat().st_size < 1_000_000
    assert hashlib.sha256(path.read_bytes()).hexdigest() == oh.ASSET_SHA256


def test_named_as_not_mano_with_license(right, left):
    for data in (right, left):
        assert "not MANO" in data.name
        assert data.is_mano is False
        assert "MIT" in data.license and "no MANO data" in data.license
    assert load_hand_model_data("open", "left").name == oh.OPEN_HAND_NAME
    assert right_layer_name(right) == oh.OPEN_HAND_NAME


def right_layer_name(data) -> str:
    return HandModelLayer(data).name


def test_mano_format_shapes(right):
    V = right.num_verts
    assert 1000 <= V <= 2000
    assert right.v_template.shape == (V, 3)
    assert right.shapedirs.shape == (V, 3, 10)
    assert right.posedirs.shape == (V, 3, 135)
    assert right.J_regressor.shape == (16, V)
    assert right.weights.shape == (V, 16)
    assert tuple(right.parents) == MANO_PARENTS
    assert right.hands_mean.shape == (45,)
    assert len(right.tip_vertices) == 5 and right.tip_vertices == right.tip_vertices_eval
    assert len(set(right.tip_vertices)) == 5


def test_regressor_and_weights_are_convex(right):
    for rows in (right.J_regressor, right.weights.T):
        assert (rows >= 0).all()
    np.testing.assert_allclose(right.J_regressor.sum(1), 1.0, atol=1e-6)
    np.testing.assert_allclose(right.weights.sum(1), 1.0, atol=1e-6)
    # Each joint is regressed from a local ring of vertices, so it moves with the surface around it.
    joints = right.J_regressor @ right.v_template
    for j in range(16):
        used = right.J_regressor[j] > 0
        assert np.linalg.norm(right.v_template[used] - joints[j], axis=1).max() < 0.05


def test_regressed_rest_joints_match_the_generator_skeleton(right):
    joints = right.J_regressor @ right.v_template
    np.testing.assert_allclose(joints, right.extras["rest_joints"], atol=3e-4)


def test_checksum_detects_a_damaged_asset(tmp_path, monkeypatch):
    damaged = tmp_path / oh.ASSET_FILENAME
    data = bytearray(oh.asset_path().read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    monkeypatch.setattr(oh, "asset_path", lambda: damaged)
    with pytest.raises(InvalidInputError, match="damaged or was replaced"):
        oh.load_open_hand_data("right")
    monkeypatch.setattr(oh, "asset_path", lambda: tmp_path / "missing.npz")
    with pytest.raises(MissingFileError, match="Reinstall eanet"):
        oh.load_open_hand_data("right")


def test_unknown_side_is_rejected():
    with pytest.raises(InvalidInputError, match="side"):
        oh.load_open_hand_data("middle")  # type: ignore[arg-type]


def test_loaded_arrays_are_independent_copies():
    a = oh.load_open_hand_data("right")
    a.v_template[:] = 0.0
    assert oh.load_open_hand_data("right").v_template.any()


def test_generator_parameters_agree_with_the_package():
    """tools/build_open_hand.py and the runtime package share the names, shape space and joint frames."""
    gen = load_generator()
    spec = gen.HandSpec()
    assert gen.NAME == oh.OPEN_HAND_NAME and gen.LICENSE == oh.OPEN_HAND_LICENSE
    assert gen.SHAPE_COEFFICIENTS == oh.SHAPE_COEFFICIENTS
    for finger, splay in FINGER_SPLAY_DEG.items():
        assert getattr(spec, finger.lower()).splay_deg == splay
    assert spec.thumb.azimuth_deg == THUMB_AZIMUTH_DEG
    assert spec.thumb.elevation_deg == THUMB_ELEVATION_DEG
    assert spec.thumb.pronation_deg == THUMB_PRONATION_DEG


def test_pose_frames_follow_the_rest_bones(right):
    """The twist axis of each joint frame in poses.py runs along the open hand's rest bone (within 1 degree)."""
    rest = right.extras["rest_joints"]
    frames = joint_frames()
    children = {j: c for c, j in enumerate(MANO_PARENTS) if j > 0}
    for j in range(1, 16):
        if j not in children:
            continue
        bone = rest[children[j]] - rest[j]
        cos = bone @ frames[j - 1][:, 2] / np.linalg.norm(bone)
        assert np.degrees(np.arccos(min(cos, 1.0))) < 1.0, MANO_JOINTS_16[j]


# ----------------------------------------------------------------------------------------------------------------------
# Surface
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["right", "left"])
def test_surface_is_closed_oriented_manifold(side):
    data = oh.load_open_hand_data(side)
    mesh = trimesh.Trimesh(data.v_template, data.faces, process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.euler_number == 2  # one closed genus-0 surface
    assert mesh.volume > 0  # counter-clockwise seen from outside
    assert len(np.unique(data.faces)) == data.num_verts  # no stray vertices
    assert (mesh.area_faces > 1e-7).all()
    # Vertex-manifold: around every vertex the opposite edges form one cycle (a single fan).
    links: dict[int, dict[int, int]] = {}
    for a, b, c in data.faces:
        for v, p, q in ((a, b, c), (b, c, a), (c, a, b)):
            links.setdefault(int(v), {})[int(p)] = int(q)
    for v, link in links.items():
        start = next(iter(link))
        cur, steps = link[start], 1
        while cur != start:
            cur, steps = link[cur], steps + 1
            assert steps <= len(link), v
        assert steps == len(link), f"vertex {v} is not manifold"


def test_model_frame_follows_mano_conventions(right):
    """Right hand: fingers along -x, back of the hand +y, thumb on +z, origin at the middle knuckle, ~18 cm long."""
    out = run(HandModelLayer(right, flat_hand_mean=True, dtype=F64))
    joints = out.joints[0].numpy()
    wrist, middle_mcp, middle_tip = joints[j21("Wrist")], joints[j21("Middle_1")], joints[j21("Middle_4")]
    assert np.linalg.norm(middle_mcp) < 0.003
    axis = (middle_tip - wrist) / np.linalg.norm(middle_tip - wrist)
    assert axis[0] < -0.99
    assert 0.16 < np.linalg.norm(middle_tip - wrist) < 0.20
    assert joints[j21("Thumb_4"), 2] > joints[j21("Index_4"), 2] > joints[j21("Pinky_4"), 2]
    # Flexing (positive rotation about +z) moves the fingertips to the palm side (-y), as in MANO.
    fist = run(HandModelLayer(right, flat_hand_mean=True, dtype=F64), NAMED_POSES["fist"]).joints[0].numpy()
    for f in LONG_FINGERS:
        assert fist[j21(f"{f}_4"), 1] < joints[j21(f"{f}_4"), 1] - 0.01


# ----------------------------------------------------------------------------------------------------------------------
# Left = exact mirror of right
# ----------------------------------------------------------------------------------------------------------------------


def test_left_arrays_are_the_exact_mirror(right, left):
    m = np.array([-1.0, 1.0, 1.0])
    assert left.side == "left"
    np.testing.assert_array_equal(left.v_template, right.v_template * m)
    np.testing.assert_array_equal(left.shapedirs, right.shapedirs * m[None, :, None])
    np.testing.assert_array_equal(left.faces, right.faces[:, ::-1])
    np.testing.assert_array_equal(left.J_regressor, right.J_regressor)
    np.testing.assert_array_equal(left.weights, right.weights)
    np.testing.assert_array_equal(left.hands_mean, mirror_pose(right.hands_mean))
    assert left.tip_vertices == right.tip_vertices


@pytest.mark.parametrize("flat_hand_mean", [True, False])
def test_left_output_is_the_mirror_of_right_output(right, left, flat_hand_mean):
    r = HandModelLayer(right, flat_hand_mean=flat_hand_mean, dtype=F64)
    l_ = HandModelLayer(left, flat_hand_mean=flat_hand_mean, dtype=F64)
    rng = np.random.default_rng(3)
    pose = sample_hand_pose(rng, 4).astype(np.float64)
    betas = sample_betas(rng, 4).astype(np.float64)
    orient = rng.normal(0, 0.7, size=(4, 3))
    out_r = run(r, pose, betas, orient)
    out_l = run(l_, mirror_pose(pose), betas, mirror_pose(orient))
    m = torch.tensor([-1.0, 1.0, 1.0], dtype=F64)
    torch.testing.assert_close(out_l.verts, out_r.verts * m, atol=1e-7, rtol=0)
    torch.testing.assert_close(out_l.joints, out_r.joints * m, atol=1e-7, rtol=0)


# ----------------------------------------------------------------------------------------------------------------------
# Rest pose, mean pose, fingertips
# ----------------------------------------------------------------------------------------------------------------------


def test_flat_pose_gives_the_template_plus_shape(right):
    layer = HandModelLayer(right, flat_hand_mean=False, dtype=F64)  # the official setting: poses relative to mean
    betas = sample_betas(np.random.default_rng(0), 2).astype(np.float64)
    out = run(layer, -np.tile(right.hands_mean, (2, 1)), betas)
    expected = right.v_template[None] + np.einsum("vcs,bs->bvc", right.shapedirs, betas)
    np.testing.assert_allclose(out.verts.numpy(), expected, atol=1e-9)
    np.testing.assert_allclose(out.joints_mano.numpy(), np.einsum("jv,bvc->bjc", right.J_regressor, expected), atol=1e-9)


def test_mean_pose_is_the_relaxed_named_pose(right):
    np.testing.assert_allclose(right.hands_mean, NAMED_POSES["relaxed"], atol=1e-6)
    # relative_to_mean turns an absolute pose into what a flat_hand_mean=False layer needs.
    absolute = run(HandModelLayer(right, flat_hand_mean=True, dtype=F64), NAMED_POSES["point"])
    relative = run(
        HandModelLayer(right, flat_hand_mean=False, dtype=F64), relative_to_mean(NAMED_POSES["point"], right.hands_mean)
    )
    torch.testing.assert_close(relative.verts, absolute.verts, atol=1e-6, rtol=0)


def test_tips_are_the_extremal_vertices_of_each_finger(right):
    rest = right.extras["rest_joints"]
    distal = {"Thumb": 15, "Index": 3, "Middle": 6, "Ring": 12, "Pinky": 9}
    for k, finger in enumerate(FINGERS):
        j = distal[finger]
        direction = rest[j] - rest[MANO_PARENTS[j]]
        direction /= np.linalg.norm(direction)
        members = np.flatnonzero(right.weights[:, j] > 0.5)
        tip = right.tip_vertices[k]
        assert tip in members
        reach = (right.v_template[members] - rest[j]) @ direction  # (M,)
        assert reach.max() == (right.v_template[tip] - rest[j]) @ direction
        assert 0.012 < (right.v_template[tip] - rest[j]) @ direction < 0.035


# ----------------------------------------------------------------------------------------------------------------------
# Skinning: clean bends
# ----------------------------------------------------------------------------------------------------------------------


def _edge_lengths(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    return np.linalg.norm(verts[faces] - verts[np.roll(faces, 1, axis=1)], axis=-1)  # (F, 3)


def _volume(verts: np.ndarray, faces: np.ndarray) -> float:
    return float(trimesh.Trimesh(verts, faces, process=False).volume)


@pytest.mark.parametrize("pose", ["fist", "point", "pinch", "spread", "thumbs_up", "victory", "relaxed"])
def test_named_poses_bend_without_collapse(right_layer, right, pose):
    """Volume stays within 7% of the rest volume and no edge collapses to nothing or tears (measured on the 2-core
    dev box: fist -4.2%, worst edge stretch 3.2x in the thumb web of the fist, worst compression 0.08x in the palm
    crease)."""
    verts = run(right_layer, NAMED_POSES[pose]).verts[0].numpy()
    assert abs(_volume(verts, right.faces) / _volume(right.v_template, right.faces) - 1.0) < 0.07
    ratio = _edge_lengths(verts, right.faces) / _edge_lengths(right.v_template, right.faces)
    assert ratio.min() > 0.05 and ratio.max() < 3.5


def test_knuckle_correctives_restore_volume(right):
    """The pose correctives round the back of bent joints: a fist keeps more volume than with plain LBS."""
    rest = _volume(right.v_template, right.faces)
    plain = HandModelLayer(replace(right, posedirs=np.zeros_like(right.posedirs)), flat_hand_mean=True, dtype=F64)
    with_correctives = HandModelLayer(right, flat_hand_mean=True, dtype=F64)
    loss_plain = 1 - _volume(run(plain, NAMED_POSES["fist"]).verts[0].numpy(), right.faces) / rest
    loss = 1 - _volume(run(with_correctives, NAMED_POSES["fist"]).verts[0].numpy(), right.faces) / rest
    assert loss < 0.6 * loss_plain
    # Only the diagonal of each joint's (R - I) carries them: a pure (1 - cos) bulge, zero at rest.
    per_entry = np.abs(right.posedirs).reshape(right.num_verts, 3, 15, 9).max(axis=(0, 1, 2))
    assert per_entry[[1, 2, 3, 5, 6, 7]].max() == 0 and per_entry[[0, 4, 8]].min() > 0


def test_palm_stays_rigid_when_fingers_bend(right_layer, right):
    palm = right.weights[:, 0] == 1.0
    assert palm.sum() > 0.2 * right.num_verts
    verts = run(right_layer, NAMED_POSES["fist"]).verts[0].numpy()
    # Exactly rigid up to the tails of the knuckle correctives (< 0.1 mm).
    np.testing.assert_allclose(verts[palm], right.v_template[palm], atol=1e-4)


def test_fist_brings_fingertips_to_the_palm(right_layer, right):
    palm = right.v_template[right.weights[:, 0] > 0.999]
    flat = run(right_layer).verts[0].numpy()
    fist = run(right_layer, NAMED_POSES["fist"]).verts[0].numpy()
    for k in range(1, 5):  # long fingers
        tip = right.tip_vertices[k]
        assert np.linalg.norm(palm - flat[tip], axis=1).min() > 0.05
        assert np.linalg.norm(palm - fist[tip], axis=1).min() < 0.035


def test_pinch_and_point_poses_do_what_they_say(right_layer):
    pinch = run(right_layer, NAMED_POSES["pinch"]).joints[0].numpy()
    assert np.linalg.norm(pinch[j21("Thumb_4")] - pinch[j21("Index_4")]) < 0.01
    point = run(right_layer, NAMED_POSES["point"]).joints[0].numpy()
    flat = run(right_layer).joints[0].numpy()
    np.testing.assert_allclose(point[j21("Index_4")], flat[j21("Index_4")], atol=1e-9)  # index stays straight
    assert np.linalg.norm(point[j21("Middle_4")] - flat[j21("Middle_4")]) > 0.05


def test_random_poses_never_bend_fingers_backwards(right_layer):
    """With the prior's poses, no long fingertip rises far above its knuckle on the back of the hand."""
    pose = sample_hand_pose(np.random.default_rng(1), 64)
    joints = run(right_layer, pose.astype(np.float64)).joints.numpy()  # (64, 21, 3)
    for f in LONG_FINGERS:
        mcp, tip = joints[:, j21(f"{f}_1")], joints[:, j21(f"{f}_4")]
        length = np.linalg.norm(tip - mcp, axis=1)
        assert ((tip - mcp)[:, 1] < 0.4 * length).all(), f  # y is the back-of-hand normal (root not rotated)


# ----------------------------------------------------------------------------------------------------------------------
# Shape space
# ----------------------------------------------------------------------------------------------------------------------


def _measure(layer, right, betas) -> dict[str, float]:
    out = run(layer, betas=betas)
    joints, verts = out.joints[0].numpy(), out.verts[0].numpy()
    m = {
        "hand_length": np.linalg.norm(joints[j21("Middle_4")] - joints[j21("Wrist")]),
        "palm_width": np.linalg.norm(joints[j21("Index_1")] - joints[j21("Pinky_1")]),
        "palm_length": np.linalg.norm(joints[j21("Middle_1")] - joints[j21("Wrist")]),
    }
    for f in FINGERS:
        m[f"{f}_length"] = sum(
            np.linalg.norm(joints[j21(f"{f}_{i + 1}")] - joints[j21(f"{f}_{i}")]) for i in range(1, 4)
        )
    # Thickness across the middle of the palm: the same template vertices in every shape (fixed topology).
    rest = right.v_template
    mid_palm = (rest[:, 0] > 0.02) & (rest[:, 0] < 0.045) & (np.abs(rest[:, 2]) < 0.01)
    m["thickness"] = np.ptp(verts[mid_palm, 1])
    segment = right.weights[:, 5] > 0.9  # the middle finger's middle phalanx
    axis = joints[j21("Middle_3")] - joints[j21("Middle_2")]
    axis /= np.linalg.norm(axis)
    rel = verts[segment] - joints[j21("Middle_2")]
    m["girth"] = np.linalg.norm(rel - np.outer(rel @ axis, axis), axis=1).mean()
    return m


#: coefficient -> (measurement it must grow by at least this fraction at beta = +2, measurements it must keep).
SHAPE_EXPECTATIONS = {
    "scale": ({"hand_length": 0.08, "palm_width": 0.08, "Index_length": 0.08, "thickness": 0.08}, ()),
    "palm_width": ({"palm_width": 0.06}, ("palm_length", "Middle_length", "Index_length", "girth")),
    "palm_length": ({"palm_length": 0.06}, ("palm_width", "Middle_length", "Index_length", "girth")),
    "thickness": ({"thickness": 0.08}, ("palm_width", "palm_length", "Middle_length")),
    "finger_girth": ({"girth": 0.08}, ("Middle_length", "Index_length", "palm_width", "palm_length")),
    "thumb_length": ({"Thumb_length": 0.08}, ("Index_length", "Middle_length", "Pinky_length", "palm_width")),
    "index_length": ({"Index_length": 0.07}, ("Thumb_length", "Middle_length", "Ring_length", "palm_width")),
    "middle_length": ({"Middle_length": 0.07}, ("Index_length", "Ring_length", "Pinky_length", "palm_width")),
    "ring_length": ({"Ring_length": 0.07}, ("Middle_length", "Pinky_length", "Index_length", "palm_width")),
    "pinky_length": ({"Pinky_length": 0.07}, ("Ring_length", "Middle_length", "Thumb_length", "palm_width")),
}


def test_every_coefficient_is_documented():
    assert [name for name, _ in oh.SHAPE_COEFFICIENTS] == list(SHAPE_EXPECTATIONS)


@pytest.mark.parametrize("index", range(10), ids=[name for name, _ in oh.SHAPE_COEFFICIENTS])
def test_shape_coefficient_does_what_it_claims(right_layer, right, index):
    name = oh.SHAPE_COEFFICIENTS[index][0]
    grows, keeps = SHAPE_EXPECTATIONS[name]
    betas = np.zeros(10)
    base = _measure(right_layer, right, betas)
    betas[index] = 2.0
    plus = _measure(right_layer, right, betas)
    betas[index] = -2.0
    minus = _measure(right_layer, right, betas)
    for key, fraction in grows.items():
        assert plus[key] > base[key] * (1 + fraction), key
        assert minus[key] < base[key] * (1 - fraction), key
    for key in keeps:
        assert abs(plus[key] / base[key] - 1) < 0.012, key
    # Visible: at +-2 some vertex moves by more than 2.5 mm.
    assert np.abs(right.shapedirs[:, :, index] * 2.0).max() > 0.0025


def test_joints_follow_the_shape(right):
    """The regressor reproduces the generator's joint positions for every shape (lengths scale exactly)."""
    layer = HandModelLayer(right, flat_hand_mean=True, dtype=F64)
    base = run(layer).joints[0].numpy()
    betas = np.zeros(10)
    betas[0] = 2.0  # scale: +10% about the middle knuckle
    scaled = run(layer, betas=betas).joints[0].numpy()
    np.testing.assert_allclose(scaled[:16], base[:16] * 1.10, atol=5e-4)


# ----------------------------------------------------------------------------------------------------------------------
# Reproducibility of the shipped asset
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_generator_reproduces_the_shipped_asset(tmp_path):
    """Running tools/build_open_hand.py again writes the shipped file (dev-only packages needed)."""
    pytest.importorskip("skimage")
    pytest.importorskip("gpytoolbox")
    out = tmp_path / "open_hand_right.npz"
    subprocess.run([sys.executable, str(GENERATOR), "--out", str(out)], check=True, capture_output=True, timeout=600)
    if hashlib.sha256(out.read_bytes()).hexdigest() != oh.ASSET_SHA256:
        with np.load(out) as new, np.load(oh.asset_path()) as shipped:
            assert sorted(new.files) == sorted(shipped.files)
            for key in shipped.files:
                np.testing.assert_allclose(new[key], shipped[key], atol=1e-6, err_msg=key)
    shutil.rmtree(tmp_path, ignore_errors=True)
