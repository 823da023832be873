"""The local web demo: upload a photo, see both hand meshes over it, turn them in a 3D viewer, download JSON and GLB.

Everything the demo computes goes through :class:`eanet.inference.predictor.Predictor` and the inference package's
renders and writers (:func:`~eanet.inference.visualize.render_prediction`,
:func:`~eanet.inference.export.write_json`, :func:`~eanet.inference.export.write_glb`); this module only adds the
page, upload checks and file housekeeping.

Security (see ``docs/web.md``):

* Gradio's usage analytics are off (``GRADIO_ANALYTICS_ENABLED=False`` is set before Gradio is imported, and
  ``analytics_enabled=False``), and the server binds to ``127.0.0.1`` unless told otherwise; there is no share link.
* Uploads arrive as bytes (:func:`eanet.web.uploads.decode_upload`): size, type (by content) and pixel count are
  checked before decoding; no file name or path from the browser is used.
* Results are written under a private temporary directory (mode 0700) with generated names; only the most recent
  ``keep_results`` results are kept and the directory is removed when the demo closes.
"""

from __future__ import annotations

import os

# Before Gradio is imported anywhere through this module: no usage analytics or version checks sent out.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

import importlib.util  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import uuid  # noqa: E402
import weakref  # noqa: E402
from collections import deque  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from eanet.errors import UserError  # noqa: E402
from eanet.inference.detect import default_detector_model_path
from eanet.inference.export import write_glb, write_json
from eanet.inference.inputs import parse_box  # noqa: E402
from eanet.inference.reliability import warning_code
from eanet.inference.visualize import render_prediction
from eanet.render import Renderer
from eanet.web.uploads import ALLOWED_SUFFIXES, UploadError, UploadLimits, decode_upload  # noqa: E402

__all__ = [
    "DemoSettings",
    "DemoResult",
    "DemoRunner",
    "MODES",
    "warnings_markdown",
    "build_app",
    "launch_app",
]

logger = logging.getLogger(__name__)

#: How the crop is chosen: label shown -> internal name.
MODE_CROPPED = "The photo is already cropped to the hands"
MODE_BOX = "Use my box around both hands"
MODE_DETECT = "Detect the hands (MediaPipe)"
MODES = {MODE_CROPPED: "cropped", MODE_BOX: "box", MODE_DETECT: "detect"}

JSON_NAME = "eanet_hands.json"
GLB_NAME = "eanet_hands.glb"


@dataclass(frozen=True)
class DemoSettings:
    """Settings of the web demo.

    Attributes:
        limits: upload limits (bytes, pixels).
        render_max_size: largest side of the overlay shown (larger photos are rendered downscaled).
        keep_results: result folders kept on disk (older ones are deleted; downloads of them stop working).
        title: page title.
        detection: offer MediaPipe detection (``None``: when MediaPipe and its model file are installed).
        fit: whether "fit the meshes to keypoints" starts ticked (it is always on for a predictor without a network).
    """

    limits: UploadLimits = field(default_factory=UploadLimits)
    render_max_size: int = 1024
    keep_results: int = 8
    title: str = "EANet: two interacting hands from one photo"
    detection: bool | None = None
    fit: bool = False


@dataclass
class DemoResult:
    """What one upload produced. ``message`` is Markdown for the status line; on failure only it is set.

    ``warnings`` are the prediction's (:mod:`eanet.inference.reliability`: synthetic or unknown training data, low
    confidence, ...), shown above the pictures; each has a ``code`` (``summary["warning_codes"]``).
    """

    ok: bool
    message: str
    overlay: np.ndarray | None = None
    side: np.ndarray | None = None
    glb_path: Path | None = None
    json_path: Path | None = None
    summary: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)


def warnings_markdown(warnings: list[str]) -> str:
    """The warnings box above the pictures: one bold line per warning with its code ("" when there are none)."""
    lines = [f"- ⚠️ **{_escape(str(w))}** (`{warning_code(w)}`)" for w in warnings]
    return ("### Read this before trusting the result\n" + "\n".join(lines)) if lines else ""


def _escape(text: str) -> str:
    # Warnings quote paths and settings: keep Markdown from reading their underscores and stars as emphasis (text in
    # backticks, e.g. `--fit keypoints`, is shown as code, where nothing needs escaping).
    parts = re.split(r"(`[^`]*`)", text)
    return "".join(part if part.startswith("`") else re.sub(r"([\\*_\[\]<>])", r"\\\1", part) for part in parts)


def detection_available(predictor: Any) -> tuple[bool, str]:
    """Whether MediaPipe and its model file are installed; ``(available, why not)``."""
    if importlib.util.find_spec("mediapipe") is None:
        return False, "MediaPipe is not installed (pip install 'eanet[detect]'; then `eanet detector fetch`)"
    configured = getattr(predictor.config, "detector_model_path", None)
    path = Path(configured).expanduser() if configured else default_detector_model_path()
    if not path.is_file():
        return False, f"the hand-landmarker model {path} is missing (`eanet detector fetch` makes it)"
    return True, ""


class DemoRunner:
    """Runs uploads through the predictor, renders and writes the results (one worker thread for all of it).

    Args:
        predictor: a :class:`~eanet.inference.predictor.Predictor` (PyTorch or ONNX Runtime backed).
        settings: see :class:`DemoSettings`.
        renderer: an :class:`eanet.render.Renderer` (default: one with the predictor's ``render_backend``).

    All prediction and rendering runs on one dedicated thread: an OpenGL context belongs to the thread that made
    it, and the model is not re-entrant.
    """

    def __init__(self, predictor: Any, settings: DemoSettings | None = None, renderer: Any = None) -> None:
        self.predictor = predictor
        self.settings = settings or DemoSettings()
        if self.settings.detection is None:
            self.detection, self.detection_note = detection_available(predictor)
        else:
            self.detection = bool(self.settings.detection)
            self.detection_note = "" if self.detection else "turned off in the demo's settings"
        self._renderer = renderer
        self._owns_renderer = renderer is None
        self.root = Path(tempfile.mkdtemp(prefix="eanet-web-"))  # mode 0700: private to this user
        self._recent: deque[Path] = deque()
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eanet-web")
        self._finalizer = weakref.finalize(self, DemoRunner._cleanup, self.root, self._executor)

    @staticmethod
    def _cleanup(root: Path, executor: ThreadPoolExecutor) -> None:
        executor.shutdown(wait=False, cancel_futures=True)
        shutil.rmtree(root, ignore_errors=True)

    @property
    def renderer(self):
        if self._renderer is None:
            self._renderer = Renderer(getattr(self.predictor.config, "render_backend", "auto"))
        return self._renderer

    def close(self) -> None:
        """Release the renderer and delete every result written (safe to call more than once)."""
        if not self._finalizer.alive:
            return
        if self._owns_renderer and self._renderer is not None:
            self._executor.submit(self._renderer.close).result()  # on the thread that owns the GL context
            self._renderer = None
        self._finalizer()

    # ------------------------------------------------------------------------------------------------------------

    def process(self, data: bytes | None, mode: str = "cropped", box_text: str | None = None,
                fit: bool = False) -> DemoResult:  # fmt: skip
        """Check an upload, predict, render and write the outputs; failures come back as a message.

        Args:
            data: the uploaded file's bytes (None: nothing uploaded).
            mode: ``cropped``, ``box`` or ``detect`` (or one of the :data:`MODES` labels).
            box_text: ``"x, y, w, h"`` for ``box``.
            fit: fit the meshes to MediaPipe's keypoints (:mod:`eanet.inference.fit`; always on without a network).
        """
        mode = MODES.get(mode, mode)
        fit = bool(fit) or not getattr(self.predictor, "has_network", True)
        try:
            if data is None:
                raise UploadError("upload a photo first (JPEG, PNG, WebP or BMP)")
            if mode not in ("cropped", "box", "detect"):
                raise UploadError(f"unknown mode {mode!r}")
            if (mode == "detect" or fit) and not self.detection:
                what = "hand detection" if mode == "detect" else "fitting to keypoints (it uses MediaPipe)"
                raise UploadError(f"{what} is not available here: {self.detection_note}")
            image = decode_upload(data, self.settings.limits)
            box = parse_box(box_text) if mode == "box" else None
            return self._executor.submit(self._predict, image, mode, box, fit).result()
        except UserError as err:
            logger.info("refused an upload: %s", err)
            return DemoResult(ok=False, message=f"**Could not process the photo:** {err}")
        except Exception as err:  # a bug, not the user's input: keep serving, details in the server log
            logger.exception("processing an upload failed")
            return DemoResult(
                ok=False, message=f"**Internal error** ({type(err).__name__}); the server log has the details"
            )

    def _predict(self, image: np.ndarray, mode: str, box: tuple[float, ...] | None, fit: bool = False) -> DemoResult:
        prediction = self.predictor.predict(image, box, cropped=mode == "cropped", fit="keypoints" if fit else "none")
        renders = render_prediction(prediction, image, self.renderer, max_size=self.settings.render_max_size)
        data = prediction.to_dict(include_vertices=True)
        data["source"] = "upload"
        data["files"] = {"glb": GLB_NAME}
        data["mesh_axes"] = {"glb": "yup"}
        out = None
        try:
            out = self._new_result_dir()
            json_path = write_json(data, out / JSON_NAME)
            glb_path = write_glb({side: (hand.verts_cam, hand.faces) for side, hand in prediction.hands()},
                                 out / GLB_NAME)  # fmt: skip
        except OSError as err:  # e.g. a full disk: no half-written download is offered
            if out is not None:
                shutil.rmtree(out, ignore_errors=True)
            logger.error("could not write the result files in %s: %s", out or self.root, err)
            raise UserError(
                f"the server could not save the result files ({err.strerror or err}); tell whoever runs the demo"
            ) from None
        summary = {
            "confidence": data["confidence"],
            "warnings": data["warnings"],
            "warning_codes": data["warning_codes"],
            "crop_box_xywh": data["crop"].get("box_xywh"),
            "rel_trans_m": data["rel_trans"],
            "root_cam_m": {side: h["root_cam"] for side, h in data["hands"].items()},
        }
        count = len(prediction.warnings)
        message = f"**Done.** Confidence {prediction.confidence:.2f}" + _fit_line(prediction, summary) + (
            f". **{count} warning{'s' if count > 1 else ''}** (above the pictures)." if count else "."
        )
        return DemoResult(True, message, renders.overlay, renders.side, glb_path, json_path, summary,
                          list(prediction.warnings))  # fmt: skip

    def _new_result_dir(self) -> Path:
        with self._lock:
            path = self.root / uuid.uuid4().hex
            path.mkdir(mode=0o700)
            self._recent.append(path)
            while len(self._recent) > self.settings.keep_results:
                shutil.rmtree(self._recent.popleft(), ignore_errors=True)
            return path


def _fit_line(prediction: Any, summary: dict[str, Any]) -> str:
    """``. Fitted to keypoints: right 22.8 -> 7.9 px, ...`` (mean 2D keypoint distance), and the summary's ``fit``."""
    report = getattr(prediction, "fit", None)
    if report is None:
        return ""
    parts = []
    for side, hand in report.hands():
        if hand.fitted:
            parts.append(f"{side} {hand.keypoint_dist_px_before:.1f} -> {hand.keypoint_dist_px_after:.1f} px")
        summary.setdefault("fit", {})[side] = hand.to_dict()
    return ". Fitted to keypoints (mean 2D distance): " + ", ".join(parts) if parts else ". Not fitted to keypoints"


# ----------------------------------------------------------------------------------------------------------------

_INTRO = """\
# {title}

Upload a photo of two interacting hands. EANet ([Park et al., ICCVW 2023](https://arxiv.org/abs/2309.01943))
predicts both hands' 3D meshes; the overlay shows them through the estimated camera, the 3D view can be turned with
the mouse, and the JSON (parameters, joints, vertices, camera) and GLB (both meshes) can be downloaded.

Limits: JPEG, PNG, WebP or BMP; at most {max_mb:.0f} MB and {max_mp:.0f} megapixels. Photos are processed on this
machine and are not kept: results are deleted when the demo stops.
"""


def build_app(predictor: Any, settings: DemoSettings | None = None, *, runner: DemoRunner | None = None):
    """The demo page as a ``gradio.Blocks`` (not launched; see :func:`launch_app`).

    Args:
        predictor: a :class:`~eanet.inference.predictor.Predictor`.
        settings: see :class:`DemoSettings`.
        runner: a ready :class:`DemoRunner` (default: one made here for ``predictor``); it is closed with the app.

    Returns:
        The ``gr.Blocks``; its ``eanet_runner`` attribute is the runner.
    """
    import gradio as gr

    settings = settings or DemoSettings()
    runner = runner or DemoRunner(predictor, settings)
    limits = settings.limits
    modes = [MODE_CROPPED, MODE_BOX] + ([MODE_DETECT] if runner.detection else [])

    # What the model was trained on is known before any upload: the page says it from the start.
    model_notes = warnings_markdown(list(getattr(predictor, "model_warnings", [])))

    def on_submit(data, mode, box_text, fit):
        result = runner.process(data, mode, box_text, fit)
        if not result.ok:
            return (result.message, model_notes, None, None, None, None, gr.DownloadButton(visible=False),
                    gr.DownloadButton(visible=False))  # fmt: skip
        return (
            result.message,
            warnings_markdown(result.warnings),
            result.overlay,
            result.side,
            str(result.glb_path),
            result.summary,
            gr.DownloadButton(value=str(result.json_path), visible=True),
            gr.DownloadButton(value=str(result.glb_path), visible=True),
        )

    with gr.Blocks(title=settings.title, analytics_enabled=False, delete_cache=(600, 3600)) as app:
        gr.Markdown(_INTRO.format(title=settings.title, max_mb=limits.max_bytes / 2**20, max_mp=limits.max_pixels / 1e6))
        with gr.Row():
            with gr.Column(scale=1):
                upload = gr.File(
                    label="Photo (JPEG, PNG, WebP, BMP)",
                    file_count="single",
                    file_types=list(ALLOWED_SUFFIXES),
                    type="binary",
                    elem_id="eanet-upload",
                )
                mode = gr.Radio(modes, value=MODE_CROPPED, label="Where are the hands?", elem_id="eanet-mode")
                box = gr.Textbox(
                    label="Box around both hands: x, y, width, height (pixels)",
                    placeholder="e.g. 120, 80, 300, 260",
                    elem_id="eanet-box",
                )
                fit = gr.Checkbox(
                    value=settings.fit or not getattr(predictor, "has_network", True),
                    label="Fit the meshes to MediaPipe's 21 keypoints per hand (about a second)",
                    interactive=runner.detection and getattr(predictor, "has_network", True),
                    visible=runner.detection,
                    elem_id="eanet-fit",
                )
                if not runner.detection:
                    gr.Markdown(f"Automatic hand detection is off: {runner.detection_note}.")
                run = gr.Button("Reconstruct the hands", variant="primary", elem_id="eanet-run")
                status = gr.Markdown("Upload a photo, then press the button.", elem_id="eanet-status")
            with gr.Column(scale=2):
                warnings_box = gr.Markdown(model_notes, elem_id="eanet-warnings")
                with gr.Row():
                    overlay = gr.Image(label="Meshes over the photo", type="numpy", interactive=False, format="png",
                                       buttons=["download", "fullscreen"], elem_id="eanet-overlay")  # fmt: skip
                    side = gr.Image(label="Side view (turned 90 degrees)", type="numpy", interactive=False,
                                    format="png", buttons=["download", "fullscreen"], elem_id="eanet-side")  # fmt: skip
                viewer = gr.Model3D(label="Both hands in 3D (drag to turn)", clear_color=(1.0, 1.0, 1.0, 1.0),
                                    height=420, interactive=False, elem_id="eanet-3d")  # fmt: skip
                with gr.Row():
                    json_button = gr.DownloadButton("Download JSON", visible=False, elem_id="eanet-json")
                    glb_button = gr.DownloadButton("Download GLB", visible=False, elem_id="eanet-glb")
                with gr.Accordion("Summary (the JSON file has everything)", open=False):
                    summary = gr.JSON(show_label=False, elem_id="eanet-summary")
        run.click(
            on_submit,
            inputs=[upload, mode, box, fit],
            outputs=[status, warnings_box, overlay, side, viewer, summary, json_button, glb_button],
            concurrency_limit=1,
            api_name="reconstruct",
        )
    app.eanet_runner = runner
    weakref.finalize(app, runner.close)
    return app


#: Gradio floats each picture's label (top left) and buttons (top right) over the picture, where the right/left
#: legend or the warnings badge may be: the pictures start below them.
PICTURE_CSS = "#eanet-overlay .image-frame, #eanet-side .image-frame { padding-top: 36px; }"


def launch_app(app, host: str = "127.0.0.1", port: int | None = 7860, *, block: bool = True,
               settings: DemoSettings | None = None):  # fmt: skip
    """Start the server (no share link, analytics off, upload size limited). Returns ``(app, local_url)``.

    Args:
        app: from :func:`build_app`.
        host: interface to bind; ``127.0.0.1`` keeps the demo on this machine.
        port: TCP port (None: Gradio picks a free one from 7860 up).
        block: wait until interrupted (the CLI); False returns at once (tests).
        settings: for the upload limit (default: the app runner's).
    """
    settings = settings or app.eanet_runner.settings
    if host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning(
            "serving on %s: anyone who can reach this machine on port %s can use the demo (there is no login)",
            host, port,
        )  # fmt: skip
    app.queue(max_size=16, default_concurrency_limit=1)
    _, local_url, _ = app.launch(
        server_name=host,
        server_port=port,
        share=False,
        prevent_thread_lock=True,
        max_file_size=settings.limits.max_bytes,
        show_error=False,
        quiet=True,
        footer_links=[],
        run_history=False,
        mcp_server=False,
        ssr_mode=False,
        css=PICTURE_CSS,
    )
    logger.info("EANet web demo at %s (Ctrl-C stops it)", local_url)
    if block:
        app.block_thread()  # until Ctrl-C / SIGTERM; closes the server
    return app, local_url
