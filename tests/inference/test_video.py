"""Videos: per-frame JSON, overlay video, box tracking when detection misses frames, undecodable files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from inference_helpers import FakeLandmarker, landmark_points, read_video_frames, write_test_video

from eanet.inference.detect import MediaPipeHandDetector
from eanet.inference.inputs import InputError
from eanet.inference.runner import OutputOptions
from eanet.inference.smoothing import SmoothingSettings
from eanet.inference.video import predict_video


class ScriptedLandmarker(FakeLandmarker):
    """Finds two hands except on the frames listed in ``misses`` (by call number)."""

    def __init__(self, misses):
        super().__init__([(landmark_points(0.2, 0.2, 0.5, 0.7), "Left", 0.8), (landmark_points(0.45, 0.3, 0.8, 0.8), "Right", 0.7)])
        self.misses = set(misses)
        self.calls = 0

    def detect(self, image):
        result = super().detect(image)
        self.calls += 1
        if self.calls - 1 in self.misses:
            result.hand_landmarks, result.handedness = [], []
        return result


def test_video_with_detection_misses_is_tracked_and_reported(fake_predictor, tmp_path):
    from eanet.render import Renderer

    video = write_test_video(tmp_path / "clip.mp4", frames=7)
    fake_predictor._detector = MediaPipeHandDetector(landmarker=ScriptedLandmarker(misses={0, 3, 4}))
    options = OutputOptions(progress=False, render_backend="torch")
    with Renderer("torch") as renderer:
        result = predict_video(fake_predictor, video, tmp_path / "out", options, SmoothingSettings(), renderer=renderer)
    assert result.frame_counts == {"total": 7, "ok": 6, "tracked": 2, "failed": 1, "skipped": 0}
    summary = json.loads((tmp_path / "out" / "video.json").read_text())
    statuses = [f["status"] for f in summary["per_frame"]]
    assert statuses == ["failed", "ok", "ok", "tracked", "tracked", "ok", "ok"]
    assert "no earlier box" in summary["per_frame"][0]["error"]
    frames = sorted((tmp_path / "out" / "frames").glob("frame_*.json"))
    assert len(frames) == 7
    frame3 = json.loads(frames[3].read_text())
    assert frame3["crop"]["source"] == "tracked" and any("last box was kept" in w for w in frame3["warnings"])
    assert frame3["hands"]["right"]["placement"]["smoothed"] is True and frame3["frame_index"] == 3
    written = read_video_frames(tmp_path / "out" / "overlay.mp4")
    assert len(written) == 7 and written[0].shape == (80, 96, 3)
    assert any("last box was kept" in w for w in result.warnings)


def test_long_detection_gaps_fail_instead_of_guessing(fake_predictor, tmp_path):
    video = write_test_video(tmp_path / "clip.mp4", frames=5)
    fake_predictor._detector = MediaPipeHandDetector(landmarker=ScriptedLandmarker(misses={2, 3, 4}))
    from dataclasses import replace

    fake_predictor.config = replace(fake_predictor.config, max_tracked_frames=1)
    result = predict_video(fake_predictor, video, tmp_path / "out", OutputOptions(progress=False, renders=False),
                           SmoothingSettings())  # fmt: skip
    assert result.frame_counts == {"total": 5, "ok": 3, "tracked": 1, "failed": 2, "skipped": 0}
    assert not (tmp_path / "out" / "overlay.mp4").exists()


def test_undecodable_videos_are_input_errors(fake_predictor, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + np.random.default_rng(0).bytes(2000))
    with pytest.raises(InputError, match="video"):
        predict_video(fake_predictor, broken, tmp_path / "o", OutputOptions(progress=False), SmoothingSettings())
    with pytest.raises(InputError, match="does not exist"):
        predict_video(fake_predictor, tmp_path / "nope.mp4", tmp_path / "o", OutputOptions(), SmoothingSettings())
