"""The web demo end to end in headless Chromium (Debian's ``chromium`` driven by Playwright): upload a photo, get
the overlay, the side view and the 3D viewer, download the JSON and GLB, take a screenshot; a bad upload shows an
error; the page asks nothing of any host but the demo's own.

Needs ``/usr/bin/chromium`` (``apt-get install -y chromium chromium-driver``; ``.ci/run`` installs it) and the
``playwright`` package; never ``playwright install``. Skipped with the reason when either is missing.

``EANET_WEB_SCREENSHOT=docs/images/web_demo.png`` also writes the page's screenshot there (the README picture).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_IMAGE = REPO_ROOT / ".." / "shared" / "assets" / "images" / "example_image1.png"
CHROMIUM = Path(os.environ.get("EANET_CHROMIUM", "/usr/bin/chromium"))
#: Flags that keep Chromium off the network and away from the user's profile and GPU.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TIMEOUT_MS = 60_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser_available():
    if not CHROMIUM.is_file():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium chromium-driver)")
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


@pytest.fixture(scope="module")
def demo_url(browser_available, tiny_predictor):
    """The demo on 127.0.0.1 at a free port, in this process, with a tiny random model."""
    from eanet.web.app import DemoSettings, build_app, launch_app

    app = build_app(tiny_predictor, DemoSettings(detection=False))
    _, url = launch_app(app, "127.0.0.1", _free_port(), block=False)
    assert url.startswith("http://127.0.0.1:")
    yield url
    app.close()
    app.eanet_runner.close()


@pytest.fixture
def page(demo_url, tmp_path):
    """A fresh Chromium profile and page; ``page.foreign_requests`` lists requests to any other host."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_FLAGS,
            headless=True,
            viewport={"width": 1400, "height": 1100},
            accept_downloads=True,
        )
        try:
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            origin = demo_url.rstrip("/")
            page.foreign_requests = []
            page.on(
                "request",
                lambda r: None if r.url.startswith((origin, "data:", "blob:")) else page.foreign_requests.append(r.url),
            )
            page.goto(demo_url)
            page.wait_for_selector("#eanet-run")
            yield page
        finally:
            context.close()


def _wait_for_upload(page, stem: str) -> None:
    """Until the upload widget lists the file (the page sends it to the server as soon as it is chosen)."""
    from playwright.sync_api import expect

    expect(page.locator("#eanet-upload")).to_contain_text(stem, timeout=TIMEOUT_MS)


def _photo(tmp_path: Path) -> Path:
    """The real example photo when the shared assets are there, else a synthetic one."""
    if EXAMPLE_IMAGE.is_file():
        return EXAMPLE_IMAGE
    from PIL import Image

    y, x = np.mgrid[0:320, 0:320]
    pixels = np.stack([x * 255 // 319, y * 255 // 319, np.full_like(x, 90)], -1).astype(np.uint8)
    path = tmp_path / "synthetic.png"
    Image.fromarray(pixels).save(path)
    return path


def _png_pixels(data: bytes) -> np.ndarray:
    import cv2

    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def test_upload_shows_overlay_3d_view_and_downloads(page, tmp_path):
    photo = _photo(tmp_path)
    page.locator("#eanet-upload input[type=file]").set_input_files(str(photo))
    _wait_for_upload(page, photo.stem)
    page.click("#eanet-run")

    overlay = page.locator("#eanet-overlay img")
    overlay.wait_for(state="visible")
    page.locator("#eanet-side img").wait_for(state="visible")
    page.locator("#eanet-3d canvas").wait_for(state="visible")
    assert page.locator("#eanet-status").inner_text().startswith("Done.")
    # the tiny model records no training data: the warning stands above the pictures
    assert "training data unknown" in page.locator("#eanet-warnings").inner_text()
    assert overlay.evaluate("img => img.naturalWidth") > 0
    # Gradio's label and buttons float over a picture's top; the legend or warnings there must stay visible.
    for picture in ("#eanet-overlay", "#eanet-side"):
        top = page.locator(f"{picture} img").bounding_box()["y"]
        for floating in (page.locator(f"{picture} label"), page.locator(f"{picture} .icon-button").first):
            box = floating.bounding_box()
            assert box["y"] + box["height"] <= top + 1, f"{picture}: Gradio's label or buttons cover the picture"

    # The overlay shows the photo with meshes: far from blank, and different from the bare photo.
    shown = _png_pixels(overlay.screenshot())
    assert shown.std() > 20, "overlay region looks blank"
    assert (shown.reshape(-1, 3) > 250).all(axis=1).mean() < 0.5, "overlay region is mostly white"

    for button, check in (("#eanet-json", "json"), ("#eanet-glb", "glb")):
        page.locator(button).wait_for(state="visible")
        with page.expect_download() as info:
            page.click(button)
        download = info.value
        path = tmp_path / download.suggested_filename
        download.save_as(path)
        if check == "json":
            assert path.name == "eanet_hands.json"
            data = json.loads(path.read_text())
            assert set(data["hands"]) == {"right", "left"} and len(data["hands"]["left"]["joints_cam"]) == 21
            assert data["source"] == "upload"  # the upload's file name is not used anywhere
        else:
            assert path.name == "eanet_hands.glb" and path.read_bytes()[:4] == b"glTF"

    shot = tmp_path / "web_demo.png"
    page.wait_for_timeout(1000)  # the 3D viewer's first frames
    page.screenshot(path=str(shot), full_page=True)
    pixels = _png_pixels(shot.read_bytes())
    assert pixels.shape[0] > 500 and pixels.shape[1] > 1000 and pixels.std() > 20
    target = os.environ.get("EANET_WEB_SCREENSHOT")
    if target:
        shutil.copyfile(shot, target)
    assert page.foreign_requests == [], f"the page contacted other hosts: {page.foreign_requests}"


def test_bad_upload_shows_an_error(page, tmp_path):
    fake = tmp_path / "holiday.png"
    fake.write_text("this is not an image")  # a PNG by name only
    page.locator("#eanet-upload input[type=file]").set_input_files(str(fake))
    _wait_for_upload(page, "holiday")
    page.click("#eanet-run")
    from playwright.sync_api import expect

    expect(page.locator("#eanet-status")).to_contain_text("Could not process the photo", timeout=TIMEOUT_MS)
    assert "not a JPEG, PNG, WebP or BMP" in page.locator("#eanet-status").inner_text()
    assert page.locator("#eanet-overlay img").count() == 0
    assert not page.locator("#eanet-json").is_visible()
    assert page.foreign_requests == []
