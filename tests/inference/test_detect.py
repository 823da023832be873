"""Finding hands: the two-hand box, the MediaPipe wrapper with an injected landmarker, the model-file builder, and
the real MediaPipe model (skipped without mediapipe or the model file)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from inference_helpers import FakeLandmarker, landmark_points

from eanet.errors import InvalidInputError
from eanet.inference.detect import (
    MODEL_MEMBERS,
    DetectorUnavailableError,
    HandDetection,
    MediaPipeHandDetector,
    NoHandsDetectedError,
    build_model_file,
    check_model_file,
    default_detector_model_path,
    two_hand_box,
)

SHARED_IMAGES = Path(__file__).resolve().parents[2] / ".." / "shared" / "assets" / "images"


def _hand(x, y, w, h, score, label=""):
    return HandDetection(box=np.array([x, y, w, h], dtype=float), score=score, detector_label=label)


def test_two_hands_give_the_union_of_their_grown_boxes():
    det = two_hand_box([_hand(10, 20, 40, 40, 0.8), _hand(60, 30, 20, 50, 0.9)], hand_box_extend=1.5)
    assert det.status == "two_hands" and not det.warnings
    # grown about their centres: (0, 10, 60, 60) and (55, 17.5, 30, 75) -> union (0, 10)-(85, 92.5)
    np.testing.assert_allclose(det.box, [0, 10, 85, 82.5])
    assert [h.score for h in det.hands] == [0.9, 0.8]  # best first
    assert det.score == pytest.approx(0.85)


def test_one_hand_is_reported_and_no_hand_gives_no_box():
    det = two_hand_box([_hand(10, 20, 40, 40, 0.7)], hand_box_extend=1.0)
    assert det.status == "one_hand" and len(det.warnings) == 1 and "only one hand" in det.warnings[0]
    np.testing.assert_allclose(det.box, [10, 20, 40, 40])
    assert det.score == pytest.approx(0.35)  # the missing hand counts 0
    none = two_hand_box([])
    assert none.status == "none" and none.box is None and none.score == 0.0


def test_more_than_two_hands_keep_the_best_two():
    det = two_hand_box([_hand(0, 0, 10, 10, 0.2), _hand(50, 50, 10, 10, 0.9), _hand(80, 80, 10, 10, 0.8)], 1.0)
    np.testing.assert_allclose(det.box, [50, 50, 40, 40])


def test_mediapipe_results_are_converted_to_pixels():
    fake = FakeLandmarker([(landmark_points(0.1, 0.2, 0.3, 0.5), "Left", 0.6), (landmark_points(0.5, 0.4, 0.9, 0.8), "Right", 0.9)])
    with MediaPipeHandDetector(landmarker=fake) as detector:
        hands = detector.detect(np.zeros((100, 200, 3), np.uint8))
    assert fake.closed and fake.seen == [(100, 200, 3)]
    assert [h.detector_label for h in hands] == ["Right", "Left"]  # sorted by score
    np.testing.assert_allclose(hands[1].box, [20, 20, 40, 30])  # x in [0.1, 0.3] * 200, y in [0.2, 0.5] * 100
    assert hands[0].landmarks.shape == (21, 2)
    with pytest.raises(InvalidInputError):
        MediaPipeHandDetector(landmarker=fake).detect(np.zeros((10, 10), np.uint8))


def test_predictor_uses_the_detector_and_reports_what_it_found(fake_network, hand_layers, image_dir):
    from eanet.inference.predictor import Predictor

    fake = FakeLandmarker([(landmark_points(0.2, 0.2, 0.5, 0.7), "Left", 0.8), (landmark_points(0.45, 0.3, 0.8, 0.8), "Right", 0.6)])
    predictor = Predictor(fake_network, hand_layers, detector=MediaPipeHandDetector(landmarker=fake),
                          input_size=(64, 64), feature_grid=(2, 2))  # fmt: skip
    result = predictor.predict(image_dir / "a.png")
    assert result.crop.source == "detector" and result.detection.status == "two_hands"
    assert result.confidence == pytest.approx(min(result.right.confidence, result.left.confidence) * 0.7)
    assert result.to_dict()["detection"]["num_hands"] == 2
    fake.hands = fake.hands[:1]
    one = predictor.predict(image_dir / "a.png")
    assert one.detection.status == "one_hand" and any("only one hand" in w for w in one.warnings)
    fake.hands = []
    with pytest.raises(NoHandsDetectedError, match="--bbox"):
        predictor.predict(image_dir / "a.png")
    failed = predictor.predict([image_dir / "a.png"], errors="return")[0]
    assert not failed.ok and "no hands detected" in failed.error


def _fake_wheel(path: Path, members=None) -> Path:
    members = MODEL_MEMBERS if members is None else members
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for i, inner in enumerate(members.values()):
            zf.writestr(inner, b"\x1c\x00\x00\x00TFL3" + bytes([i]) * 100)
        zf.writestr("mediapipe/__init__.py", "")
    return path


def test_model_file_is_built_uncompressed_and_verified(tmp_path):
    out = tmp_path / "cache" / "hand_landmarker.task"
    sizes = build_model_file(_fake_wheel(tmp_path / "mp.whl"), out)
    assert sizes == {name: 108 for name in MODEL_MEMBERS}
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == sorted(MODEL_MEMBERS)
        assert all(info.compress_type == zipfile.ZIP_STORED for info in zf.infolist())  # as `zip -0`
    assert not list(out.parent.glob("*.partial"))
    assert check_model_file(out) == sizes


def test_model_file_errors(tmp_path):
    with pytest.raises(InvalidInputError, match="does not contain"):
        build_model_file(_fake_wheel(tmp_path / "new.whl", {"x": "mediapipe/other.tflite"}), tmp_path / "t.task")
    with pytest.raises(InvalidInputError, match="not a wheel"):
        (tmp_path / "bad.whl").write_text("nope")
        build_model_file(tmp_path / "bad.whl", tmp_path / "t.task")
    (tmp_path / "junk.task").write_text("nope")
    with pytest.raises(InvalidInputError, match="not a MediaPipe task bundle"):
        check_model_file(tmp_path / "junk.task")
    with pytest.raises(FileNotFoundError):
        check_model_file(tmp_path / "absent.task")


def test_default_model_path_is_in_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("EANET_CACHE_DIR", str(tmp_path))
    assert default_detector_model_path() == tmp_path / "mediapipe" / "hand_landmarker.task"


def test_missing_mediapipe_or_model_file_says_what_to_do(tmp_path):
    try:
        import mediapipe  # noqa: F401
    except ImportError:
        with pytest.raises(DetectorUnavailableError, match=r"eanet\[detect\]"):
            MediaPipeHandDetector(tmp_path / "absent.task")
        return
    with pytest.raises(DetectorUnavailableError, match="eanet detector fetch"):
        MediaPipeHandDetector(tmp_path / "absent.task")


def _real_model_path() -> Path:
    pytest.importorskip("mediapipe")
    path = default_detector_model_path()
    for candidate in (path, Path.home() / ".cache" / "eanet" / "mediapipe" / "hand_landmarker.task"):
        if candidate.is_file():
            return candidate
    pytest.skip("hand_landmarker.task not built (run `eanet detector fetch`)")


def test_real_mediapipe_finds_both_hands_in_the_example_photo():
    from eanet.inference.inputs import load_image

    path = _real_model_path()
    image_path = SHARED_IMAGES / "example_image1.png"
    if not image_path.is_file():
        pytest.skip("example photo not available")
    with MediaPipeHandDetector(path) as detector:
        det = two_hand_box(detector.detect(load_image(image_path)))
    assert det.status == "two_hands" and all(h.score > 0.3 for h in det.hands)
