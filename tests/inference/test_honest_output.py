"""Honest output: every prediction says what its model was trained on (synthetic, unknown, untrained) and when its
confidence is low, in the result object, ``prediction.json``, ``summary.json`` and the printed lines; every picture
names the right and left hand's colours, and a prediction's pictures carry its warnings."""

from __future__ import annotations

import copy
import json
import pickle

import numpy as np
import pytest
from inference_helpers import FakeNetwork, tiny_model_config

from eanet.cli import main
from eanet.inference.config import InferenceConfig
from eanet.inference.predictor import Predictor
from eanet.inference.reliability import PredictionWarning, warning_codes
from eanet.model.provenance import TrainingData

SYNTHETIC = TrainingData("interhand26m", "/data/synth", True, 3, "eanet train")
REAL = TrainingData("interhand26m", "/data/InterHand2.6M", False, 20000, "eanet train")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """The tiny random model saved three times: trained on synthetic data (3 steps), never trained, no record."""
    import torch

    from eanet.model import build_model
    from eanet.run_checkpoint import save_checkpoint

    cfg = tiny_model_config()
    torch.manual_seed(0)
    model = build_model(cfg.model, cfg.hand_model)
    folder = tmp_path_factory.mktemp("provenance")
    paths = {}
    for name, record in (("synthetic", SYNTHETIC), ("untrained", TrainingData("interhand26m", "/d", False, 0, "t")),
                         ("unknown", None)):  # fmt: skip
        paths[name] = folder / f"{name}.safetensors"
        save_checkpoint(model, cfg, paths[name], training_data=record)
    return paths


def test_synthetic_checkpoint_warns_in_json_summary_and_printed_lines(checkpoints, image_dir, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["predict", str(image_dir), "--checkpoint", str(checkpoints["synthetic"]), "--out", str(out),
                 "--cropped", "--no-progress", "--no-meshes", "--no-render", "--device", "cpu"])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    for name in ("a", "b"):
        data = json.loads((out / name / "prediction.json").read_text())
        assert data["warning_codes"][0] == "synthetic_training_data"
        assert len(data["warning_codes"]) == len(data["warnings"])
        assert "trained only on synthetic images (/data/synth)" in data["warnings"][0]
        assert "average hands" in data["warnings"][0] and "--fit keypoints" in data["warnings"][0]
        recorded = data["model"]["training_data"]
        assert recorded["synthetic"] is True and recorded["global_step"] == 3
    summary = json.loads((out / "summary.json").read_text())
    assert [w["code"] for w in summary["model_warnings"]] == ["synthetic_training_data"]
    assert "synthetic_training_data" in summary["inputs"][0]["warning_codes"]
    # printed once for the run, not once per image
    assert printed.count("WARNING [synthetic_training_data]: this model was trained only on synthetic images") == 1


def test_unknown_and_untrained_checkpoints_say_so(checkpoints, image_dir):
    with Predictor.from_checkpoint(checkpoints["unknown"], device="cpu") as predictor:
        result = predictor.predict(image_dir / "a.png", cropped=True)
    assert warning_codes(result.warnings)[0] == "training_data_unknown"
    assert "unknown.safetensors was written by an older eanet or saved without it" in result.warnings[0]
    assert result.model["training_data"] is None  # unknown, not guessed real
    with Predictor.from_checkpoint(checkpoints["untrained"], device="cpu") as predictor:
        result = predictor.predict(image_dir / "a.png", cropped=True)
    assert warning_codes(result.warnings)[0] == "untrained_model" and "not been trained" in result.warnings[0]
    assert "synthetic_training_data" not in warning_codes(result.warnings)  # its (made-up) record says real


def _offset_for_confidence(confidence: float, config: InferenceConfig) -> float:
    """FakeNetwork heatmap offset (heatmap px, both axes) giving ``confidence``: the agreement is the offset's length
    in crop pixels (stride 32 on the 2x2 grid of a 64-pixel crop) over the crop size."""
    agreement = -config.confidence_scale * np.log(confidence)
    return agreement * 64 / 32 / np.sqrt(2)


@pytest.mark.parametrize("threshold, warned", [(0.3, True), (0.1, False), (0.0, False)])
def test_low_confidence_warning_follows_the_threshold(hand_layers, image_dir, threshold, warned):
    config = InferenceConfig(low_confidence=threshold)
    network = FakeNetwork(hand_layers, hm_offset=_offset_for_confidence(0.2, config))
    predictor = Predictor(network, hand_layers, config=config, device="cpu", training_data=REAL)
    result = predictor.predict(image_dir / "a.png", cropped=True)
    assert result.confidence == pytest.approx(0.2, abs=1e-3)
    expected = ["low_confidence"] if warned else []
    assert warning_codes(result.warnings) == expected  # a record of real data: no model warning
    if warned:
        text = result.warnings[0]
        assert "low confidence 0.20 (below inference.low_confidence=0.3)" in text
        assert "right 8.0%, left 8.0% of the crop size" in text and "over 6.0%" in text


def test_confident_prediction_of_a_real_data_model_has_no_warning(hand_layers, image_dir):
    predictor = Predictor(FakeNetwork(hand_layers), hand_layers, device="cpu", training_data=REAL)
    result = predictor.predict(image_dir / "a.png", cropped=True)
    assert result.confidence > 0.99 and result.warnings == []
    assert result.to_dict()["warning_codes"] == []


def test_warnings_keep_their_code_through_copies():
    warning = PredictionWarning("low_confidence", "low confidence 0.10")
    for clone in (copy.deepcopy(warning), pickle.loads(pickle.dumps(warning))):
        assert clone == "low confidence 0.10" and clone.code == "low_confidence"
    assert warning_codes([warning, "a plain message"]) == ["low_confidence", "other"]


def test_every_picture_has_the_legend_away_from_the_hands(fake_predictor, find_hand_legend):
    from eanet.inference.visualize import render_prediction
    from eanet.render import Renderer

    image = np.full((150, 200, 3), 90, np.uint8)
    result = fake_predictor.predict(image, (10, 5, 80, 70))  # both hands in the top-left part
    with Renderer("torch") as renderer:
        renders = render_prediction(result, image, renderer)
    # the legend takes the bottom-right corner, far from the hands, in the overlay and the 2D joints
    assert find_hand_legend(renders.overlay) == ["bottom-right"]
    assert find_hand_legend(renders.joints, suffix="wrist") == ["bottom-right"]
    assert len(find_hand_legend(renders.side)) == 1  # the side view is framed on the hands: any free corner
    # and nothing else in the picture was touched: outside the legend, the overlay is the image or the meshes
    assert (renders.overlay[-20:, :40] == 90).all()


def test_legend_fits_small_pictures_and_avoids_what_it_is_told(find_hand_legend):
    from eanet.render.draw import draw_hand_legend

    small = np.full((80, 96, 3), 200, np.uint8)
    drawn, layout = draw_hand_legend(small, avoid_points=np.array([[5.0, 5.0], [90.0, 5.0], [5.0, 70.0]]))
    assert layout.corner == "bottom-right" and layout.labels == {"right": "right", "left": "left"}
    x, y, w, h = layout.box
    assert 0 <= x and x + w <= 96 and 0 <= y and y + h <= 80 and w < 96 * 0.6
    text = drawn[y : y + h, x : x + w]
    assert (text.max(axis=2) < 60).sum() > 20  # dark text was written
    assert find_hand_legend(drawn) == ["bottom-right"]
    assert (small == 200).all()  # the input is not modified
    large, layout = draw_hand_legend(np.zeros((600, 800, 3), np.uint8))
    assert layout.labels["right"] == "right hand" and find_hand_legend(large) == ["top-left"]


def _badge_pixels(picture: np.ndarray) -> np.ndarray:
    """Where a picture holds the warnings badge's dark red (text and frame; not the thumb's lighter red): ``(H, W)``."""
    r, g, b = (picture[..., i].astype(int) for i in range(3))
    return (r > 100) & (g < 0.15 * r) & (b < 0.15 * r)  # the thumb's (229, 51, 51), even darkened, has g = 0.22 r


def test_pictures_carry_the_warnings_in_the_row_the_legend_leaves_free(hand_layers, find_hand_legend):
    from eanet.inference.visualize import render_prediction
    from eanet.render import Renderer

    image = np.full((150, 200, 3), 90, np.uint8)
    warned = Predictor(FakeNetwork(hand_layers), hand_layers, device="cpu", training_data=SYNTHETIC,
                       input_size=(64, 64), feature_grid=(2, 2))  # fmt: skip
    quiet = Predictor(FakeNetwork(hand_layers), hand_layers, device="cpu", training_data=REAL,
                      input_size=(64, 64), feature_grid=(2, 2))  # fmt: skip
    box = (10, 5, 80, 70)  # both hands in the top-left part
    with Renderer("torch") as renderer:
        result = warned.predict(image, box)
        assert warning_codes(result.warnings) == ["synthetic_training_data"]
        renders = render_prediction(result, image, renderer)
        plain = render_prediction(quiet.predict(image, box), image, renderer)
    assert not any(_badge_pixels(p).any() for p in (plain.overlay, plain.joints, plain.side))  # no warning, no badge
    for picture, suffix in ((renders.overlay, "hand"), (renders.joints, "wrist")):
        assert find_hand_legend(picture, suffix=suffix) == ["bottom-right"]  # as without warnings
        red = _badge_pixels(picture)
        ys, xs = np.nonzero(red)
        assert red.sum() > 50 and ys.max() < 75  # in the top row, which the legend left free
        assert xs.max() > 190 and xs.min() > 50  # and in its right corner, away from the hands
    legend = find_hand_legend(renders.side)
    assert len(legend) == 1 and _badge_pixels(renders.side).any()
    red_rows = np.nonzero(_badge_pixels(renders.side))[0]
    side_height = renders.side.shape[0]
    assert (red_rows < side_height / 2).all() if legend[0].startswith("bottom") else (red_rows > side_height / 2).all()


def test_picture_warning_lines_are_short_and_keep_a_fixed_order():
    from types import SimpleNamespace

    from eanet.inference.visualize import picture_warning_lines

    warnings = [PredictionWarning("low_confidence", "low confidence 0.10 (...)"), "only one hand was detected",
                PredictionWarning("synthetic_training_data", "this model was trained only on synthetic images"),
                "the box was cut at the image border"]  # fmt: skip
    assert picture_warning_lines(SimpleNamespace(warnings=warnings)) == [
        "trained on synthetic data", "low confidence", "+2 other warnings"
    ]
    assert picture_warning_lines(SimpleNamespace(warnings=["one"])) == ["+1 other warning"]
    assert picture_warning_lines(SimpleNamespace(warnings=[])) == []


def test_warning_badge_fits_the_picture_and_refuses_bad_corners():
    from eanet.errors import InvalidInputError
    from eanet.render.draw import draw_warning_badge, warning_badge_layout

    small = np.full((80, 96, 3), 200, np.uint8)
    drawn, layout = draw_warning_badge(small, ["no network: keypoint fit only", "low confidence"], legend_corner="top-left")
    x, y, w, h = layout.box
    assert layout.corner.startswith("bottom") and 0 <= x and x + w <= 96 and y + h <= 80
    assert layout.lines[0].startswith("! no network") and layout.lines[0].endswith("...")  # cut to the width
    assert layout.lines[1] == "! low confidence"
    assert _badge_pixels(drawn[y : y + h, x : x + w]).sum() > 20 and not _badge_pixels(drawn[:y]).any()
    assert (small == 200).all()  # the input is not modified
    unchanged, none = draw_warning_badge(small, [])
    assert none is None and (unchanged == small).all()
    with pytest.raises(InvalidInputError, match="corner"):
        draw_warning_badge(small, ["x"], corner="middle")
    with pytest.raises(InvalidInputError, match="legend corner"):
        draw_warning_badge(small, ["x"], legend_corner="left")
    with pytest.raises(InvalidInputError, match="at least one line"):
        warning_badge_layout(96, 80, [])


def test_video_badge_corner_is_chosen_once_in_the_legend_free_row(fake_predictor):
    from eanet.inference.visualize import overlay_legend_corner, overlay_warnings_corner

    image = np.full((150, 200, 3), 90, np.uint8)
    result = fake_predictor.predict(image, (10, 5, 80, 70))  # hands top-left: legend bottom-right
    legend = overlay_legend_corner(result, 200, 150)
    assert legend == "bottom-right"
    # chosen for "low confidence" too, even when this frame is confident: the badge must not jump later
    assert overlay_warnings_corner(result, 200, 150, legend) == "top-right"
    assert overlay_warnings_corner(result, 200, 150, "top-left").startswith("bottom")
