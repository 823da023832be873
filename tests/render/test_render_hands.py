"""Hand-pair presentation, the gallery writer and the ``eanet render-hands`` command."""

from __future__ import annotations

import numpy as np
import pytest

from eanet.cli import main
from eanet.hand_model.skeleton import JOINTS_21
from eanet.render.hands import hand_pair, presentation_rotation, render_hand_gallery


def _model_frame_joints(side: str) -> np.ndarray:
    """MANO-like right hand: fingers along -x, back of the hand +y, thumb side +z; the left hand mirrors x."""
    joints = np.zeros((21, 3))
    joints[JOINTS_21.index("Middle_1")] = (-0.09, 0.0, 0.0)
    joints[JOINTS_21.index("Index_1")] = (-0.085, 0.0, 0.022)
    joints[JOINTS_21.index("Pinky_1")] = (-0.075, 0.0, -0.035)
    if side == "left":
        joints[:, 0] *= -1
    return joints


@pytest.mark.parametrize("side, thumb_x", [("right", 1.0), ("left", -1.0)])
def test_presentation_rotation_fingers_up_palm_to_camera(side, thumb_x):
    rot = presentation_rotation(_model_frame_joints(side), side)
    assert np.linalg.det(rot) == pytest.approx(1.0)
    finger = np.array([-1.0 if side == "right" else 1.0, 0.0, 0.0])
    np.testing.assert_allclose(rot @ finger, [0, -1, 0], atol=1e-9)  # fingers up in the image
    np.testing.assert_allclose(rot @ [0, 1, 0], [0, 0, 1], atol=1e-9)  # back of the hand away from the camera
    # Thumbs towards each other: the right hand (image left) has its thumb on the right.
    np.testing.assert_allclose(rot @ [0, 0, 1], [thumb_x, 0, 0], atol=1e-9)


@pytest.fixture
def random_layers(make_random_hand_data):
    from eanet.hand_model import HandModelLayer

    return (
        HandModelLayer(make_random_hand_data("right"), flat_hand_mean=True),
        HandModelLayer(make_random_hand_data("left"), flat_hand_mean=True),
    )


def test_hand_pair_puts_the_right_hand_on_the_left(random_layers):
    right, left = hand_pair(*random_layers, np.zeros(45), betas=(1.0, -1.0), gap_m=0.02)
    assert right.verts[:, 0].max() == pytest.approx(-0.01, abs=1e-6)
    assert left.verts[:, 0].min() == pytest.approx(0.01, abs=1e-6)
    assert len(right.faces) == random_layers[0].faces.shape[0]


def test_gallery_writes_images_and_a_sheet(random_layers, tmp_path, torch_renderer):
    import cv2

    gallery = render_hand_gallery(
        *random_layers,
        tmp_path,
        {"flat": np.zeros(45)},
        views=("palm", "side"),
        size=(32, 24),  # the random test hand is a blob of huge triangles: keep the images tiny
        renderer=torch_renderer,
        prefix="test",
    )
    assert len(gallery.images) == 4  # 1 pose x 2 shapes x 2 views
    for path in gallery.images:
        image = cv2.imread(str(path))
        assert image.shape == (24, 32, 3)
        assert np.any(image != image[0, 0])  # something was drawn over the plain background
    assert gallery.sheet.name == "test_sheet.png" and cv2.imread(str(gallery.sheet)) is not None


def _open_hand_available() -> bool:
    try:
        from eanet.hand_model import load_hand_model_data

        load_hand_model_data("open", "right")
    except Exception:  # noqa: BLE001 - the open hand may not be installed in this checkout
        return False
    return True


@pytest.mark.skipif(not _open_hand_available(), reason="the built-in open hand model is not available")
def test_render_hands_command_writes_pngs(tmp_path):
    code = main(
        ["render-hands", "--out", str(tmp_path), "--poses", "fist", "--views", "palm", "--image-size", "64x48",
         "--render-backend", "torch"]
    )  # fmt: skip
    assert code == 0
    names = sorted(p.name for p in tmp_path.glob("*.png"))
    assert names == ["open_hand_fist_mean_palm.png", "open_hand_fist_varied_palm.png", "open_hand_sheet.png"]


@pytest.mark.mano_assets
def test_render_hands_command_renders_mano(tmp_path, mano_dir):
    # Renders derived from MANO: written to a temporary directory only, never kept.
    code = main(
        ["render-hands", "--hand-model", "mano", "--mano-dir", str(mano_dir), "--out", str(tmp_path), "--poses",
         "point", "--views", "side", "--image-size", "48x48", "--render-backend", "torch"]
    )  # fmt: skip
    assert code == 0
    assert (tmp_path / "mano_hand_point_mean_side.png").is_file()


def test_render_hands_command_rejects_unknown_names(tmp_path, capsys):
    assert main(["render-hands", "--out", str(tmp_path), "--poses", "nope"]) == 2
    assert "unknown pose" in capsys.readouterr().err
    assert main(["render-hands", "--out", str(tmp_path), "--views", "top"]) == 2
    assert "unknown view" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
