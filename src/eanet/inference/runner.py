"""``eanet predict`` as a library function: many inputs (images and videos) to files under one output folder.

Per image ``<out>/<name>/``: ``prediction.json``, ``right.obj``, ``left.obj``, ``right.ply``, ``left.ply``,
``hands.glb``, ``overlay.png`` (meshes over the input with the predicted camera), ``side.png`` (side view),
``joints.png`` (2D joints). Per video ``<out>/<name>/``: ``overlay.mp4``, ``frames/frame_<N>.json`` (smoothed),
``video.json`` (per-frame status). ``<out>/summary.json`` lists every input with its status.

Every per-input failure, whatever its cause, becomes a failed entry with a message and the other inputs are still
processed: a bad input (missing, empty, truncated, not an image, a FIFO, too large or too small, an empty folder, an
undecodable video, no hands found, a box outside the image), a network output that is not finite, a file that cannot
be written (disk full), and unexpected errors (their traceback is logged at DEBUG level, ``eanet -v``). A network
pass that fails for a batch is retried one input at a time, so one bad input cannot fail the others.

Every output file is written atomically (:mod:`eanet.fileio`): a full disk leaves complete files or none, and the
entry of an input whose outputs could not all be written lists the complete ones under ``outputs`` and names the
missing ones in ``error``. When ``summary.json`` itself cannot be written the returned :class:`RunSummary` says so
(``summary_error``), and the command prints every input's status on stdout anyway.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eanet.errors import UserError
from eanet.fileio import atomic_write_bytes
from eanet.inference.export import write_json, write_prediction_meshes
from eanet.inference.failures import (
    OutputWriteError,
    describe_write_error,
    failure_message,
    run_isolated,
    strip_source_prefix,
)
from eanet.inference.inputs import InputItem
from eanet.inference.reliability import MODEL_CODES, warning_code, warning_codes
from eanet.inference.result import FailedPrediction
from eanet.inference.smoothing import SmoothingSettings
from eanet.inference.video import predict_video
from eanet.inference.visualize import render_prediction
from eanet.render import Renderer

__all__ = [
    "OutputOptions",
    "InputReport",
    "RunSummary",
    "check_output_dir",
    "predict_inputs",
    "write_image_outputs",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutputOptions:
    """What to write per input and how (crop choice, camera, formats)."""

    cropped: bool = False
    bbox: tuple[float, float, float, float] | None = None
    intrinsics: Any = None
    meshes: bool = True
    renders: bool = True
    json_vertices: bool = True
    mesh_axes: str = "opencv"
    render_max_size: int = 1600
    render_backend: str = "auto"
    progress: bool = True


@dataclass
class InputReport:
    """The outcome of one input: ``status`` ``ok`` or ``failed``; ``outputs`` name -> path."""

    source: str
    kind: str
    status: str
    outputs: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    confidence: float | None = None
    warnings: list[str] = field(default_factory=list)
    frames: dict[str, int] | None = None
    #: ``--fit keypoints``: :meth:`eanet.inference.fit.FitReport.summary` (status, keypoint distances).
    fit: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"source": self.source, "kind": self.kind, "status": self.status, "outputs": self.outputs}
        for key in ("error", "confidence", "frames", "fit"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.warnings:
            out["warnings"] = [str(w) for w in self.warnings]
            out["warning_codes"] = warning_codes(self.warnings)
        return out


def check_output_dir(path: str | Path) -> Path:
    """Create the output folder if needed and make sure files can be written in it (before any model is loaded).

    Raises:
        UserError: the path is an existing file, cannot be created, or is not writable (read-only file system,
            permissions); the message names the path and the reason.
    """
    import tempfile

    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise UserError(f"--out {str(path)!r} is an existing file, not a folder; give a folder (created if missing)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create the output folder {str(path)!r}: {describe_write_error(err)}") from None
    try:
        fd, probe = tempfile.mkstemp(prefix=".eanet-write-test-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise UserError(f"cannot write in the output folder {str(path)!r}: {describe_write_error(err)}") from None
    return path


@dataclass
class RunSummary:
    """All inputs' reports; ``summary_path`` is None and ``summary_error`` says why when ``summary.json`` could not be
    written."""

    reports: list[InputReport]
    out_dir: Path
    summary_path: Path | None
    seconds: float
    summary_error: str | None = None
    #: The predictor's warnings about its model (synthetic or unknown training data, untrained): every image's
    #: result carries them; the printed lines show them once.
    model_warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[InputReport]:
        return [r for r in self.reports if r.status != "ok"]

    def lines(self) -> list[str]:
        """Human-readable lines: one per input, then the totals."""
        lines = []
        for r in self.reports:
            if r.status == "ok":
                where = Path(next(iter(r.outputs.values()))).parent if r.outputs else self.out_dir
                extra = f"confidence {r.confidence:.2f}" if r.confidence is not None else ""
                if r.fit is not None:
                    distances = r.fit["keypoint_dist_px"]
                    extra += "; fit: " + (", ".join(f"{side} {d['before']:.1f} -> {d['after']:.1f} px"
                                                     for side, d in distances.items()) or "not fitted")  # fmt: skip
                if r.frames:
                    extra = f"{r.frames['ok']}/{r.frames['total']} frames"
                    if r.frames.get("skipped"):
                        extra += f", {r.frames['skipped']} undecodable and skipped"
                lines.append(f"ok      {r.source} -> {where}/ ({extra})")
                own = [w for w in r.warnings if warning_code(w) not in MODEL_CODES]  # model warnings: once, below
                lines.extend(f"        warning [{warning_code(w)}]: {w}" for w in own[:3])
            else:
                lines.append(f"FAILED  {r.source}: {r.error}")
                if r.outputs:
                    kept = ", ".join(sorted(Path(v).name for v in r.outputs.values()))
                    lines.append(f"        complete files kept: {kept}")
        lines.extend(f"WARNING [{warning_code(w)}]: {w}" for w in self.model_warnings)
        ok = len(self.reports) - len(self.failed)
        where = (f"summary: {self.summary_path}" if self.summary_path is not None
                 else f"summary.json NOT written ({self.summary_error})")  # fmt: skip
        lines.append(f"{ok} of {len(self.reports)} input(s) done, {len(self.failed)} failed, in {self.seconds:.1f} s; "
                     f"{where}")  # fmt: skip
        return lines


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "input"


class _Names:
    """Unique per-input folder names (``photo``, ``photo_2``, ...)."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def __call__(self, path: Path | None, fallback: str) -> str:
        base = _slug(path.stem if path is not None else fallback)
        name, n = base, 1
        while name in self.used:
            n += 1
            name = f"{base}_{n}"
        self.used.add(name)
        return name


def write_image_outputs(prediction, image: np.ndarray, out_dir: Path, options: OutputOptions, renderer) -> dict[str, str]:
    """Write the JSON, meshes and renders of one image (each file atomically); returns name -> path.

    ``prediction.json`` is written last and lists the other files, so its presence means the input's outputs are
    complete.

    Raises:
        OutputWriteError: a file could not be written (e.g. the disk is full); ``written`` has the complete ones.
    """
    import cv2

    outputs: dict[str, str] = {}
    step = "the output folder"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        # A prediction.json left by an earlier run into the same --out would vouch for files this run replaces.
        (out_dir / "prediction.json").unlink(missing_ok=True)
        if options.meshes:
            step = "the meshes"
            write_prediction_meshes(prediction, out_dir, options.mesh_axes, written=outputs)
        if options.renders:
            t0 = time.perf_counter()
            renders = render_prediction(prediction, image, renderer, max_size=options.render_max_size)
            for name in ("overlay", "side", "joints"):
                path = out_dir / f"{name}.png"
                step = path.name
                ok, png = cv2.imencode(".png", cv2.cvtColor(getattr(renders, name), cv2.COLOR_RGB2BGR))
                if not ok:
                    raise OSError(f"OpenCV could not encode {path.name}")
                outputs[name] = str(atomic_write_bytes(path, png.tobytes()))
            prediction.timings_ms["render_ms"] = (time.perf_counter() - t0) * 1e3
        data = prediction.to_dict(include_vertices=options.json_vertices)
        data["files"] = {k: Path(v).name for k, v in outputs.items()}
        data["mesh_axes"] = {"obj_ply": options.mesh_axes, "glb": "yup"}
        step = "prediction.json"
        outputs = {"json": str(write_json(data, out_dir / "prediction.json")), **outputs}
    except OSError as err:
        expected = ["right.obj", "right.ply", "left.obj", "left.ply", "hands.glb"] if options.meshes else []
        expected += ["overlay.png", "side.png", "joints.png"] if options.renders else []
        complete = {Path(v).name for v in outputs.values()}
        missing = [n for n in [*expected, "prediction.json"] if n not in complete]
        raise OutputWriteError(
            f"writing {step} in {out_dir} failed: {describe_write_error(err)}; complete: "
            f"{', '.join(sorted(complete)) or 'none'}; not written: {', '.join(missing)}",
            outputs,
        ) from err
    return outputs


def predict_inputs(predictor, items: Sequence[InputItem], out_dir: str | Path, options: OutputOptions,
                   smoothing=None) -> RunSummary:  # fmt: skip
    """Run the predictor over collected inputs, writing every output; failures are recorded, not raised.

    Args:
        predictor: :class:`~eanet.inference.predictor.Predictor`.
        items: from :func:`eanet.inference.inputs.collect_inputs`.
        out_dir: output folder (created).
        options: what to write.
        smoothing: :class:`~eanet.inference.smoothing.SmoothingSettings` for videos (default: from the
            predictor's config).
    """
    from tqdm import tqdm

    t_start = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    smoothing = smoothing or SmoothingSettings.from_config(predictor.config)
    names = _Names()
    reports: list[InputReport | None] = [None] * len(items)
    renderer = Renderer(options.render_backend) if options.renders else None
    images = [(i, it) for i, it in enumerate(items) if it.error is None and it.kind == "image"]
    videos = [(i, it) for i, it in enumerate(items) if it.error is None and it.kind == "video"]
    for i, it in enumerate(items):
        if it.error is not None:
            reports[i] = InputReport(it.source, it.kind, "failed", error=it.error)
    bar = tqdm(total=len(images) + len(videos), desc="predict", unit="input", disable=not options.progress,
               dynamic_ncols=True)  # fmt: skip
    try:
        batch_size = predictor.config.batch_size
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            prepared = []
            for i, it in chunk:
                try:
                    if it.box is not None:
                        prep = predictor.prepare(it.path, it.box, box_format=it.box_format, source=it.source)
                    else:
                        prep = predictor.prepare(it.path, options.bbox, cropped=options.cropped, source=it.source)
                    prepared.append((i, it, prep))
                except Exception as err:  # noqa: BLE001 - one input's failure, whatever it is, is reported
                    reports[i] = InputReport(it.source, "image", "failed", error=failure_message(err, it.source))
                    bar.update(1)
            if not prepared:
                continue
            results = run_isolated(predictor, [p for _, _, p in prepared], options.intrinsics)
            for (i, it, prep), result in zip(prepared, results, strict=True):
                if isinstance(result, FailedPrediction):
                    reports[i] = InputReport(it.source, "image", "failed", error=strip_source_prefix(result.error, it.source))
                    bar.update(1)
                    continue
                folder = out_dir / names(it.path, it.source)
                try:
                    outputs = write_image_outputs(result, prep.image, folder, options, renderer)
                    reports[i] = InputReport(it.source, "image", "ok", outputs, confidence=result.confidence,
                                             warnings=list(result.warnings),
                                             fit=None if result.fit is None else result.fit.summary())  # fmt: skip
                except OutputWriteError as err:
                    reports[i] = InputReport(it.source, "image", "failed", err.written, error=str(err))
                except Exception as err:  # noqa: BLE001 - e.g. the renderer failing on this input
                    reports[i] = InputReport(it.source, "image", "failed", error=failure_message(err, it.source))
                bar.update(1)
        for i, it in videos:
            folder = out_dir / names(it.path, it.source)
            try:
                video = predict_video(predictor, it.path, folder, options, smoothing, renderer=renderer)
                reports[i] = InputReport(it.source, "video", "ok", video.outputs, frames=video.frame_counts,
                                         warnings=video.warnings)  # fmt: skip
                if video.frame_counts["ok"] == 0:
                    reports[i].status = "failed"
                    reports[i].error = "no frame could be predicted: " + (video.first_error or "unknown reason")
            except OutputWriteError as err:
                reports[i] = InputReport(it.source, "video", "failed", err.written, error=str(err))
            except Exception as err:  # noqa: BLE001 - one input's failure, whatever it is, is reported
                reports[i] = InputReport(it.source, "video", "failed", error=failure_message(err, it.source))
            bar.update(1)
    finally:
        bar.close()
        if renderer is not None:
            renderer.close()
    final = [r for r in reports if r is not None]
    summary_path: Path | None = out_dir / "summary.json"
    seconds = time.perf_counter() - t_start
    summary_error = None
    model_warnings = list(getattr(predictor, "model_warnings", []))
    try:
        write_json({"inputs": [r.to_dict() for r in final], "ok": sum(r.status == "ok" for r in final),
                    "failed": sum(r.status != "ok" for r in final), "seconds": round(seconds, 2),
                    "model_warnings": [{"code": warning_code(w), "message": str(w)} for w in model_warnings],
                    "model": predictor.model_info, "hand_model": predictor.hand_model_info}, summary_path)  # fmt: skip
    except OSError as err:
        summary_error = describe_write_error(err)
        logger.error("could not write %s: %s", summary_path, summary_error)
        summary_path = None
    return RunSummary(final, out_dir, summary_path, seconds, summary_error, model_warnings)
