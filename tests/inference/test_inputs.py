"""Reading inputs: files, arrays, folders, globs; clear errors for missing, truncated, non-image and huge files."""

from __future__ import annotations

import numpy as np
import pytest
from inference_helpers import write_test_image

from eanet.inference.inputs import InputError, as_rgb_array, collect_inputs, load_image


def test_load_image_and_arrays(image_dir):
    rgb = load_image(image_dir / "a.png")
    assert rgb.shape == (80, 96, 3) and rgb.dtype == np.uint8
    assert as_rgb_array(np.zeros((4, 5), np.uint8)).shape == (4, 5, 3)
    assert as_rgb_array(np.zeros((4, 5, 4), np.uint8)).shape == (4, 5, 3)
    assert as_rgb_array(np.full((4, 5, 3), 1.0)).max() == 255
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        as_rgb_array(np.full((4, 5, 3), 2.0))
    with pytest.raises(InputError, match="dtype"):
        as_rgb_array(np.zeros((4, 5, 3), np.int64))
    with pytest.raises(InputError, match="path, a NumPy array or a PIL image"):
        as_rgb_array(42)


def test_bad_files_say_what_is_wrong(image_dir, tmp_path):
    cut = tmp_path / "cut.jpg"
    cut.write_bytes((image_dir / "b.jpg").read_bytes()[:300])
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x00" * 100)
    cases = {tmp_path / "none.png": "does not exist", cut: "truncated", junk: "not an image", image_dir: "folder"}
    for path, message in cases.items():
        with pytest.raises(InputError, match=message) as info:
            load_image(path)
        assert str(path) in str(info.value)


def test_huge_images_are_refused_from_the_header(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    write_test_image(path, 400, 300)
    with pytest.raises(InputError, match="megapixels"):
        load_image(path, max_pixels=100_000)
    import eanet.inference.inputs as inputs

    def no_decode(*_a, **_k):
        raise AssertionError("decoded a refused image")

    monkeypatch.setattr(inputs, "read_image", no_decode)  # the header check comes first (where load_image looks it up)
    with pytest.raises(InputError, match="megapixels"):
        load_image(path, max_pixels=100_000)


def test_collect_files_folders_globs_and_problems(image_dir, tmp_path):
    (image_dir / "notes.txt").write_text("skip me")
    (image_dir / "clip.mp4").write_bytes(b"")
    empty = tmp_path / "empty"
    empty.mkdir()
    items = collect_inputs([str(image_dir), str(image_dir / "a.png"), str(tmp_path / "*.none"), str(empty),
                            str(tmp_path / "missing.jpg"), str(image_dir / "*.jpg")])  # fmt: skip
    ok = [it for it in items if it.error is None]
    assert [it.path.name for it in ok] == ["a.png", "b.jpg", "clip.mp4"]  # duplicates dropped, .txt skipped
    assert [it.kind for it in ok] == ["image", "image", "video"]
    errors = {it.source: it.error for it in items if it.error}
    assert "matches no images" in errors[str(tmp_path / "*.none")]
    assert "holds no images or videos" in errors[str(empty)]
    assert "no such file" in errors[str(tmp_path / "missing.jpg")]
    nested = image_dir / "sub"
    nested.mkdir()
    write_test_image(nested / "c.png", 20, 20)
    assert len(collect_inputs([str(image_dir)], recursive=True)) == 4
