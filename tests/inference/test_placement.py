"""Crops, the original image's camera and the translation solve (eanet.inference.placement)."""

from __future__ import annotations

import numpy as np
import pytest

from eanet.errors import InvalidInputError
from eanet.inference.placement import (
    apply_affine,
    default_focal,
    image_camera,
    make_crop,
    project,
    solve_translation,
    warp_crop,
)


def test_crop_is_square_grown_and_inverts():
    crop = make_crop((200, 100), np.array([50.0, 20.0, 80.0, 40.0]), (64, 64), extend=1.25)
    x, y, w, h = crop.box
    # official process_bbox: sanitised to the last pixel (w - 1), squared on the longer side, grown 1.25x
    assert w == pytest.approx(h) == pytest.approx(79 * 1.25)
    assert (x + w / 2, y + h / 2) == pytest.approx((89.5, 39.5))
    pts = np.array([[0.0, 0.0], [63.0, 10.0], [31.5, 31.5]])
    back = apply_affine(apply_affine(pts, crop.crop2img), crop.img2crop)
    np.testing.assert_allclose(back, pts, atol=1e-3)
    # the crop box's corners land on the crop's corners
    np.testing.assert_allclose(apply_affine(np.array([[x, y]]), crop.img2crop), [[0.0, 0.0]], atol=1e-3)


def test_warp_samples_where_the_affine_says():
    image = np.zeros((100, 120, 3), np.uint8)
    image[40:44, 70:74] = 255  # a bright square around (71.5, 41.5)
    crop = make_crop((120, 100), np.array([40.0, 20.0, 60.0, 50.0]), (64, 64))
    pixels = warp_crop(image, crop)
    ys, xs = np.nonzero(pixels[..., 0] > 100)
    found = apply_affine(np.array([[xs.mean(), ys.mean()]]), crop.crop2img)[0]
    np.testing.assert_allclose(found, [71.5, 41.5], atol=0.6)


def test_crop_as_given():
    crop = make_crop((120, 100), np.array([10.0, 5.0, 50.0, 50.0]), (64, 64), box_is_crop=True, source="crop")
    np.testing.assert_allclose(crop.box, [10, 5, 50, 50])
    assert crop.hands_box is None and crop.source == "crop"


@pytest.mark.parametrize("box", [[0, 0, 0, 10], [1e6, 1e6, 5, 5], [np.nan, 0, 4, 4], [1, 2, 3]])
def test_bad_boxes_are_refused(box):
    with pytest.raises(InvalidInputError):
        make_crop((120, 100), np.array(box, dtype=float), (64, 64))


def test_image_camera_variants():
    cam, how = image_camera(640, 480, fov_deg=60.0)
    assert cam.focal[0] == pytest.approx(default_focal(640, 480, 60.0)) == pytest.approx(320 / np.tan(np.pi / 6))
    assert cam.princpt == pytest.approx((319.5, 239.5)) and "guessed" in how
    assert image_camera(640, 480, 500.0)[0].focal == (500.0, 500.0)
    assert image_camera(640, 480, (500.0, 510.0, 300.0, 200.0))[0].princpt == (300.0, 200.0)
    K = np.array([[400.0, 0, 310], [0, 420.0, 250], [0, 0, 1]])
    np.testing.assert_allclose(image_camera(640, 480, K)[0].K, K)
    assert image_camera(640, 480, focal=900.0)[0].focal == (900.0, 900.0)
    with pytest.raises(InvalidInputError):
        image_camera(640, 480, (1.0, 2.0, 3.0))


def test_solve_translation_recovers_a_perspective_translation():
    rng = np.random.default_rng(0)
    points = rng.normal(scale=0.05, size=(21, 3))
    t_true = np.array([0.07, -0.03, 0.6])
    focal, princpt = (900.0, 880.0), (320.0, 240.0)
    uv = project(points + t_true, focal, princpt)
    t = solve_translation(points, uv, focal, princpt)
    np.testing.assert_allclose(t, t_true, atol=1e-9)
    # a weak prior barely moves an exact solution
    t2 = solve_translation(points, uv, focal, princpt, depth_prior=0.5)
    np.testing.assert_allclose(t2, t_true, atol=1e-4)
