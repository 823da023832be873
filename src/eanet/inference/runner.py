"""``eanet predict`` as a library function: many inputs (images and videos) to files under one output folder.

Per image ``<out>/<name>/``: ``prediction.json``, ``right.obj``, ``left.obj``, ``right.ply``, ``left.ply``,
``hands.glb``, ``overlay.png`` (meshes over the input with the predicted camera), ``side.png`` (side view),
``joints.png`` (2D joints). Per video ``<out>/<name>/``: ``overlay.mp4``, ``frames/frame_<N>.json`` (smoothed),
``video.json`` (per-frame status). ``<out>/summary.json`` lists every input with its status.

A bad input (missing, truncated, not an image, too large, an empty folder, an undecodable video, no hands found)
becomes a failed entry with a message; the other inputs are still processed.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eanet.errors import UserError
from eanet.inference.export import write_json, write_prediction_meshes
from eanet.inference.inputs import InputItem

__all__ = ["OutputOptions", "InputReport", "RunSummary", "predict_inputs", "write_image_outputs"]

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

    def to_dict(self) -> dict[str, Any]:
        out = {"source": self.source, "kind": self.kind, "status": self.status, "outputs": self.outputs}
        for key in ("error", "confidence", "frames"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.warnings:
            out["warnings"] = self.warnings
        return out


@dataclass
class RunSummary:
    reports: list[InputReport]
    out_dir: Path
    summary_path: Path
    seconds: float

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
                if r.frames:
                    extra = f"{r.frames['ok']}/{r.frames['total']} frames"
                lines.append(f"ok      {r.source} -> {where}/ ({extra})")
                lines.extend(f"        warning: {w}" for w in r.warnings[:3])
            else:
                lines.append(f"FAILED  {r.source}: {r.error}")
        ok = len(self.reports) - len(self.failed)
        lines.append(f"{ok} of {len(self.reports)} input(s) done, {len(self.failed)} failed, in {self.seconds:.1f} s; "
                     f"summary: {self.summary_path}")  # fmt: skip
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
    """Write the JSON, meshes and renders of one image; returns name -> path."""
    import cv2

    from eanet.inference.visualize import render_prediction

    out_dir.mkdir(parents=True, exist_ok=True)
    outputs: dict[str, str] = {}
    if options.meshes:
        outputs.update({k: str(v) for k, v in write_prediction_meshes(prediction, out_dir, options.mesh_axes).items()})
    if options.renders:
        t0 = time.perf_counter()
        renders = render_prediction(prediction, image, renderer, max_size=options.render_max_size)
        for name in ("overlay", "side", "joints"):
            path = out_dir / f"{name}.png"
            if not cv2.imwrite(str(path), cv2.cvtColor(getattr(renders, name), cv2.COLOR_RGB2BGR)):
                raise OSError(f"could not write {path}")
            outputs[name] = str(path)
        prediction.timings_ms["render_ms"] = (time.perf_counter() - t0) * 1e3
    data = prediction.to_dict(include_vertices=options.json_vertices)
    data["files"] = {k: Path(v).name for k, v in outputs.items()}
    data["mesh_axes"] = {"obj_ply": options.mesh_axes, "glb": "yup"}
    outputs = {"json": str(write_json(data, out_dir / "prediction.json")), **outputs}
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

    from eanet.inference.smoothing import SmoothingSettings
    from eanet.render import Renderer

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
                except UserError as err:
                    reports[i] = InputReport(it.source, "image", "failed", error=_message(err, it.source))
                    bar.update(1)
            if not prepared:
                continue
            results = predictor.run([p for _, _, p in prepared], intrinsics=options.intrinsics)
            for (i, it, prep), result in zip(prepared, results, strict=True):
                folder = out_dir / names(it.path, it.source)
                try:
                    outputs = write_image_outputs(result, prep.image, folder, options, renderer)
                    reports[i] = InputReport(it.source, "image", "ok", outputs, confidence=result.confidence,
                                             warnings=list(result.warnings))  # fmt: skip
                except (UserError, OSError) as err:
                    reports[i] = InputReport(it.source, "image", "failed", error=f"writing outputs failed: {err}")
                bar.update(1)
        for i, it in videos:
            from eanet.inference.video import predict_video

            folder = out_dir / names(it.path, it.source)
            try:
                video = predict_video(predictor, it.path, folder, options, smoothing, renderer=renderer)
                reports[i] = InputReport(it.source, "video", "ok", video.outputs, frames=video.frame_counts,
                                         warnings=video.warnings)  # fmt: skip
                if video.frame_counts["ok"] == 0:
                    reports[i].status = "failed"
                    reports[i].error = "no frame could be predicted: " + (video.first_error or "unknown reason")
            except UserError as err:
                reports[i] = InputReport(it.source, "video", "failed", error=_message(err, it.source))
            bar.update(1)
    finally:
        bar.close()
        if renderer is not None:
            renderer.close()
    final = [r for r in reports if r is not None]
    summary_path = out_dir / "summary.json"
    seconds = time.perf_counter() - t_start
    write_json({"inputs": [r.to_dict() for r in final], "ok": sum(r.status == "ok" for r in final),
                "failed": sum(r.status != "ok" for r in final), "seconds": round(seconds, 2),
                "model": predictor.model_info, "hand_model": predictor.hand_model_info}, summary_path)  # fmt: skip
    return RunSummary(final, out_dir, summary_path, seconds)


def _message(err: Exception, source: str) -> str:
    text = str(err)
    prefix = f"{source}: "
    return text[len(prefix) :] if text.startswith(prefix) else text
