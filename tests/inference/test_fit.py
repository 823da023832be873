"""Keypoint fitting (``--fit keypoints``, eanet.inference.fit) with a fake MediaPipe: synthetic hands of the built-in
open hand model posed with known parameters and projected by a known camera; no MANO, no MediaPipe needed."""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pytest
import torch
from inference_helpers import FakeNetwork, write_test_image
from scipy.spatial.transform import Rotation

from eanet.hand_model.poses import JOINT_LIMITS_DEG, mirror_pose, pose_to_angles, sample_hand_pose
from eanet.inference.config import FitConfig, InferenceConfig
from eanet.inference.detect import HandDetection, landmarks_box
from eanet.inference.fit import (
    HandKeypoints,
    PartialSkin,
    assign_hands,
    bone_spheres,
    chirality_from_world,
    farthest_point_sample,
    keypoints_from_detections,
    label_evidence,
    ray_rotation,
    sphere_penetration,
)
from eanet.inference.placement import project

WIDTH, HEIGHT, FOCAL = 640, 480, 600.0
PRINCPT = ((WIDTH - 1) / 2.0, (HEIGHT - 1) / 2.0)
#: Backs of the hands to the camera, fingers up (columns: where the model's x, y, z axes go in the camera frame).
FACING = {
    "right": np.array([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]),
    "left": np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]),
}


@pytest.fixture(scope="module")
def open_layers():
    from eanet.hand_model import build_hand_models
    from eanet.hand_model.config import HandModelConfig

    right, left = build_hand_models(HandModelConfig(kind="open"))
    return {"right": right, "left": left}


def pose_hand(layer, side, rng, wrist_offset, tilt=0.35):
    """A random plausible hand in the camera frame: parameters, joints ``(21, 3)``, vertices, as MediaPipe sees it."""
    pose_abs = sample_hand_pose(rng, 1, side=side)[0].astype(np.float64)  # (45,)
    root = Rotation.from_rotvec(rng.normal(0.0, tilt, 3)).as_matrix() @ FACING[side]
    betas = np.clip(rng.normal(0.0, 0.6, 10), -1.2, 1.2)
    transl = np.asarray(wrist_offset, dtype=np.float64)
    with torch.no_grad():
        out = layer(torch.tensor(Rotation.from_matrix(root).as_rotvec()[None], dtype=torch.float32),
                    torch.tensor((pose_abs - layer.hands_mean.double().numpy())[None], dtype=torch.float32),
                    torch.tensor(betas[None], dtype=torch.float32), transl=torch.tensor(transl[None], dtype=torch.float32))  # fmt: skip
    joints = out.joints[0].double().numpy()
    uv = project(joints, (FOCAL, FOCAL), PRINCPT)  # (21, 2)
    # MediaPipe's 3D landmarks: metric, centred, seen along the viewing ray (eanet.inference.fit.ray_rotation).
    world = (joints - joints.mean(axis=0)) @ ray_rotation(uv.mean(axis=0), (FOCAL, FOCAL), PRINCPT)
    detection = HandDetection(box=landmarks_box(uv), score=0.95, landmarks=uv, detector_label=side.capitalize(),
                              landmarks_world=world)  # fmt: skip
    return {"pose_abs": pose_abs, "root": root, "betas": betas, "joints": joints, "verts": out.verts[0].double().numpy(),
            "detection": detection}  # fmt: skip


def mirrored(detection: HandDetection, width: int) -> HandDetection:
    """What MediaPipe reports for the same hand on the mirror image (it names the hand as seen there)."""
    uv = detection.landmarks.copy()
    uv[:, 0] = (width - 1) - uv[:, 0]
    label = {"Right": "Left", "Left": "Right"}[detection.detector_label]
    return HandDetection(box=landmarks_box(uv), score=detection.score, landmarks=uv, detector_label=label,
                         landmarks_world=detection.landmarks_world * np.array([-1.0, 1.0, 1.0]))  # fmt: skip


class FakeDetector:
    """A HandDetector that answers with set detections for one image and their mirror images for its mirror."""

    def __init__(self, image, hands, mirror_hands=None):
        self.image = image
        self.hands = list(hands)
        self.mirror_hands = [mirrored(h, image.shape[1]) for h in (self.hands if mirror_hands is None else mirror_hands)]
        self.calls = []

    def detect(self, image):
        if np.array_equal(image, self.image):
            self.calls.append("image")
            return list(self.hands)
        assert np.array_equal(image, self.image[:, ::-1]), "the fit may only look at the image and its mirror image"
        self.calls.append("mirror")
        return list(self.mirror_hands)

    def close(self):
        pass


def make_image():
    rng = np.random.default_rng(3)
    return rng.integers(0, 255, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)


def two_hand_case(layers, seed=0, gap=0.065):
    rng = np.random.default_rng(seed)
    truth = {side: pose_hand(layers[side], side, rng, (x, 0.0, 0.45)) for side, x in (("right", gap), ("left", -gap))}
    return truth


def layout_network(layers):
    """A FakeNetwork whose hands sit where two_hand_case puts them: right on the image's right, backs to the camera."""
    network = FakeNetwork(layers)
    # (s, tx, ty) in heatmap pixels for the two-hand box of two_hand_case: 600 px / 0.45 m over 278 px per heatmap
    # pixel gives s = 4.8; the model origins (middle knuckles) at x = +-0.065 m, y = 0.
    network.cam = {"right": np.array([4.8, 1.42, 1.38]), "left": np.array([4.8, 0.8, 1.38])}
    network.rel_trans = np.array([-0.29, 0.0, 0.0])  # the left wrist (which places the left hand) 29 cm to the left
    network.root_pose = {side: Rotation.from_matrix(FACING[side]).as_rotvec() for side in ("right", "left")}
    return network


def predictor_without_network(detector, **fit):
    from eanet.inference.predictor import Predictor

    config = InferenceConfig(fit=FitConfig(**fit)) if fit else None
    return Predictor.without_network(config=config, detector=detector)


def angle_error_deg(side, pose_a, pose_b):
    """Mean absolute difference of anatomical joint angles (degrees) of two absolute poses of ``side``."""
    def to_right(pose):
        return pose if side == "right" else mirror_pose(pose)

    return float(np.abs(pose_to_angles(to_right(pose_a)) - pose_to_angles(to_right(pose_b))).mean())


# ----------------------------------------------------------------------------------------------------------------
# the fit


def test_fit_without_a_network_recovers_a_known_pose(open_layers):
    truth = two_hand_case(open_layers, seed=0)
    image = make_image()
    detector = FakeDetector(image, [truth["right"]["detection"], truth["left"]["detection"]])
    predictor = predictor_without_network(detector)
    result = predictor.predict(image, cropped=True, intrinsics=FOCAL)

    assert result.fit.status == "fitted" and result.fit.handedness == "labels+3d"
    assert detector.calls == ["image", "mirror"]
    # No checkpoint: the results say so, not "training data unknown", and no confidence warning about mean hands.
    from eanet.inference.reliability import warning_codes

    assert warning_codes(result.warnings) == ["no_network"]
    for side, hand in result.hands():
        report = getattr(result.fit, side)
        assert report.fitted and report.iterations > 0 and not report.warnings
        assert report.keypoint_dist_px_after < 0.25 * report.keypoint_dist_px_before
        assert report.keypoint_dist_px_after < 3.0
        # The hand's shape and pose, up to its size: one image cannot tell a larger hand from a nearer one.
        fitted, joints = hand.joints_cam - hand.joints_cam[0], truth[side]["joints"] - truth[side]["joints"][0]
        scale = float((fitted * joints).sum() / (fitted * fitted).sum())
        rel_error_mm = 1e3 * np.linalg.norm(scale * fitted - joints, axis=1).mean()
        assert rel_error_mm < 8.0, (side, rel_error_mm)
        assert angle_error_deg(side, hand.hand_pose_aa_flat, truth[side]["pose_abs"]) < 5.0
        rotation_error = Rotation.from_matrix(truth[side]["root"]).inv() * Rotation.from_rotvec(hand.root_pose_aa)
        assert np.degrees(rotation_error.magnitude()) < 10.0
        # The fitted pose respects the anatomical range of motion.
        angles = pose_to_angles(hand.hand_pose_aa_flat if side == "right" else mirror_pose(hand.hand_pose_aa_flat))
        assert np.all(angles >= JOINT_LIMITS_DEG[..., 0] - 0.1) and np.all(angles <= JOINT_LIMITS_DEG[..., 1] + 0.1)
    np.testing.assert_allclose(result.rel_trans, result.left.root_cam - result.right.root_cam)


def test_fitted_parameters_reproduce_the_reported_meshes_and_json(open_layers):
    truth = two_hand_case(open_layers, seed=1)
    image = make_image()
    predictor = predictor_without_network(FakeDetector(image, [truth["right"]["detection"], truth["left"]["detection"]]),
                                          iterations=5)  # fmt: skip
    result = predictor.predict(image, cropped=True, intrinsics=FOCAL)
    for side, hand in result.hands():
        layer = open_layers[side]
        with torch.no_grad():
            out = layer(*(torch.tensor(a[None], dtype=torch.float32) for a in (hand.root_pose_aa, hand.hand_pose_aa, hand.betas)),
                        transl=torch.tensor(hand.transl[None], dtype=torch.float32))  # fmt: skip
        np.testing.assert_allclose(out.verts[0].numpy(), hand.verts_cam, atol=2e-5)
        np.testing.assert_allclose(project(hand.joints_cam, (FOCAL, FOCAL), PRINCPT), hand.joints_2d, atol=1e-6)
    data = json.loads(json.dumps(result.to_dict(include_vertices=False)))
    fit = data["fit"]
    assert fit["method"] == "keypoints" and fit["status"] == "fitted" and len(fit["detected_hands"]) == 2
    for side in ("right", "left"):
        hand = fit["hands"][side]
        assert hand["fitted"] and hand["iterations"] <= 5
        assert hand["keypoint_dist_px_after"] < hand["keypoint_dist_px_before"]
    assert data["model"]["checkpoint"] is None and data["confidence"] == 0.0  # no network: nothing to be confident in


def test_fit_refines_a_network_prediction_and_matches_hands_to_it(open_layers):
    from eanet.inference.predictor import Predictor

    truth = two_hand_case(open_layers, seed=2)
    image = make_image()
    detector = FakeDetector(image, [truth["left"]["detection"], truth["right"]["detection"]])
    layers = (open_layers["right"], open_layers["left"])
    predictor = Predictor(layout_network(layers), layers, device="cpu", input_size=(64, 64), feature_grid=(2, 2),
                          detector=detector)  # fmt: skip
    box = landmarks_box(np.concatenate([truth[s]["detection"].landmarks for s in ("right", "left")]))
    before = predictor.predict(image, box, intrinsics=FOCAL, fit="none")
    result = predictor.predict(image, box, intrinsics=FOCAL, fit="keypoints")
    assert before.fit is None and result.fit.status == "fitted" and result.fit.handedness == "network"
    for side, hand in result.hands():
        report = getattr(result.fit, side)
        assert report.start.startswith("network")
        assert report.keypoint_dist_px_after < 0.25 * report.keypoint_dist_px_before
        # The "before" distance is the network's own hand's (what --fit none gives).
        uv = truth[side]["detection"].landmarks
        assert report.keypoint_dist_px_before == pytest.approx(np.linalg.norm(getattr(before, side).joints_2d - uv, axis=1).mean())
        assert np.linalg.norm(hand.joints_2d - uv, axis=1).mean() < 3.0


def test_only_a_confident_network_decides_which_hand_is_which(open_layers):
    """A network that has the hands the wrong way round decides only when it agrees with itself (its confidence);
    the fit then follows it and says MediaPipe disagrees. An unsure one (an untrained network) leaves the decision
    to MediaPipe's labels and 3D landmarks."""
    from eanet.inference.predictor import Predictor

    truth = two_hand_case(open_layers, seed=2, gap=-0.15)  # crossed: the right hand on the image's left
    image = make_image()
    layers = (open_layers["right"], open_layers["left"])
    box = landmarks_box(np.concatenate([truth[s]["detection"].landmarks for s in ("right", "left")]))
    rules = {}
    for hm_offset in (0.0, 0.5):  # 0.5 heatmap pixels between its two heads: confidence ~0
        network = layout_network(layers)  # predicts the right hand on the image's right
        network.hm_offset = hm_offset
        predictor = Predictor(network, layers, device="cpu", input_size=(64, 64), feature_grid=(2, 2),
                              detector=FakeDetector(image, [truth["right"]["detection"], truth["left"]["detection"]]),
                              config=InferenceConfig(fit=FitConfig(iterations=2)))  # fmt: skip
        result = predictor.predict(image, box, intrinsics=FOCAL, fit="keypoints")
        rules[hm_offset] = result.fit.handedness
        right_uv = result.fit.keypoints[result.fit.right.detection_index].uv_px
        swapped = np.allclose(right_uv, truth["left"]["detection"].landmarks)
        assert swapped == (hm_offset == 0.0)
        # The fit says MediaPipe disagrees (its own warnings; the low-confidence warning also speaks of disagreement).
        assert any("disagree" in w for w in result.fit.warnings) == (hm_offset == 0.0)
    assert rules == {0.0: "network", 0.5: "labels+3d"}


# ----------------------------------------------------------------------------------------------------------------
# bad input: the unfitted prediction comes back with a warning


def test_one_hand_found_fits_it_and_keeps_the_other_at_the_networks_offset(open_layers):
    from eanet.inference.predictor import Predictor

    truth = two_hand_case(open_layers, seed=3)
    image = make_image()
    layers = (open_layers["right"], open_layers["left"])
    predictor = Predictor(layout_network(layers), layers, device="cpu", input_size=(64, 64), feature_grid=(2, 2),
                          detector=FakeDetector(image, [truth["left"]["detection"]]))  # fmt: skip
    before = predictor.predict(image, cropped=True, intrinsics=FOCAL, fit="none")
    result = predictor.predict(image, cropped=True, intrinsics=FOCAL, fit="keypoints")
    assert result.fit.status == "one_hand"
    assert result.fit.left.fitted and not result.fit.right.fitted and result.fit.right.keypoint_dist_px_before is None
    assert any("did not find the right hand" in w for w in result.warnings)
    # The unfitted right hand keeps its pose and the network's offset to the fitted left hand.
    np.testing.assert_allclose(result.right.hand_pose_aa, before.right.hand_pose_aa)
    np.testing.assert_allclose(result.rel_trans, before.rel_trans, atol=1e-9)
    np.testing.assert_allclose(result.right.verts_cam - result.right.root_cam, before.right.verts_cam - before.right.root_cam,
                               atol=1e-9)  # fmt: skip


def test_no_hand_found_leaves_the_prediction_unfitted(fake_predictor, image_dir):
    from eanet.inference.inputs import load_image

    image = load_image(image_dir / "a.png")
    fake_predictor._detector = FakeDetector(image, [])
    before = fake_predictor.predict(image, cropped=True, fit="none")
    result = fake_predictor.predict(image, cropped=True, fit="keypoints")
    assert result.fit.status == "not_fitted" and not result.fit.right.fitted and not result.fit.left.fitted
    assert any("found no hand" in w for w in result.warnings)
    for side, hand in result.hands():
        np.testing.assert_allclose(hand.verts_cam, getattr(before, side).verts_cam)


def test_missing_mediapipe_writes_the_unfitted_prediction_with_the_install_command(tmp_path, tiny_checkpoint, image_dir):
    from eanet.cli import main

    out = tmp_path / "out"
    code = main(["predict", str(image_dir / "a.png"), str(image_dir / "b.jpg"), "--checkpoint", str(tiny_checkpoint),
                 "--cropped", "--fit", "keypoints", "--detector-model", str(tmp_path / "absent.task"), "--out", str(out),
                 "--no-render", "--no-meshes", "--no-progress"])  # fmt: skip
    assert code == 0
    for name in ("a", "b"):
        data = json.loads((out / name / "prediction.json").read_text())
        assert data["fit"]["status"] == "not_fitted"
        assert any("pip install 'eanet[detect]'" in w for w in data["warnings"])
        assert data["hands"]["right"]["joints_cam"]  # the network's prediction is there


def test_predict_without_checkpoint_needs_the_fit_and_mediapipe(tmp_path, image_dir, capsys):
    from eanet.cli import main

    image = str(image_dir / "a.png")
    assert main(["predict", image, "--out", str(tmp_path / "o1")]) == 2
    assert "--fit keypoints" in capsys.readouterr().err
    # Without a network only the keypoints say anything: a missing detector stops the command with the install hint.
    assert main(["predict", image, "--fit", "keypoints", "--cropped", "--detector-model", str(tmp_path / "absent.task"),
                 "--out", str(tmp_path / "o2")]) == 2  # fmt: skip
    assert "eanet[detect]" in capsys.readouterr().err


def test_fit_settings_are_checked():
    with pytest.raises(ValueError, match="fit.method"):
        FitConfig(method="landmarks")
    with pytest.raises(ValueError, match="weight_bones_3d"):
        FitConfig(weight_bones_3d=-1.0)
    with pytest.raises(ValueError, match="iterations"):
        FitConfig(iterations=-1)


# ----------------------------------------------------------------------------------------------------------------
# which detection is which hand


def test_label_evidence_reads_labels_as_seen_and_swaps_them_for_the_mirror_pass():
    assert label_evidence("Right", 0.9) == pytest.approx(0.8)
    assert label_evidence("Left", 0.9) == pytest.approx(-0.8)
    assert label_evidence("Right", 0.9, mirrored=True) == pytest.approx(-0.8)
    assert label_evidence("Right", 0.5) == 0.0 and label_evidence("", 0.99) == 0.0


def test_thumb_side_of_3d_landmarks_tells_right_from_left(open_layers):
    rng = np.random.default_rng(7)
    for side, layer in open_layers.items():
        poses = sample_hand_pose(rng, 12, side=side) - layer.hands_mean.numpy()  # (12, 45) relative to the mean
        rotations = Rotation.random(12, random_state=11).as_rotvec()
        with torch.no_grad():
            joints = layer(torch.tensor(rotations, dtype=torch.float32), torch.tensor(poses, dtype=torch.float32),
                           torch.zeros(12, 10)).joints.double().numpy()  # fmt: skip
        evidence = np.array([chirality_from_world(j) for j in joints])
        assert np.all(evidence > 0) if side == "right" else np.all(evidence < 0), (side, evidence)
        # A mirror image flips it.
        assert np.all(np.sign([chirality_from_world(j * np.array([-1.0, 1.0, 1.0])) for j in joints]) == -np.sign(evidence))


def _keypoints(index, x, evidence_label, evidence_shape):
    uv = np.stack([np.full(21, x), np.linspace(100.0, 300.0, 21)], axis=1)
    return HandKeypoints(index, uv, None, (), evidence_label, evidence_shape)


def test_assign_hands_by_evidence_then_by_the_network():
    a, b = _keypoints(0, 100.0, -0.8, -1.0), _keypoints(1, 400.0, 0.6, 1.0)
    by_evidence = assign_hands([a, b])
    assert by_evidence.rule == "labels+3d" and by_evidence.hands == {"right": b, "left": a} and not by_evidence.warnings
    # The network's projected joints decide when one assignment is clearly cheaper: here it puts the right hand at x=100.
    predicted = {"right": a.uv_px + 5.0, "left": b.uv_px - 5.0}
    by_network = assign_hands([a, b], predicted)
    assert by_network.rule == "network" and by_network.hands == {"right": a, "left": b}
    # An undecided network (both hands predicted in the middle) falls back to the evidence.
    middle = {"right": a.uv_px + 150.0, "left": a.uv_px + 150.0}
    assert assign_hands([a, b], middle).hands == {"right": b, "left": a}
    # Contradicting label and 3D shape is reported.
    odd = _keypoints(0, 100.0, 0.8, -1.0)
    assert any("says right hand" in w for w in assign_hands([odd]).warnings)
    assert assign_hands([odd]).hands == {"left": odd}  # the stronger (3D) evidence wins


def test_mirror_pass_merges_with_the_original_and_adds_hands_only_it_found(open_layers):
    rng = np.random.default_rng(5)
    right = pose_hand(open_layers["right"], "right", rng, (0.06, 0.0, 0.45))["detection"]
    left = pose_hand(open_layers["left"], "left", rng, (-0.06, 0.02, 0.45))["detection"]
    wrong_label = dataclasses.replace(right, detector_label="Left", score=0.9)  # MediaPipe mislabels on the image
    merged = keypoints_from_detections([wrong_label], [mirrored(right, WIDTH), mirrored(left, WIDTH)], WIDTH)
    assert len(merged) == 2
    found_twice = next(k for k in merged if len(k.labels) == 2)
    assert found_twice.labels == ("Left", "mirror:Left")
    np.testing.assert_allclose(found_twice.uv_px, right.landmarks, atol=1e-9)  # mapped back exactly
    assert found_twice.label_evidence == pytest.approx(0.0, abs=0.06)  # the two passes disagree: no label evidence
    assert found_twice.shape_evidence > 0.5  # the 3D shape still says right
    only_mirror = next(k for k in merged if len(k.labels) == 1)
    assert only_mirror.labels == ("mirror:Right",) and only_mirror.evidence < 0
    assigned = assign_hands(merged).hands
    np.testing.assert_allclose(assigned["right"].uv_px, right.landmarks, atol=1e-9)
    np.testing.assert_allclose(assigned["left"].uv_px, left.landmarks, atol=1e-9)


# ----------------------------------------------------------------------------------------------------------------
# the pieces: partial skinning and interpenetration


def test_partial_skin_gives_the_layers_joints(open_layers):
    layers = [open_layers["right"], open_layers["left"]]
    extra = farthest_point_sample(layers[0].v_template.double().numpy(), 40)
    skin = PartialSkin(layers, extra)
    assert skin.num_kept < layers[0].num_verts
    rng = np.random.default_rng(0)
    root = torch.tensor(rng.normal(0, 1, (2, 3)))
    pose = torch.tensor(rng.normal(0, 0.4, (2, 45)))
    betas = torch.tensor(rng.normal(0, 1, (2, 10)))
    rotmats, expected_joints, expected_verts = [], [], []
    for h, layer in enumerate(layers):
        out = copy.deepcopy(layer).double()(root[h : h + 1], pose[h : h + 1], betas[h : h + 1])
        rotmats.append(out.rotmats)
        expected_joints.append(out.joints)
        expected_verts.append(out.verts[:, extra])
    joints, verts = skin(torch.cat(rotmats), betas)
    np.testing.assert_allclose(joints.numpy(), torch.cat(expected_joints).numpy(), atol=1e-10)
    np.testing.assert_allclose(verts.numpy(), torch.cat(expected_verts).numpy(), atol=1e-10)
    left_only, _ = skin.select([1])(rotmats[1], betas[1:])
    np.testing.assert_allclose(left_only.numpy(), expected_joints[1].numpy(), atol=1e-10)


def test_bone_spheres_fill_the_hand_but_not_its_skin(open_layers):
    layer = open_layers["right"]
    spheres = bone_spheres(layer)
    with torch.no_grad():
        out = layer(torch.zeros(1, 3), torch.zeros(1, 45), torch.zeros(1, 10))  # the mean hand
    joints, verts = out.joints[0].double(), out.verts[0].double()
    inside = torch.stack([joints[0], joints[[0, 5, 9, 13, 17]].mean(dim=0), 0.5 * (joints[9] + joints[10])])
    assert torch.all(sphere_penetration(inside, joints, spheres) > 0.004)  # 4 mm or more deep
    skin_depth = sphere_penetration(verts, joints, spheres)
    assert float((skin_depth > 1e-4).double().mean()) < 0.05  # touching the skin costs (almost) nothing
    far = joints + torch.tensor([0.0, 0.0, 0.15], dtype=torch.float64)
    assert torch.all(sphere_penetration(far, joints, spheres) == 0)


def test_interpenetration_term_pushes_overlapping_hands_apart(open_layers):
    """Two hands whose keypoints overlap: the fit with the interpenetration term leaves them far less inside each
    other than the same fit without it."""
    right = pose_hand(open_layers["right"], "right", np.random.default_rng(4), (0.0, 0.0, 0.45), tilt=0.1)
    placed = pose_hand(open_layers["left"], "left", np.random.default_rng(5), (0.0, 0.0, 0.45), tilt=0.1)
    # The same left hand moved so that its joints' centroid is the right hand's, 1 cm further away.
    shift = right["joints"].mean(axis=0) - placed["joints"].mean(axis=0) + np.array([0.0, 0.0, 0.01])
    truth = {"right": right, "left": pose_hand(open_layers["left"], "left", np.random.default_rng(5),
                                               np.array([0.0, 0.0, 0.45]) + shift, tilt=0.1)}  # fmt: skip
    image = make_image()
    hands = [truth["right"]["detection"], truth["left"]["detection"]]
    spheres = {side: bone_spheres(open_layers[side]) for side in ("right", "left")}

    def mean_depth_mm(result):
        depth = [sphere_penetration(torch.from_numpy(result.right.verts_cam), torch.from_numpy(result.left.joints_cam), spheres["left"]),
                 sphere_penetration(torch.from_numpy(result.left.verts_cam), torch.from_numpy(result.right.joints_cam), spheres["right"])]  # fmt: skip
        return 1e3 * float(torch.cat(depth).mean())

    depths, dist_px = {}, {}
    for weight in (0.0, FitConfig().weight_interpenetration):
        predictor = predictor_without_network(FakeDetector(image, hands), weight_interpenetration=weight,
                                              mirror_detection=False)  # fmt: skip
        result = predictor.predict(image, cropped=True, intrinsics=FOCAL)
        depths[weight] = mean_depth_mm(result)
        dist_px[weight] = max(result.fit.right.keypoint_dist_px_after, result.fit.left.keypoint_dist_px_after)
    assert depths[0.0] > 0.3  # the keypoints alone leave the hands inside each other
    assert depths[FitConfig().weight_interpenetration] < 0.1 * depths[0.0], depths
    assert max(dist_px.values()) < 3.0  # both still on their keypoints (apart in depth)


def test_fit_uses_the_detection_that_chose_the_crop(open_layers):
    """With detection (no --bbox/--cropped), the fit reuses the crop's detection and adds only the mirror pass."""
    truth = two_hand_case(open_layers, seed=6)
    image = make_image()
    detector = FakeDetector(image, [truth["right"]["detection"], truth["left"]["detection"]])
    predictor = predictor_without_network(detector, iterations=3)
    result = predictor.predict(image, intrinsics=FOCAL)
    assert result.crop.source == "detector" and detector.calls == ["image", "mirror"]
    assert result.fit.status == "fitted"


def test_write_test_image_helper_is_not_symmetric(tmp_path):
    """The fake detector tells the mirror pass by comparing images: the test images must not be mirror-symmetric."""
    rgb = write_test_image(tmp_path / "x.png", 96, 80, seed=1)
    assert not np.array_equal(rgb, rgb[:, ::-1]) and not np.array_equal(make_image(), make_image()[:, ::-1])


# ----------------------------------------------------------------------------------------------------------------
# the other ways in: the web demo and videos


def _png_bytes(image: np.ndarray) -> bytes:
    import cv2

    ok, data = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    assert ok
    return data.tobytes()


def test_web_demo_fits_when_asked_and_reports_the_distances(open_layers):
    from eanet.render import Renderer
    from eanet.web.app import DemoRunner, DemoSettings

    truth = two_hand_case(open_layers, seed=1)
    image = make_image()
    predictor = predictor_without_network(FakeDetector(image, [truth["right"]["detection"], truth["left"]["detection"]]),
                                          iterations=5)  # fmt: skip
    with Renderer("torch") as renderer:
        runner = DemoRunner(predictor, DemoSettings(detection=True, render_max_size=160), renderer=renderer)
        try:
            result = runner.process(_png_bytes(image), "cropped", fit=False)  # no network: fitted anyway
            assert result.ok, result.message
            assert json.loads(result.json_path.read_text())["fit"]["status"] == "fitted"
        finally:
            runner.close()
    assert "Fitted to keypoints" in result.message and "right" in result.message
    assert result.summary["fit"]["right"]["fitted"] and result.summary["fit"]["left"]["iterations"] <= 5
    unavailable = DemoRunner(predictor, DemoSettings(detection=False))
    try:
        refused = unavailable.process(_png_bytes(image), "cropped", fit=True)
    finally:
        unavailable.close()
    assert not refused.ok and "fitting to keypoints" in refused.message


class _EveryFrameDetector:
    """Finds one hand at a fixed place in every frame (and its mirror image in the mirrored frame)."""

    def __init__(self, hand: HandDetection, width: int):
        self.hand, self.width, self.last = hand, width, None
        self.calls = 0

    def detect(self, image):
        self.calls += 1
        if self.last is not None and np.array_equal(image, self.last[:, ::-1]):
            return [mirrored(self.hand, self.width)]
        self.last = image.copy()
        return [self.hand]

    def close(self):
        pass


def test_video_frames_are_fitted_and_smoothed(open_layers, tmp_path):
    from inference_helpers import write_test_video

    from eanet.inference.runner import OutputOptions
    from eanet.inference.smoothing import SmoothingSettings
    from eanet.inference.video import predict_video

    video = write_test_video(tmp_path / "clip.mp4", frames=3, width=WIDTH, height=HEIGHT)
    rng = np.random.default_rng(8)
    hand = pose_hand(open_layers["right"], "right", rng, (0.0, 0.0, 0.45))["detection"]
    detector = _EveryFrameDetector(hand, WIDTH)
    predictor = predictor_without_network(detector, iterations=5)
    options = OutputOptions(bbox=(100.0, 50.0, 400.0, 380.0), renders=False, meshes=False, progress=False,
                            intrinsics=FOCAL)  # fmt: skip
    result = predict_video(predictor, video, tmp_path / "out", options, SmoothingSettings())
    assert result.frame_counts["ok"] == 3 and detector.calls == 6  # each frame and its mirror image
    for frame in sorted((tmp_path / "out" / "frames").glob("frame_*.json")):
        data = json.loads(frame.read_text())
        assert data["fit"]["status"] == "one_hand" and data["fit"]["hands"]["right"]["fitted"]
        assert data["hands"]["right"]["placement"]["smoothed"] is True


def test_real_mediapipe_fit_on_the_example_photo():
    """With MediaPipe and its model file (skipped otherwise): the fit follows the real photo's keypoints and takes
    the hand on the image's left (the person's right hand, facing the camera) as the right hand."""
    from pathlib import Path

    from test_detect import SHARED_IMAGES, _real_model_path

    from eanet.inference.detect import MediaPipeHandDetector
    from eanet.inference.inputs import load_image

    model = _real_model_path()
    path = SHARED_IMAGES / "example_image1.png"
    if not Path(path).is_file():
        pytest.skip("example photo not available")
    image = load_image(path)
    with MediaPipeHandDetector(model) as detector:
        result = predictor_without_network(detector).predict(image)
    assert result.fit.status == "fitted"
    for side in ("right", "left"):
        report = getattr(result.fit, side)
        assert report.keypoint_dist_px_after < 0.6 * report.keypoint_dist_px_before
    assert result.right.joints_2d[0, 0] < result.left.joints_2d[0, 0]  # the right wrist on the image's left


def test_low_confidence_after_a_fit_says_the_network_was_doubtful_and_how_close_the_fit_is(open_layers):
    from eanet.inference.predictor import Predictor
    from eanet.inference.reliability import warning_codes
    from eanet.inference.visualize import picture_warning_lines

    truth = two_hand_case(open_layers, seed=2)
    image = make_image()
    layers = (open_layers["right"], open_layers["left"])
    box = landmarks_box(np.concatenate([truth[s]["detection"].landmarks for s in ("right", "left")]))
    network = layout_network(layers)
    network.hm_offset = 0.5  # its two 2D estimates disagree: confidence ~0
    results = {}
    for name, found in (("fitted", [truth["right"]["detection"], truth["left"]["detection"]]), ("none found", [])):
        predictor = Predictor(network, layers, device="cpu", input_size=(64, 64), feature_grid=(2, 2),
                              detector=FakeDetector(image, found), config=InferenceConfig(fit=FitConfig(iterations=2)))  # fmt: skip
        results[name] = predictor.predict(image, box, intrinsics=FOCAL, fit="keypoints")

    fitted, unfitted = results["fitted"], results["none found"]
    assert fitted.fit.status == "fitted" and unfitted.fit.status == "not_fitted"
    [low] = [w for w in fitted.warnings if warning_codes([w]) == ["low_confidence"]]
    distances = f"right {fitted.fit.right.keypoint_dist_px_after:.1f} px, left {fitted.fit.left.keypoint_dist_px_after:.1f} px"
    assert low.startswith(f"low confidence {fitted.confidence:.2f}") and "network's meshes were probably wrong" in low
    assert f"then fitted to MediaPipe's keypoints (mean distance after the fit: {distances}" in low
    assert "low network confidence, then fitted" in picture_warning_lines(fitted)
    # Nothing was fitted: the warning and the picture say what they said before.
    [low] = [w for w in unfitted.warnings if warning_codes([w]) == ["low_confidence"]]
    assert low.endswith("; the meshes are probably wrong for this image") and "fitted" not in low
    assert "low confidence" in picture_warning_lines(unfitted)


def test_predict_summary_and_printed_line_give_the_fit_distances(open_layers, tmp_path):
    import cv2

    from eanet.inference.inputs import collect_inputs
    from eanet.inference.predictor import Predictor
    from eanet.inference.runner import OutputOptions, predict_inputs

    truth = two_hand_case(open_layers, seed=2)
    image = make_image()
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))  # lossless: the detector sees the same pixels
    layers = (open_layers["right"], open_layers["left"])
    box = landmarks_box(np.concatenate([truth[s]["detection"].landmarks for s in ("right", "left")]))
    predictor = Predictor(layout_network(layers), layers, device="cpu", input_size=(64, 64), feature_grid=(2, 2),
                          detector=FakeDetector(image, [truth["right"]["detection"], truth["left"]["detection"]]),
                          config=InferenceConfig(fit=FitConfig(method="keypoints")))  # fmt: skip
    options = OutputOptions(bbox=tuple(box), intrinsics=FOCAL, meshes=False, renders=False, progress=False)
    run = predict_inputs(predictor, collect_inputs([str(path)]), tmp_path / "out", options)

    [report] = run.reports
    saved = json.loads((tmp_path / "out" / "photo" / "prediction.json").read_text())["fit"]["hands"]
    assert report.fit["status"] == "fitted"
    for side in ("right", "left"):
        distances = report.fit["keypoint_dist_px"][side]
        assert distances["before"] == pytest.approx(saved[side]["keypoint_dist_px_before"], abs=0.05)
        assert distances["after"] == pytest.approx(saved[side]["keypoint_dist_px_after"], abs=0.05)
        assert distances["after"] < distances["before"]
    summary = json.loads(run.summary_path.read_text())
    assert summary["inputs"][0]["fit"] == report.fit
    right, left = report.fit["keypoint_dist_px"]["right"], report.fit["keypoint_dist_px"]["left"]
    assert (f"; fit: right {right['before']:.1f} -> {right['after']:.1f} px, left {left['before']:.1f} -> "
            f"{left['after']:.1f} px)") in run.lines()[0]
