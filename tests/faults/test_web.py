"""Fault matrix, web demo: boxes outside the photo, NaN outputs and a full disk give a message, not a result.

The demo's :class:`~eanet.web.app.DemoRunner` is driven directly (the page only forwards to it), on a tiny random
EANet with the built-in open hand model and the pure-torch renderer: no Gradio server, no MANO, no GPU. Cases and
expected behaviour: ``docs/fault-matrix.md``.
"""

from __future__ import annotations

import errno
import io

import numpy as np
import pytest

#: The tiny test architecture: ResNet-18 trunk, 64x64 input (2x2 token grid), width 32, one block per stage.
TINY_MODEL = dict(backbone="resnet18", input_size=(64, 64), width=32, num_heads=2, sa_depth=1, ca_depth=1,
                  sjt_depth=1, sjt_num_heads=2, heatmap_depth=4)  # fmt: skip


def png_bytes(width: int = 96, height: int = 80, seed: int = 0) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def tiny_parts():
    """``(model, hand_models)``: a tiny, randomly initialised EANet in eval mode and its hand-model layers."""
    import torch

    from eanet.hand_model import build_hand_models
    from eanet.hand_model.config import HandModelConfig
    from eanet.model import build_model
    from eanet.model.config import ModelConfig

    torch.manual_seed(0)
    hand_models = build_hand_models(HandModelConfig(kind="open"))
    return build_model(ModelConfig(**TINY_MODEL), hand_models=hand_models).eval(), hand_models


def make_runner(model, hand_models):
    from eanet.inference.predictor import Predictor
    from eanet.render import Renderer
    from eanet.web.app import DemoRunner, DemoSettings

    predictor = Predictor(model, hand_models, device="cpu", input_size=(64, 64))
    return DemoRunner(predictor, DemoSettings(keep_results=2, detection=False), renderer=Renderer("torch"))


@pytest.fixture
def runner(tiny_parts):
    runner = make_runner(*tiny_parts)
    yield runner
    runner.close()


def result_folders(runner) -> list:
    return sorted(p.name for p in runner.root.iterdir())


@pytest.mark.parametrize("box", ["-500, -500, 100, 100", "-200, 10, 150, 40", "5000, 5000, 10, 10"])
def test_box_entirely_outside_the_photo_is_refused(runner, box):
    result = runner.process(png_bytes(), "box", box)
    assert not result.ok and result.overlay is None and result.json_path is None and result.glb_path is None
    assert result.message.startswith("**Could not process the photo:**")
    assert "lies entirely outside the 96x80 image" in result.message
    assert result_folders(runner) == []  # nothing written for it


def test_box_partly_outside_the_photo_is_clipped_and_said(runner):
    import json

    result = runner.process(png_bytes(), "box", "-40, -30, 90, 70")
    assert result.ok, result.message
    from eanet.web.app import warnings_markdown

    # shown to the user with the result, in the warnings box above the pictures
    assert "reaches outside the 96x80 image" in warnings_markdown(result.warnings) and "warning" in result.message
    data = json.loads(result.json_path.read_text())
    assert data["crop"]["hands_box_xywh"] == [0.0, 0.0, 50.0, 40.0]


def test_non_finite_output_is_a_message_not_a_nan_mesh(tiny_parts):
    model, hand_models = tiny_parts

    class Overflowing:
        """The tiny EANet with its left-hand vertices overflowed (as a reduced-precision path can do)."""

        input_size, feature_grid = model.input_size, model.feature_grid

        def __call__(self, img):
            pred = model(img)
            pred.left.verts_cam[:] = float("inf")
            return pred

    runner = make_runner(Overflowing(), hand_models)
    try:
        result = runner.process(png_bytes(), "cropped")
        assert not result.ok and result.glb_path is None
        assert "not finite" in result.message and "left.verts_cam" in result.message
        assert result_folders(runner) == []
    finally:
        runner.close()


def test_full_disk_gives_a_message_and_no_half_written_download(runner, monkeypatch):
    import eanet.inference.export as export

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(export, "atomic_write_bytes", disk_full)
    result = runner.process(png_bytes(), "cropped")
    assert not result.ok and result.json_path is None and result.glb_path is None
    assert result.message.startswith("**Could not process the photo:**")
    assert "could not save the result files (No space left on device)" in result.message
    assert result_folders(runner) == []  # the result folder with nothing complete in it is removed

    monkeypatch.undo()  # the demo keeps serving once space is back
    assert runner.process(png_bytes(), "cropped").ok


def test_too_small_upload_names_the_predictors_minimum(runner):
    from eanet.inference.inputs import MIN_IMAGE_SIDE_PX

    result = runner.process(png_bytes(8, 8), "cropped")
    assert not result.ok and f"at least {MIN_IMAGE_SIDE_PX} px" in result.message
    assert runner.settings.limits.min_side == MIN_IMAGE_SIDE_PX  # one minimum for the demo and the CLI
