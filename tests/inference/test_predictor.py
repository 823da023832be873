"""The Predictor: inputs, batching, placement in the original camera, 2D joints, confidence, errors, checkpoints."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from inference_helpers import write_test_image

from eanet.errors import CheckpointMismatchError
from eanet.inference.inputs import InputError
from eanet.inference.placement import apply_affine
from eanet.inference.reliability import warning_codes
from eanet.inference.result import FailedPrediction, ImagePrediction


def test_paths_arrays_and_pil_images(fake_predictor, image_dir):
    from PIL import Image

    rgb = write_test_image(image_dir / "c.png", 100, 70, seed=3)
    one = fake_predictor.predict(image_dir / "a.png", cropped=True)
    assert isinstance(one, ImagePrediction) and one.image_size == (96, 80) and one.crop.source == "cropped"
    from_array = fake_predictor.predict(rgb, cropped=True)
    from_pil = fake_predictor.predict(Image.fromarray(rgb), cropped=True)
    np.testing.assert_allclose(from_array.right.verts_cam, from_pil.right.verts_cam)
    assert from_array.image_size == (100, 70)


def test_lists_are_batched_in_order(fake_predictor, fake_network, image_dir):
    paths = [image_dir / "a.png", image_dir / "b.jpg", image_dir / "a.png"]
    results = fake_predictor.predict(paths, boxes=[(0, 0, 96, 80), (10.0, 10.0, 50.0, 40.0), (0, 0, 96, 80)])
    assert fake_network.batch_sizes == [2, 1]  # config batch size 2
    assert [r.source for r in results] == [str(p) for p in paths]
    assert results[1].crop.source == "bbox" and results[1].image_size == (120, 90)


def test_hand_model_reproduces_the_placed_meshes(fake_predictor, hand_layers, image_dir):
    result = fake_predictor.predict(image_dir / "b.jpg", boxes=(20.0, 10.0, 70.0, 60.0))
    for (side, hand), layer in zip(result.hands(), hand_layers, strict=True):
        t = lambda a: torch.as_tensor(np.asarray(a)[None], dtype=torch.float32)  # noqa: E731
        out = layer(t(hand.root_pose_aa), t(hand.hand_pose_aa), t(hand.betas), t(hand.transl))
        np.testing.assert_allclose(out.verts[0].numpy(), hand.verts_cam, atol=1e-5, err_msg=side)
        np.testing.assert_allclose(out.joints[0].numpy(), hand.joints_cam, atol=1e-5, err_msg=side)
        np.testing.assert_allclose(hand.root_cam, hand.joints_cam[0], atol=1e-6)
        np.testing.assert_allclose(hand.joints_2d, result.camera.project(hand.joints_cam), atol=1e-3)
        assert hand.verts_cam.shape == (778, 3) and hand.faces.shape[1] == 3 and hand.pose_rotmat.shape == (16, 3, 3)
        # pose_rotmat: the rotations the layer applies (mean pose included)
        np.testing.assert_allclose(hand.pose_rotmat, out.rotmats[0].numpy(), atol=1e-5)
    # the left hand is placed by the predicted relative translation
    np.testing.assert_allclose(result.left.root_cam - result.right.root_cam, result.rel_trans, atol=1e-9)
    # only the model's own warning (built without a training-data record): nothing about the placement
    assert result.right.root_cam[2] > 0 and warning_codes(result.warnings) == ["training_data_unknown"]


def test_heatmap_joints_map_back_to_the_image(fake_predictor, fake_network, image_dir):
    result = fake_predictor.predict(image_dir / "b.jpg", boxes=(20.0, 10.0, 70.0, 60.0))
    stride = 32.0  # 64 px input, 2x2 heatmap
    expected = apply_affine(result.right.joints_hm[:, :2] * stride, result.crop.crop2img)
    np.testing.assert_allclose(result.right.joints_2d_heatmap, expected, atol=1e-6)
    # the crop box maps crop corners to its own corners in the image
    x, y, w, h = result.crop.box
    np.testing.assert_allclose(apply_affine(np.array([[64.0, 64.0]]), result.crop.crop2img), [[x + w, y + h]], atol=1e-3)


def test_perspective_placement_matches_the_weak_perspective_at_long_focal(fake_predictor, image_dir):
    # With a very long focal the perspective camera is nearly orthographic, so the solved translation must
    # reproduce the network's weak-perspective 2D joints almost exactly: this checks the whole chain
    # heatmap px -> crop px -> image px -> 3D translation.
    result = fake_predictor.predict(image_dir / "b.jpg", boxes=(20.0, 10.0, 70.0, 60.0), intrinsics=1e6)
    assert result.right.placement["mean_gap_to_weak_perspective_px"] < 0.01
    # with no heatmap offset the heatmap joints are the weak-perspective ones
    np.testing.assert_allclose(result.right.joints_2d, result.right.joints_2d_heatmap, atol=0.05)
    # at the default field of view the fit stays close (perspective vs weak perspective)
    default = fake_predictor.predict(image_dir / "b.jpg", boxes=(20.0, 10.0, 70.0, 60.0))
    assert default.right.placement["mean_gap_to_weak_perspective_px"] < 0.05 * default.crop.box[2]
    assert "guessed" in default.camera_source


def test_overlay_shows_the_meshes_where_the_2d_joints_are(fake_predictor, image_dir):
    """Render a small tetrahedron at every 3D joint with the prediction's camera (as the overlay does, also
    downscaled); each one's pixels must be centred on the reported 2D joint."""
    from eanet.inference.visualize import render_scale
    from eanet.render import Mesh, Renderer

    write_test_image(image_dir / "big.png", 240, 180, seed=4)
    result = fake_predictor.predict(image_dir / "big.png", boxes=(40.0, 30.0, 150.0, 120.0))
    # A regular tetrahedron seen along its axis: its silhouette's centroid is the projection of its centre.
    tetra = np.array([[0, 0, -1], [0.94, 0, 0.33], [-0.47, 0.82, 0.33], [-0.47, -0.82, 0.33]]) * 0.008
    faces = np.array([[0, 1, 2], [0, 2, 3], [0, 3, 1], [1, 3, 2]])
    meshes, targets = [], []
    for _side, hand in result.hands():
        for j in range(21):  # joints far enough apart in the image not to hide one another
            if all(np.linalg.norm(hand.joints_2d[j] - t) > 18 for t in targets):
                meshes.append(Mesh(hand.joints_cam[j] + tetra, faces))
                targets.append(hand.joints_2d[j])
    targets = np.array(targets)
    assert len(targets) >= 6
    with Renderer("torch") as renderer:
        for max_size in (1600, 120):  # full size, and downscaled as for large inputs
            scale = render_scale(240, 180, max_size)
            camera = result.camera.scaled(scale) if scale < 1 else result.camera
            ids = renderer.render(meshes, camera).mesh_ids
            compared = 0
            for k, target in enumerate(targets):
                ys, xs = np.nonzero(ids == k)
                assert len(xs) >= 3, f"joint {k} is not drawn at max_size {max_size}"
                expected = (target + 0.5) * scale - 0.5
                np.testing.assert_allclose([xs.mean(), ys.mean()], expected, atol=1.0, err_msg=f"joint {k}, {max_size}")
                compared += 1
            assert compared == len(targets)


def test_confidence_follows_the_agreement_of_the_two_2d_estimates(hand_layers, image_dir):
    from inference_helpers import FakeNetwork

    from eanet.inference.config import InferenceConfig
    from eanet.inference.predictor import Predictor

    values = []
    for offset in (0.0, 0.05, 0.2):
        net = FakeNetwork(hand_layers, hm_offset=offset)
        pred = Predictor(net, hand_layers, config=InferenceConfig(confidence_scale=0.05), input_size=(64, 64),
                         feature_grid=(2, 2)).predict(image_dir / "a.png", cropped=True)  # fmt: skip
        agreement = offset * math.sqrt(2) * 32 / 64  # both axes offset, in fractions of the crop
        assert pred.right.agreement == pytest.approx(agreement, abs=1e-6)
        assert pred.right.confidence == pytest.approx(math.exp(-agreement / 0.05), abs=1e-6)
        assert pred.confidence == pytest.approx(min(pred.right.confidence, pred.left.confidence))
        values.append(pred.confidence)
    assert values[0] == pytest.approx(1.0) and values[0] > values[1] > values[2]


def test_unusable_camera_falls_back_and_says_so(fake_predictor, fake_network, image_dir):
    fake_network.cam["right"] = np.array([-3.0, 1.0, 1.0])
    result = fake_predictor.predict(image_dir / "a.png", cropped=True)
    assert any("weak-perspective scale is not positive" in w for w in result.warnings)
    assert result.right.joints_cam[:, 2].min() > 0


def test_bad_inputs_fail_per_item_or_raise(fake_predictor, image_dir, tmp_path):
    truncated = tmp_path / "cut.png"
    truncated.write_bytes((image_dir / "a.png").read_bytes()[:200])
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    items = [image_dir / "a.png", tmp_path / "missing.png", truncated, text, np.zeros((5, 5, 7))]
    results = fake_predictor.predict(items, cropped=True, errors="return")
    assert isinstance(results[0], ImagePrediction)
    assert [type(r) for r in results[1:]] == [FailedPrediction] * 4
    assert "does not exist" in results[1].error and "truncated" in results[2].error
    assert "not an image" in results[3].error and "(H, W, 3)" in results[4].error
    with pytest.raises(InputError, match="truncated"):
        fake_predictor.predict(truncated, cropped=True)
    with pytest.raises(Exception, match="3 images but 1 boxes"):
        fake_predictor.predict(items[:3], boxes=[None])
    with pytest.raises(Exception, match="not both"):
        fake_predictor.predict(items[0], boxes=(0, 0, 5, 5), cropped=True)


def test_huge_images_are_refused_before_decoding(hand_layers, fake_network, image_dir):
    from eanet.inference.config import InferenceConfig
    from eanet.inference.predictor import Predictor

    small_limit = Predictor(fake_network, hand_layers, config=InferenceConfig(max_image_pixels=5000),
                            input_size=(64, 64), feature_grid=(2, 2))  # fmt: skip
    with pytest.raises(InputError, match="megapixels"):
        small_limit.predict(image_dir / "a.png", cropped=True)
    with pytest.raises(InputError, match="megapixels"):
        small_limit.predict(np.zeros((100, 100, 3), np.uint8), cropped=True)


def test_a_model_that_reports_no_heatmap_grid_is_a_clear_error(hand_layers, fake_network):
    from eanet.errors import InvalidInputError
    from eanet.inference.predictor import Predictor

    class NoGrid:  # a callable model with an input size but no feature_grid
        input_size = (64, 64)

        def __call__(self, img):
            return fake_network(img)

    with pytest.raises(InvalidInputError, match=r"pass feature_grid=\(h, w\)"):
        Predictor(NoGrid(), hand_layers, device="cpu")
    predictor = Predictor(NoGrid(), hand_layers, device="cpu", feature_grid=(2, 2))
    assert predictor.stride == (32.0, 32.0)  # crop px per heatmap px, from the grid it was given


def test_checkpoint_round_trip_and_hand_model_mismatch(tiny_checkpoint, image_dir, tmp_path, hand_layers):
    from inference_helpers import tiny_model_config

    from eanet.inference.predictor import Predictor
    from eanet.model import build_model
    from eanet.run_checkpoint import save_checkpoint

    predictor = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    result = predictor.predict(image_dir / "a.png", cropped=True)
    open_verts = predictor.hand_models["right"].num_verts
    assert result.right.verts_cam.shape == (open_verts, 3) and result.hand_model["kind"] == "open"
    assert result.model["checkpoint"] == str(tiny_checkpoint) and np.isfinite(result.right.verts_cam).all()
    with pytest.raises(CheckpointMismatchError, match="not MANO"):
        Predictor.from_checkpoint(tiny_checkpoint, device="cpu", mano_dir=tmp_path)
    # weights trained with another hand model (here: random test data) do not load with the open hand
    cfg = tiny_model_config()
    other = tmp_path / "other_hand.safetensors"
    save_checkpoint(build_model(cfg.model, hand_models=hand_layers), cfg, other)
    with pytest.raises(CheckpointMismatchError, match="different"):
        Predictor.from_checkpoint(other, device="cpu")
