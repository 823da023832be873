"""``eanet predict`` and ``eanet detector`` as a user runs them: every output format, bad inputs, exit codes."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import trimesh
from inference_helpers import read_video_frames, write_test_image, write_test_video

from eanet.cli import main


@pytest.fixture
def mixed_inputs(tmp_path, image_dir):
    """Good images and a video, plus every kind of bad input we handle."""
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "cut.jpg").write_bytes((image_dir / "b.jpg").read_bytes()[:300])
    (bad / "text.png").write_text("not an image")
    write_test_image(bad / "huge.png", 200, 150)  # over the limit set below
    (bad / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x01" * 500)
    (tmp_path / "empty").mkdir()
    write_test_video(image_dir / "clip.mp4", frames=4)
    return [str(image_dir), str(bad / "*"), str(tmp_path / "empty"), str(tmp_path / "missing.png")]


def test_predict_writes_every_output_and_reports_bad_inputs(tiny_checkpoint, mixed_inputs, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["predict", *mixed_inputs, "--checkpoint", str(tiny_checkpoint), "--out", str(out), "--cropped",
                 "--no-progress", "--device", "cpu", "inference.max_image_pixels=20000",
                 "--render-backend", "torch"])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 1  # some inputs failed; the others were written
    summary = json.loads((out / "summary.json").read_text())
    status = {Path(r["source"]).name: r for r in summary["inputs"]}
    assert {k for k, r in status.items() if r["status"] == "ok"} == {"a.png", "b.jpg", "clip.mp4"}
    assert "truncated" in status["cut.jpg"]["error"] and "not an image" in status["text.png"]["error"]
    assert "megapixels" in status["huge.png"]["error"] and "video" in status["broken.mp4"]["error"]
    assert "holds no images" in status["empty"]["error"] and "no such file" in status["missing.png"]["error"]
    assert summary["ok"] == 3 and summary["failed"] == 6
    assert "FAILED" in printed and "3 of 9 input(s) done, 6 failed" in printed

    from eanet.hand_model import build_hand_models
    from eanet.hand_model.config import HandModelConfig

    right, _ = build_hand_models(HandModelConfig())
    num_verts, num_faces = right.num_verts, right.faces.shape[0]
    folder = out / "a"
    names = {"prediction.json", "right.obj", "left.obj", "right.ply", "left.ply", "hands.glb", "overlay.png",
             "side.png", "joints.png"}  # fmt: skip
    assert names <= {p.name for p in folder.iterdir()}
    data = json.loads((folder / "prediction.json").read_text())
    assert data["crop"]["source"] == "cropped" and data["hand_model"]["kind"] == "open"
    assert len(data["hands"]["left"]["verts_cam"]) == num_verts and data["files"]["glb"] == "hands.glb"
    for side in ("right", "left"):
        for suffix in ("obj", "ply"):
            mesh = trimesh.load(folder / f"{side}.{suffix}", process=False)
            assert (len(mesh.vertices), len(mesh.faces)) == (num_verts, num_faces)
            np.testing.assert_allclose(mesh.vertices, data["hands"][side]["verts_cam"], atol=1e-5)
    scene = trimesh.load(folder / "hands.glb", process=False)
    assert sorted(len(g.vertices) for g in scene.geometry.values()) == [num_verts, num_verts]
    import cv2

    overlay = cv2.imread(str(folder / "overlay.png"))
    assert overlay.shape[:2] == (80, 96) and cv2.imread(str(folder / "side.png")).shape[0] >= 256
    # the video: overlay video with every frame, per-frame JSON
    video_dir = out / "clip"
    assert len(read_video_frames(video_dir / "overlay.mp4")) == 4
    frames = sorted((video_dir / "frames").glob("frame_*.json"))
    assert len(frames) == 4 and json.loads(frames[0].read_text())["smoothing"]["strength"] == 1.0
    assert json.loads((video_dir / "video.json").read_text())["frames"]["ok"] == 4


def test_predict_with_a_box_and_options(tiny_checkpoint, image_dir, tmp_path):
    out = tmp_path / "out"
    code = main(["predict", str(image_dir / "b.jpg"), "--checkpoint", str(tiny_checkpoint), "--out", str(out),
                 "--bbox", "10,12,60,50", "--no-progress", "--no-render", "--no-json-vertices", "--mesh-axes", "yup",
                 "--intrinsics", "200,210,60,45", "--batch-size", "1"])  # fmt: skip
    assert code == 0
    data = json.loads((out / "b" / "prediction.json").read_text())
    assert data["crop"]["source"] == "bbox" and data["crop"]["hands_box_xywh"] == [10, 12, 60, 50]
    assert data["camera"]["focal"] == [200, 210] and data["camera"]["princpt"] == [60, 45]
    assert "verts_cam" not in data["hands"]["right"] and not (out / "b" / "overlay.png").exists()
    assert data["mesh_axes"]["obj_ply"] == "yup"
    root = np.array(data["hands"]["right"]["joints_cam"])
    mesh = trimesh.load(out / "b" / "right.obj", process=False)
    assert mesh.vertices[:, 2].mean() * np.mean(root[:, 2]) < 0  # y-up flips depth's sign


def test_predict_refuses_a_checkpoint_with_another_hand_model(tiny_checkpoint, image_dir, tmp_path, capsys):
    code = main(["predict", str(image_dir / "a.png"), "--checkpoint", str(tiny_checkpoint), "--out",
                 str(tmp_path / "o"), "--cropped", "--mano-dir", str(tmp_path)])  # fmt: skip
    assert code == 2 and "not MANO" in capsys.readouterr().err
    code = main(["predict", str(image_dir / "a.png"), "--checkpoint", str(tiny_checkpoint), "--out",
                 str(tmp_path / "o"), "--cropped", "--hand-model", "mano"])  # fmt: skip
    assert code == 2 and "different hand model" in capsys.readouterr().err


def test_predict_without_detector_explains_the_options(tiny_checkpoint, image_dir, tmp_path, capsys):
    code = main(["predict", str(image_dir / "a.png"), "--checkpoint", str(tiny_checkpoint), "--out",
                 str(tmp_path / "o"), "--detector-model", str(tmp_path / "absent.task")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "--cropped" in err and "--bbox" in err and "eanet detector fetch" in err


def test_detector_fetch_builds_from_a_wheel_and_check_verifies(tmp_path, capsys):
    from eanet.inference.detect import MODEL_MEMBERS

    wheel = tmp_path / "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for inner in MODEL_MEMBERS.values():
            zf.writestr(inner, b"\x1c\x00\x00\x00TFL3" + b"\x00" * 50)
    target = tmp_path / "models" / "hand_landmarker.task"
    assert main(["detector", "fetch", "--wheel", str(wheel), "--out", str(target)]) == 0
    assert target.is_file() and "wrote" in capsys.readouterr().out
    assert main(["detector", "fetch", "--wheel", str(wheel), "--out", str(target)]) == 0
    assert "already there" in capsys.readouterr().out
    assert main(["detector", "check", "--detector-model", str(target)]) == 0
    assert "valid task bundle" in capsys.readouterr().out
    assert main(["detector", "fetch", "--wheel", str(tmp_path / "nope.whl"), "--out", str(tmp_path / "x")]) == 2
    assert main(["detector", "path"]) == 0
    assert capsys.readouterr().out.strip().endswith("mediapipe/hand_landmarker.task")


def test_help_lists_the_commands(capsys):
    for command in ("predict", "detector", "quickstart"):
        with pytest.raises(SystemExit) as info:
            main([command, "--help"])
        assert info.value.code == 0
    assert "--cropped" in capsys.readouterr().out


@pytest.mark.mano_assets
def test_predict_with_a_mano_checkpoint(mano_dir, image_dir, tmp_path):
    """A checkpoint trained with MANO needs the MANO files at prediction time (never stored in it)."""
    import dataclasses

    import torch
    from inference_helpers import tiny_model_config

    from eanet.model import build_model
    from eanet.run_checkpoint import save_checkpoint

    cfg = tiny_model_config()
    cfg = dataclasses.replace(cfg, hand_model=dataclasses.replace(cfg.hand_model, kind="mano", mano_dir=str(mano_dir)))
    torch.manual_seed(0)
    ckpt = tmp_path / "mano_tiny.safetensors"
    save_checkpoint(build_model(cfg.model, cfg.hand_model), cfg, ckpt)
    out = tmp_path / "out"
    assert main(["predict", str(image_dir / "a.png"), "--checkpoint", str(ckpt), "--out", str(out), "--cropped",
                 "--mano-dir", str(mano_dir), "--no-render", "--no-progress"]) == 0  # fmt: skip
    data = json.loads((out / "a" / "prediction.json").read_text())
    assert data["hand_model"]["kind"] == "mano" and len(data["hands"]["right"]["verts_cam"]) == 778
    assert len(trimesh.load(out / "a" / "left.obj", process=False).faces) == 1538
