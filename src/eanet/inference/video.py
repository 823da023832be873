"""Videos: frame-by-frame prediction with box tracking and One-Euro smoothing, an overlay video and per-frame JSON.

Per frame: the two-hand box comes from the detector (smoothed over time), ``--bbox``, or the whole frame
(``--cropped``). When detection misses a frame the last box is kept for up to ``max_tracked_frames`` frames and the
frame is marked ``tracked``; frames before the first detection, or after a longer gap, fail with a message (the
overlay video shows them unchanged, so its length and timing match the input). Predictions are smoothed with
:class:`~eanet.inference.smoothing.HandSequenceSmoother`; each frame's JSON holds the smoothed values.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eanet.errors import UserError
from eanet.inference.export import write_json
from eanet.inference.inputs import InputError
from eanet.inference.result import FailedPrediction

__all__ = ["VideoResult", "predict_video", "open_video"]

logger = logging.getLogger(__name__)

#: Frame rate assumed when a file does not say (and written to the overlay video).
DEFAULT_FPS = 30.0


@dataclass
class VideoResult:
    outputs: dict[str, str]
    frame_counts: dict[str, int]
    warnings: list[str] = field(default_factory=list)
    first_error: str | None = None


def open_video(path: Path):
    """``(cv2.VideoCapture, fps, frame count or 0)``; raises :class:`InputError` for files OpenCV cannot decode."""
    import cv2

    if not path.is_file():
        raise InputError(str(path), "the file does not exist")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise InputError(str(path), "the video cannot be opened (not a video, or a codec OpenCV cannot decode)")
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    return cap, fps, max(count, 0)


def predict_video(predictor, path: Path, out_dir: Path, options, smoothing, renderer=None) -> VideoResult:
    """Predict every frame of a video; write ``overlay.mp4``, ``frames/frame_<N>.json`` and ``video.json``.

    Args:
        predictor: :class:`~eanet.inference.predictor.Predictor`.
        path: the video file.
        out_dir: this video's output folder.
        options: :class:`~eanet.inference.runner.OutputOptions` (crop choice, camera, renders).
        smoothing: :class:`~eanet.inference.smoothing.SmoothingSettings`.
        renderer: an :class:`eanet.render.Renderer` for the overlay video (None: no video written).

    Raises:
        InputError: the file cannot be opened or holds no decodable frame.
    """
    import cv2
    from tqdm import tqdm

    from eanet.inference.smoothing import HandSequenceSmoother
    from eanet.inference.visualize import render_overlay, render_scale

    cap, fps, count = open_video(path)
    warnings: list[str] = []
    if not np.isfinite(fps) or fps <= 0 or fps > 1000:
        warnings.append(f"the video does not state a usable frame rate ({fps}); assuming {DEFAULT_FPS:g} fps")
        fps = DEFAULT_FPS
    ok, first = cap.read()
    if not ok or first is None:
        cap.release()
        raise InputError(str(path), "no frame of the video could be decoded (empty, truncated or unsupported codec)")
    height, width = first.shape[:2]
    if width * height > predictor.config.max_image_pixels:
        cap.release()
        raise InputError(str(path), f"frames of {width}x{height} exceed inference.max_image_pixels")

    out_dir.mkdir(parents=True, exist_ok=True)
    frames_dir = out_dir / "frames"
    frames_dir.mkdir(exist_ok=True)
    writer = None
    video_path = out_dir / "overlay.mp4"
    if renderer is not None and options.renders:
        scale = render_scale(width, height, options.render_max_size)
        size = (round(width * scale), round(height * scale))
        writer = cv2.VideoWriter(str(video_path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not writer.isOpened():
            cap.release()
            raise UserError(f"{video_path}: OpenCV cannot write mp4v videos here; pass --no-render")

    smoother = HandSequenceSmoother(smoothing, predictor.hand_models)
    cfg = predictor.config
    counts = {"total": 0, "ok": 0, "tracked": 0, "failed": 0}
    statuses: list[dict] = []
    first_error: str | None = None
    tracker = _BoxTracker(predictor.config.max_tracked_frames)
    last_ok_frame: int | None = None
    pending: list[tuple[int, np.ndarray, object]] = []
    name = path.name

    def flush() -> None:
        nonlocal last_ok_frame, first_error
        prepared = [p for _, _, p in pending if not isinstance(p, FailedPrediction)]
        results = iter(predictor.run(prepared, intrinsics=options.intrinsics)) if prepared else iter(())
        for index, rgb, item in pending:
            if isinstance(item, FailedPrediction):
                write_json(item.to_dict(), frames_dir / f"frame_{index:06d}.json")
                statuses.append({"frame": index, "status": "failed", "error": item.error})
                counts["failed"] += 1
                first_error = first_error or item.error
                frame_out = rgb
            else:
                result = next(results)
                dt = (index - last_ok_frame) / fps if last_ok_frame is not None else 1.0 / fps
                result = smoother(result, dt)
                last_ok_frame = index
                data = result.to_dict(include_vertices=options.json_vertices)
                data["smoothing"] = {"strength": smoothing.strength, "min_cutoff_hz": smoothing.min_cutoff_hz,
                                     "beta": smoothing.beta, "d_cutoff_hz": smoothing.d_cutoff_hz}  # fmt: skip
                write_json(data, frames_dir / f"frame_{index:06d}.json")
                status = "tracked" if result.crop.source == "tracked" else "ok"
                statuses.append({"frame": index, "status": status, "confidence": round(result.confidence, 4),
                                 "crop_source": result.crop.source})  # fmt: skip
                counts["ok"] += 1
                counts["tracked"] += status == "tracked"
                frame_out = render_overlay(result, rgb, renderer, options.render_max_size) if writer is not None else rgb
            if writer is not None:
                if frame_out.shape[:2] != (size[1], size[0]):
                    frame_out = cv2.resize(frame_out, size, interpolation=cv2.INTER_AREA)
                writer.write(cv2.cvtColor(frame_out, cv2.COLOR_RGB2BGR))
        pending.clear()

    bar = tqdm(total=count or None, desc=name, unit="frame", leave=False, disable=not options.progress,
               dynamic_ncols=True)  # fmt: skip
    index = 0
    frame = first
    try:
        while frame is not None:
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            source = f"{path}#{index}"
            counts["total"] += 1
            try:
                prepared = _prepare_frame(predictor, rgb, source, index, options, smoother, tracker, fps)
                pending.append((index, rgb, prepared))
            except UserError as err:
                pending.append((index, rgb, FailedPrediction(source, str(err), index)))
            if len(pending) >= cfg.batch_size:
                flush()
            bar.update(1)
            ok, frame = cap.read()
            if not ok:
                frame = None
            index += 1
        flush()
    finally:
        bar.close()
        cap.release()
        if writer is not None:
            writer.release()
    if counts["tracked"]:
        warnings.append(f"{counts['tracked']} frame(s) had no detection; the last box was kept (status 'tracked')")
    if counts["failed"]:
        warnings.append(f"{counts['failed']} of {counts['total']} frame(s) failed (see video.json)")
    outputs = {"frames": str(frames_dir)}
    if writer is not None:
        outputs["overlay_video"] = str(video_path)
    summary = {"source": str(path), "fps": fps, "size_wh": [width, height], "frames": counts, "warnings": warnings,
               "smoothing": vars(smoothing) if hasattr(smoothing, "__dict__") else str(smoothing),
               "per_frame": statuses}  # fmt: skip
    outputs["json"] = str(write_json(summary, out_dir / "video.json"))
    return VideoResult(outputs=outputs, frame_counts=counts, warnings=warnings, first_error=first_error)


class _BoxTracker:
    """The last detected two-hand box and how many frames in a row detection has missed since."""

    def __init__(self, max_missed: int) -> None:
        self.max_missed = max_missed
        self.box: np.ndarray | None = None
        self.missed = 0

    def detected(self, box: np.ndarray) -> None:
        self.box, self.missed = np.asarray(box, dtype=np.float64), 0

    def keep(self, source: str) -> np.ndarray:
        """The box to use on a frame without detection, or :class:`InputError` when there is none to keep."""
        if self.box is None:
            raise InputError(source, "no hands detected in this frame and no earlier box to keep")
        if self.missed >= self.max_missed:
            raise InputError(source, f"no hands detected for more than {self.max_missed} frame(s) in a row")
        self.missed += 1
        return self.box


def _prepare_frame(predictor, rgb: np.ndarray, source: str, index: int, options, smoother, tracker: _BoxTracker,
                   fps: float):  # fmt: skip
    """Crop one frame: given box, whole frame, or detection (smoothed) with the last box kept on a miss."""
    if options.cropped or options.bbox is not None:
        return predictor.prepare(rgb, options.bbox, cropped=options.cropped, source=source, frame_index=index)
    detection = predictor.detect(rgb)
    if detection.box is not None:
        box = smoother.smooth_box(detection.box, 1.0 / fps)
        tracker.detected(box)
        return predictor.prepare(rgb, box, source=source, frame_index=index, detection=detection,
                                 crop_source="detector")  # fmt: skip
    box = tracker.keep(source)
    prepared = predictor.prepare(rgb, box, source=source, frame_index=index, crop_source="tracked")
    prepared.warnings.append("no hands detected in this frame; the last box was kept")
    return prepared
