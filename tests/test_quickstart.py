"""``eanet quickstart`` end to end with trimmed sizes: synthetic data, CPU training, evaluation,
predictions on held-out synthetic images and on a photo, every output written and printed."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torchvision.models  # noqa: F401  (before anything renders: see tests/inference/conftest.py)

from eanet.cli import main


@pytest.mark.slow
def test_quickstart_runs_every_stage(tmp_path, capsys):
    photo = tmp_path / "photo.png"
    rng = np.random.default_rng(0)
    cv2.imwrite(str(photo), cv2.resize(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8), (160, 120)))
    out = tmp_path / "qs"
    code = main(["quickstart", "--out", str(out), "--quick", "--photos", str(photo), "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0

    assert json.loads((out / "data" / "synthetic_manifest.json").read_text())["status"] == "complete"
    assert (out / "run" / "model.safetensors").is_file() and (out / "run" / "config.yaml").is_file()
    evaluation = json.loads((out / "eval.json").read_text())
    assert evaluation["train_steps"] == 2
    assert "mean_pose_baseline" in evaluation  # may be empty: a 4-frame set can lack one of the hands
    manifest = json.loads((out / "data" / "synthetic_manifest.json").read_text())
    assert manifest["config"]["view_spread"] == 0.25
    for stage in ("before_training", "after_training"):
        assert np.isfinite(evaluation[stage]["mpjpe_all"]) and evaluation[stage]["mpjpe_all"] > 0
    files = ("prediction.json", "right.obj", "left.obj", "right.ply", "left.ply", "hands.glb", "overlay.png",
             "side.png", "joints.png")  # fmt: skip
    synthetic = sorted(p for p in (out / "predictions" / "synthetic").iterdir() if p.is_dir())
    assert len(synthetic) == 2
    for folder in [*synthetic, out / "predictions" / "photos" / "photo"]:
        assert all((folder / name).is_file() for name in files), folder
    crop = json.loads((synthetic[0] / "prediction.json").read_text())["crop"]
    assert crop["source"] == "crop"  # held-out images use their ground-truth crop boxes
    assert json.loads((out / "predictions" / "photos" / "photo" / "prediction.json").read_text())["crop"]["source"] == "cropped"
    status = json.loads((out / "quickstart.json").read_text())
    assert status["status"] == "complete" and status["failed_inputs"] == 0
    for path in (out / "run" / "model.safetensors", out / "eval.json", out / "predictions" / "photos" / "photo"):
        assert str(path) in printed
    assert "InterHand2.6M" in printed and "before -> after training" in printed


def test_quickstart_refuses_to_overwrite_foreign_folders(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("user data")
    assert main(["quickstart", "--out", str(tmp_path), "--quick"]) == 2
    assert "not written by `eanet quickstart`" in capsys.readouterr().err
    assert (tmp_path / "keep.txt").read_text() == "user data"


def test_an_earlier_quickstart_is_replaced(tmp_path):
    from eanet.inference.quickstart import _prepare_out

    (tmp_path / "quickstart.json").write_text("{}")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "old.txt").write_text("old")
    (tmp_path / "notes.txt").write_text("the user's")
    _prepare_out(tmp_path)
    assert not (tmp_path / "run").exists() and not (tmp_path / "quickstart.json").exists()
    assert (tmp_path / "notes.txt").read_text() == "the user's"  # only the quickstart's own outputs go


def test_view_spread_option_reaches_the_settings_and_is_checked(tmp_path, capsys):
    from eanet.inference.quickstart import QuickstartSettings, settings_from_args

    assert QuickstartSettings().view_spread == 0.25 and QuickstartSettings().workers == 1
    assert settings_from_args(False, [], view_spread=0.5, frames=None).view_spread == 0.5
    assert main(["quickstart", "--out", str(tmp_path / "qs"), "--quick", "--view-spread", "0"]) == 2
    assert "--view-spread" in capsys.readouterr().err
    assert not (tmp_path / "qs").exists()  # refused before anything was written


def test_summary_prints_the_baseline_and_says_whether_it_was_beaten(tmp_path):
    from eanet.inference.quickstart import QuickstartResult

    result = QuickstartResult(tmp_path, tmp_path / "data", tmp_path / "run", tmp_path / "m.safetensors",
                              tmp_path / "eval.json", {"mpjpe_all": 80.0}, {"mpjpe_all": 36.0},
                              {"mpjpe_all": 38.0})  # fmt: skip
    text = "\n".join(result.lines())
    assert "80.00 ->    36.00" in text and "38.00" in text
    assert "MPJPE against the training set's mean pose: 36.00 vs 38.00 mm = 95% of the baseline (below" in text
    result.metrics_after = {"mpjpe_all": 39.0}
    assert "= 103% of the baseline (NOT below the image-blind baseline)" in "\n".join(result.lines())


def test_summary_prints_the_2d_joint_error_next_to_mpjpe(tmp_path):
    from eanet.inference.quickstart import QuickstartResult

    before = {"mpjpe_all": 80.0, "joints2d_err_px_all": 28.0, "joints2d_err_px_single": 27.0}
    after = {"mpjpe_all": 36.0, "joints2d_err_px_all": 9.5, "joints2d_err_px_single": 9.0}
    baseline = {"mpjpe_all": 38.0, "joints2d_err_px_all": 15.0}
    result = QuickstartResult(tmp_path, tmp_path / "data", tmp_path / "run", tmp_path / "m.safetensors",
                              tmp_path / "eval.json", before, after, baseline)  # fmt: skip
    text = "\n".join(result.lines())
    row = next(line for line in text.splitlines() if "joints2d_err_px_all" in line)
    assert "28.00 ->     9.50" in row and "15.00" in row
    assert "joints2d_err_px_single" not in text  # like the 3D rows: all/interacting/right/left
    assert "2D joint error against its mean 2D joints: 9.50 vs 15.00 px = 63% of the baseline (below" in text
    result.metrics_after = {"mpjpe_all": 36.0, "joints2d_err_px_all": 16.0}
    assert "16.00 vs 15.00 px = 107% of the baseline (NOT below" in "\n".join(result.lines())
