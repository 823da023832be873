"""The web demo without a browser: upload checks, box parsing, the runner (prediction, files, clean-up), the page
and the ``eanet serve`` command line."""

from __future__ import annotations

import json
import os
import struct
import zlib

import numpy as np
import pytest
from web_helpers import image_bytes

from eanet.web.uploads import UploadError, UploadLimits, decode_upload, sniff_image_type


@pytest.mark.parametrize("fmt, kind", [("PNG", "png"), ("JPEG", "jpeg"), ("WEBP", "webp"), ("BMP", "bmp")])
def test_accepted_types_decode_to_rgb(fmt, kind):
    data = image_bytes(fmt, (96, 80))
    assert sniff_image_type(data) == kind
    rgb = decode_upload(data)
    assert rgb.shape == (80, 96, 3) and rgb.dtype == np.uint8
    if fmt in ("PNG", "BMP"):  # lossless: exactly the pixels encoded
        import io

        from PIL import Image

        np.testing.assert_array_equal(rgb, np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))


def test_type_is_judged_by_content_not_name():
    gif = image_bytes("GIF")
    with pytest.raises(UploadError, match="not a JPEG, PNG, WebP or BMP"):
        decode_upload(gif)
    with pytest.raises(UploadError, match="not a JPEG, PNG, WebP or BMP"):
        decode_upload(b"<svg xmlns='http://www.w3.org/2000/svg'></svg>")
    with pytest.raises(UploadError, match="not a JPEG, PNG, WebP or BMP"):
        decode_upload(b"../../etc/passwd")
    with pytest.raises(UploadError, match="empty"):
        decode_upload(b"")


def test_damaged_files_are_refused_with_a_message():
    data = image_bytes("PNG", (200, 200))
    with pytest.raises(UploadError, match="damaged or truncated"):
        decode_upload(data[: len(data) // 2])
    jpeg = image_bytes("JPEG", (64, 64))
    with pytest.raises(UploadError, match="damaged or truncated"):
        decode_upload(jpeg[:40])


def test_size_limits():
    data = image_bytes("PNG", (64, 64))
    with pytest.raises(UploadError, match="more than the limit of"):
        decode_upload(data, UploadLimits(max_bytes=len(data) - 1))
    with pytest.raises(UploadError, match="megapixels"):
        decode_upload(data, UploadLimits(max_pixels=64 * 64 - 1))
    with pytest.raises(UploadError, match="at least 16 px"):
        decode_upload(image_bytes("PNG", (8, 64)))
    assert decode_upload(data, UploadLimits(max_bytes=len(data), max_pixels=64 * 64)).shape == (64, 64, 3)


def _png_bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width x height`` 1-bit pixels (a decompression bomb)."""

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_before_decoding():
    bomb = _png_bomb(12_000, 12_000)  # 144 megapixels in ~100 bytes
    assert len(bomb) < 200
    with pytest.raises(UploadError, match=r"12000x12000 \(144.0 megapixels\), more than the limit"):
        decode_upload(bomb)
    with pytest.raises(UploadError, match="too large to decode safely"):  # past PIL's own guard
        decode_upload(_png_bomb(60_000, 60_000))


def test_parse_box():
    from eanet.errors import InvalidInputError
    from eanet.inference.inputs import parse_box

    assert parse_box("120, 80, 300, 260") == (120.0, 80.0, 300.0, 260.0)
    assert parse_box(" (1.5 2 3e2 4) ") == (1.5, 2.0, 300.0, 4.0)
    for bad in ("", "1, 2, 3", "1, 2, 3, 4, 5", "1, 2, -3, 4", "x=1, y=2, w=3, h=4", "1, 2, 0, 4"):
        with pytest.raises(InvalidInputError, match="box"):
            parse_box(bad)


def test_importing_the_app_turns_analytics_off():
    import eanet.web.app  # noqa: F401

    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"


@pytest.fixture
def runner(tiny_predictor):
    from eanet.web.app import DemoRunner, DemoSettings

    runner = DemoRunner(tiny_predictor, DemoSettings(keep_results=2, detection=False))
    yield runner
    runner.close()


def test_runner_predicts_renders_and_writes_private_files(runner):
    data = image_bytes("JPEG", (120, 100))
    result = runner.process(data, "cropped")
    assert result.ok, result.message
    assert result.message.startswith("**Done.**")
    assert result.overlay.shape == (100, 120, 3) and result.overlay.dtype == np.uint8
    assert result.side.ndim == 3 and result.side.std() > 0
    # Files: generated names inside the runner's private folder (mode 0700), nothing named after the upload.
    for path in (result.json_path, result.glb_path):
        assert path.is_file() and path.parent.parent == runner.root
    assert result.json_path.name == "eanet_hands.json" and result.glb_path.name == "eanet_hands.glb"
    assert oct(runner.root.stat().st_mode & 0o777) == "0o700"
    data = json.loads(result.json_path.read_text())
    assert data["source"] == "upload" and data["image_size_wh"] == [120, 100]
    num_verts = runner.predictor.hand_models["right"].num_verts
    assert len(data["hands"]["right"]["verts_cam"]) == num_verts and len(data["hands"]["left"]["joints_cam"]) == 21
    import trimesh

    scene = trimesh.load(result.glb_path)
    assert sorted(scene.geometry) == ["left", "right"]
    assert [g.vertices.shape[0] for g in scene.geometry.values()] == [num_verts, num_verts]
    assert result.summary["root_cam_m"]["right"] == data["hands"]["right"]["root_cam"]


def test_runner_reports_bad_input_without_raising(runner):
    for data, mode, box, expected in [
        (None, "cropped", None, "upload a photo first"),
        (b"GIF89a" + b"\0" * 40, "cropped", None, "not a JPEG, PNG, WebP or BMP"),
        (image_bytes(), "box", "1, 2", "four numbers"),
        (image_bytes(), "detect", None, "detection is not available"),
        (image_bytes(), "box", "5000, 5000, 10, 10", "box"),
    ]:
        result = runner.process(data, mode, box)
        assert not result.ok and result.overlay is None and result.json_path is None
        assert result.message.startswith("**Could not process the photo:**")
        assert expected in result.message, result.message


def test_runner_survives_internal_errors(runner, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("renderer exploded")

    monkeypatch.setattr(runner.predictor, "predict", broken)
    result = runner.process(image_bytes(), "cropped")
    assert not result.ok and result.message.startswith("**Internal error** (RuntimeError)")
    assert "renderer exploded" not in result.message  # details stay in the server log


def test_runner_keeps_only_recent_results_and_cleans_up(tiny_predictor):
    from eanet.web.app import DemoRunner, DemoSettings

    runner = DemoRunner(tiny_predictor, DemoSettings(keep_results=2, detection=False))
    paths = [runner.process(image_bytes(seed=i), "box", "10, 10, 60, 50").json_path for i in range(3)]
    assert not paths[0].exists() and paths[1].exists() and paths[2].exists()
    runner.close()
    assert not runner.root.exists()


def test_build_app_has_the_components(tiny_predictor):
    import gradio as gr

    from eanet.web.app import MODE_DETECT, DemoSettings, build_app

    app = build_app(tiny_predictor, DemoSettings(detection=False))
    try:
        assert isinstance(app, gr.Blocks) and app.analytics_enabled is False
        by_id = {getattr(b, "elem_id", None): b for b in app.blocks.values()}
        assert isinstance(by_id["eanet-upload"], gr.File) and by_id["eanet-upload"].type == "binary"
        assert isinstance(by_id["eanet-3d"], gr.Model3D)
        assert isinstance(by_id["eanet-overlay"], gr.Image)
        assert isinstance(by_id["eanet-json"], gr.DownloadButton) and isinstance(by_id["eanet-glb"], gr.DownloadButton)
        assert MODE_DETECT not in [c[0] for c in by_id["eanet-mode"].choices]
    finally:
        app.eanet_runner.close()


def test_serve_command_line(capsys):
    from eanet.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["serve", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "127.0.0.1" in text and "--share" not in text
    with pytest.raises(SystemExit):
        main(["serve", "--checkpoint", "x.safetensors", "--share"])
    assert "unrecognized arguments: --share" in capsys.readouterr().err
    assert main(["serve"]) == 2  # a model is required, unless the hand model alone is fitted to keypoints
    assert "--fit keypoints" in capsys.readouterr().err
    assert main(["serve", "--checkpoint", "missing.safetensors", "--port", "0"]) == 2
    assert main(["serve", "--checkpoint", "missing.safetensors", "--port", "7861"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_page_and_result_show_the_warnings_and_the_legend(tiny_predictor, find_hand_legend):
    """A checkpoint trained only on synthetic images: the page says so before any upload and with each result (next
    to the pictures, with the codes in the JSON), and the pictures name the hands' colours."""
    from eanet.inference.predictor import Predictor
    from eanet.model.provenance import TrainingData
    from eanet.web.app import DemoRunner, DemoSettings, build_app, warnings_markdown

    synthetic = TrainingData("interhand26m", "/data/synth_run", True, 300, "eanet train")
    hands = (tiny_predictor.hand_models["right"], tiny_predictor.hand_models["left"])
    predictor = Predictor(tiny_predictor.model, hands, device="cpu", training_data=synthetic)
    app = build_app(predictor, DemoSettings(detection=False))
    try:
        by_id = {getattr(b, "elem_id", None): b for b in app.blocks.values()}
        before = by_id["eanet-warnings"].value
        assert "trained only on synthetic images (/data/synth\\_run)" in before and "synthetic_training_data" in before
    finally:
        app.eanet_runner.close()
    runner = DemoRunner(predictor, DemoSettings(detection=False))
    try:
        result = runner.process(image_bytes("PNG", (160, 120)), "cropped")
    finally:
        runner.close()
    assert result.ok and result.summary["warning_codes"][0] == "synthetic_training_data"
    assert "warning" in result.message and "above the pictures" in result.message
    shown = warnings_markdown(result.warnings)
    assert all(code in shown for code in result.summary["warning_codes"]) and "--fit keypoints" in shown
    assert len(find_hand_legend(result.overlay)) == 1 and len(find_hand_legend(result.side)) == 1
