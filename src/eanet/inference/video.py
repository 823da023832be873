"""Videos: frame-by-frame prediction with box tracking and One-Euro smoothing, an overlay video and per-frame JSON.

Per frame: the two-hand box comes from the detector (smoothed over time), ``--bbox``, or the whole frame
(``--cropped``). When detection misses a frame the last box is kept for up to ``max_tracked_frames`` frames and the
frame is marked ``tracked``; frames before the first detection, or after a longer gap, fail with a message (the
overlay video shows them unchanged, so its length and timing match the input). Predictions are smoothed with
:class:`~eanet.inference.smoothing.HandSequenceSmoother`; each frame's JSON holds the smoothed values.

Damaged videos: a frame the decoder cannot decode is skipped, not renumbered away. Every decoded frame keeps its
index in the source (from its timestamp, or by counting the failed reads when the file's frame rate is unusable), in
``frame_<N>.json``, its ``frame_index`` and ``video.json``; skipped frames are listed in ``video.json``
(``skipped_frames``, status ``skipped`` in ``per_frame``), counted in the input's report and named in its warnings,
and appear as black frames in the overlay video, so overlay frame ``N`` is still source frame ``N``. Frames missing
after the last decodable one (a file that lists more frames than it holds) are listed the same way.

Files: every frame JSON and ``video.json`` is written atomically; the overlay video is written under a temporary
name, checked by reading its frame count back, and only then renamed to ``overlay.mp4``. A write that fails (disk
full) stops the video with an :class:`~eanet.inference.failures.OutputWriteError` that says how many frame files are
complete.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eanet.errors import UserError
from eanet.inference.export import write_json
from eanet.inference.failures import OutputWriteError, describe_write_error, failure_message, run_isolated
from eanet.inference.inputs import InputError, not_a_regular_file
from eanet.inference.result import FailedPrediction
from eanet.inference.smoothing import HandSequenceSmoother
from eanet.inference.visualize import overlay_legend_corner, overlay_warnings_corner, render_overlay, render_scale

__all__ = ["VideoResult", "predict_video", "open_video", "FrameReader"]

logger = logging.getLogger(__name__)

#: Frame rate assumed when a file does not say (and written to the overlay video).
DEFAULT_FPS = 30.0
#: Failed reads in a row after which the rest of the file is taken as undecodable. Each failed read consumes one
#: damaged packet, and at the true end of the file a read fails at once, so trying this many costs nothing.
MAX_FAILED_READS = 250


@dataclass
class VideoResult:
    outputs: dict[str, str]
    frame_counts: dict[str, int]
    warnings: list[str] = field(default_factory=list)
    first_error: str | None = None
    skipped_frames: list[int] = field(default_factory=list)


def open_video(path: Path):
    """``(cv2.VideoCapture, fps, frame count or 0)``; raises :class:`InputError` for files OpenCV cannot decode."""
    import cv2

    problem = not_a_regular_file(path)
    if problem is not None:
        raise InputError(str(path), problem)
    if not path.is_file():
        raise InputError(str(path), "the file does not exist")
    if path.stat().st_size == 0:
        raise InputError(str(path), "the file is empty (0 bytes): an interrupted download or copy?")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise InputError(str(path), "the video cannot be opened (not a video, or a codec OpenCV cannot decode)")
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    return cap, fps, max(count, 0)


class FrameReader:
    """The decodable frames of an opened capture with their index in the source; undecodable ones are recorded.

    OpenCV's ``read()`` returns False for a frame whose data is damaged (and some decoders drop such a frame without
    saying so), so counting successful reads renumbers every later frame. Here a frame's index comes from its
    timestamp relative to the previous decoded frame (``round(dt * fps)`` frames later; local differences, so a
    variable frame rate does not drift), or, when the timestamps are unusable, from counting failed reads as one
    frame each.

    Args:
        cap: an opened ``cv2.VideoCapture``.
        fps: the file's frame rate (``timestamps_usable`` False when it had to be guessed).
        count: frames the file lists (0: unknown); indices never reach it, and frames past the last decodable one
            are reported as missing.
        timestamps_usable: whether ``fps`` is the file's own.
        max_failed_reads: see :data:`MAX_FAILED_READS`.

    Attributes:
        skipped: indices of frames that could not be decoded, in order (filled while iterating).
        missing_at_end: indices after the last decoded frame that the file lists but did not deliver.
    """

    def __init__(self, cap, fps: float, count: int, timestamps_usable: bool = True,
                 max_failed_reads: int = MAX_FAILED_READS) -> None:  # fmt: skip
        self.cap = cap
        self.fps = fps
        self.count = count
        self.timestamps_usable = timestamps_usable
        self.max_failed_reads = max_failed_reads
        self.skipped: list[int] = []
        self.missing_at_end: list[int] = []

    def _index_from_time(self, ms: float, last: tuple[int, float] | None) -> int | None:
        if not self.timestamps_usable or not np.isfinite(ms) or ms < 0:
            return None
        if last is None:
            index = round(ms * self.fps / 1000.0)
        else:
            index = last[0] + max(1, round((ms - last[1]) * self.fps / 1000.0))
        limit = self.count if self.count > 0 else (0 if last is None else last[0]) + 10 * self.fps + 1
        return index if index < limit else None  # a timestamp jump past the file's end is not believed

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        import cv2

        next_index, failed, last = 0, 0, None
        while True:
            ok, frame = self.cap.read()
            if not ok or frame is None:
                failed += 1
                if failed > self.max_failed_reads:
                    break
                continue
            ms = float(self.cap.get(cv2.CAP_PROP_POS_MSEC))  # presentation time of the frame just read
            by_time = self._index_from_time(ms, last)
            index = max(next_index, by_time) if by_time is not None else next_index + failed
            self.skipped.extend(range(next_index, index))
            yield index, frame
            last = (index, ms)
            next_index, failed = index + 1, 0
        if self.count > next_index:
            self.missing_at_end = list(range(next_index, self.count))
            self.skipped.extend(self.missing_at_end)


def _ranges(indices: list[int], limit: int = 12) -> str:
    """``[3, 4, 5, 9]`` -> ``"3-5, 9"`` (at most ``limit`` ranges, then "...")."""
    parts: list[str] = []
    start = prev = None
    for i in [*indices, None]:
        if start is not None and (i is None or i != prev + 1):
            parts.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = None
        if i is not None and start is None:
            start = i
        prev = i
    return ", ".join(parts[:limit]) + (", ..." if len(parts) > limit else "")


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
        OutputWriteError: an output could not be written (``written`` lists the complete files).
    """
    import cv2
    from tqdm import tqdm


    cap, fps, count = open_video(path)
    warnings: list[str] = []
    fps_from_file = bool(np.isfinite(fps) and 0 < fps <= 1000)
    if not fps_from_file:
        warnings.append(f"the video does not state a usable frame rate ({fps}); assuming {DEFAULT_FPS:g} fps")
        fps = DEFAULT_FPS
    reader = FrameReader(cap, fps, count, timestamps_usable=fps_from_file)
    frames_in = iter(reader)
    first_index, first = next(frames_in, (None, None))
    if first is None:
        cap.release()
        raise InputError(str(path), "no frame of the video could be decoded (empty, truncated or unsupported codec)")
    height, width = first.shape[:2]
    if width * height > predictor.config.max_image_pixels:
        cap.release()
        raise InputError(str(path), f"frames of {width}x{height} exceed inference.max_image_pixels")

    frames_dir = out_dir / "frames"
    video_path = out_dir / "overlay.mp4"
    # The container is chosen from the suffix, so the temporary name keeps ".mp4".
    video_tmp = out_dir / ".overlay.partial.mp4"
    frame_files: list[int] = []
    writer = None
    try:
        frames_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        cap.release()
        raise OutputWriteError(f"cannot create {frames_dir}: {describe_write_error(err)}", {}) from err
    if renderer is not None and options.renders:
        scale = render_scale(width, height, options.render_max_size)
        size = (round(width * scale), round(height * scale))
        writer = cv2.VideoWriter(str(video_tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not writer.isOpened():
            cap.release()
            raise UserError(f"{video_path}: OpenCV cannot write mp4v videos here; pass --no-render")

    smoother = HandSequenceSmoother(smoothing, predictor.hand_models)
    cfg = predictor.config
    counts = {"total": 0, "ok": 0, "tracked": 0, "failed": 0, "skipped": 0}
    statuses: list[dict] = []
    first_error: str | None = None
    tracker = _BoxTracker(predictor.config.max_tracked_frames)
    last_ok_frame: int | None = None
    frames_written = 0  # overlay video frames, skipped ones included
    pending: list[tuple[int, np.ndarray | None, object]] = []  # (source index, RGB or None when skipped, item)
    legend_corner: str | None = None  # the first predicted frame's choice, kept: a legend that jumps distracts
    warnings_corner: str | None = None  # likewise for the warnings badge
    name = path.name

    def write_frame_json(data: dict, index: int) -> None:
        write_json(data, frames_dir / f"frame_{index:06d}.json")
        frame_files.append(index)

    def flush() -> None:
        nonlocal last_ok_frame, first_error, frames_written, legend_corner, warnings_corner
        prepared = [p for _, _, p in pending if p is not None and not isinstance(p, FailedPrediction)]
        results = iter(run_isolated(predictor, prepared, options.intrinsics)) if prepared else iter(())
        for index, rgb, item in pending:
            if rgb is None:  # a frame the decoder could not decode: black in the overlay, so timing is kept
                statuses.append({"frame": index, "status": "skipped", "error": "the frame could not be decoded"})
                counts["skipped"] += 1
                frame_out = np.zeros((size[1], size[0], 3), np.uint8) if writer is not None else None
            else:
                result = item if isinstance(item, FailedPrediction) else next(results)
                if isinstance(result, FailedPrediction):
                    write_frame_json(result.to_dict(), index)
                    statuses.append({"frame": index, "status": "failed", "error": result.error})
                    counts["failed"] += 1
                    first_error = first_error or result.error
                    frame_out = rgb
                else:
                    dt = (index - last_ok_frame) / fps if last_ok_frame is not None else 1.0 / fps
                    result = smoother(result, dt)
                    last_ok_frame = index
                    data = result.to_dict(include_vertices=options.json_vertices)
                    data["smoothing"] = {"strength": smoothing.strength, "min_cutoff_hz": smoothing.min_cutoff_hz,
                                         "beta": smoothing.beta, "d_cutoff_hz": smoothing.d_cutoff_hz}  # fmt: skip
                    write_frame_json(data, index)
                    status = "tracked" if result.crop.source == "tracked" else "ok"
                    statuses.append({"frame": index, "status": status, "confidence": round(result.confidence, 4),
                                     "crop_source": result.crop.source})  # fmt: skip
                    counts["ok"] += 1
                    counts["tracked"] += status == "tracked"
                    if writer is not None:
                        legend_corner = legend_corner or overlay_legend_corner(result, *size)
                        warnings_corner = warnings_corner or overlay_warnings_corner(result, *size, legend_corner)
                        frame_out = render_overlay(result, rgb, renderer, options.render_max_size,
                                                   legend_corner=legend_corner,
                                                   warnings_corner=warnings_corner)  # fmt: skip
                    else:
                        frame_out = rgb
            if writer is not None:
                if frame_out.shape[:2] != (size[1], size[0]):
                    frame_out = cv2.resize(frame_out, size, interpolation=cv2.INTER_AREA)
                writer.write(cv2.cvtColor(frame_out, cv2.COLOR_RGB2BGR))
                frames_written += 1
        pending.clear()

    bar = tqdm(total=count or None, desc=name, unit="frame", leave=False, disable=not options.progress,
               dynamic_ncols=True)  # fmt: skip
    index, frame = first_index, first
    skipped_seen = 0
    video_done = False
    try:
        while frame is not None:
            for missing in reader.skipped[skipped_seen:]:  # undecodable frames before this one, in order
                pending.append((missing, None, None))
                counts["total"] += 1
            skipped_seen = len(reader.skipped)
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            source = f"{path}#{index}"
            counts["total"] += 1
            try:
                prepared = _prepare_frame(predictor, rgb, source, index, options, smoother, tracker, fps)
                pending.append((index, rgb, prepared))
            except Exception as err:  # noqa: BLE001 - one frame's failure, whatever it is, fails that frame only
                pending.append((index, rgb, FailedPrediction(source, failure_message(err, source), index)))
            if len(pending) >= cfg.batch_size:
                flush()
            bar.update(1)
            index, frame = next(frames_in, (None, None))
        flush()
        video_done = True
    except OSError as err:
        raise OutputWriteError(
            f"writing the outputs of {path.name} failed after {len(frame_files)} frame file(s): "
            f"{describe_write_error(err)} (frames/ holds the complete ones; no video.json was written)",
            {"frames": str(frames_dir)} if frame_files else {},
        ) from err
    finally:
        bar.close()
        cap.release()
        if writer is not None:
            writer.release()
            if not video_done:
                video_tmp.unlink(missing_ok=True)
    outputs = {"frames": str(frames_dir)}
    if writer is not None:
        problem = _check_written_video(video_tmp, frames_written)
        if problem is None:
            os.replace(video_tmp, video_path)
            outputs["overlay_video"] = str(video_path)
        else:
            video_tmp.unlink(missing_ok=True)
            warnings.append(f"the overlay video could not be written completely ({problem}); it was left out")
    counts["skipped"] += len(reader.missing_at_end)
    counts["total"] += len(reader.missing_at_end)
    statuses.extend({"frame": i, "status": "skipped", "error": "listed by the file but not delivered by the decoder"}
                    for i in reader.missing_at_end)  # fmt: skip
    if reader.skipped:
        warnings.append(
            f"{len(reader.skipped)} frame(s) could not be decoded and were skipped (frames {_ranges(reader.skipped)}); "
            "the other frames keep their source index (see video.json)"
        )
    if counts["tracked"]:
        warnings.append(f"{counts['tracked']} frame(s) had no detection; the last box was kept (status 'tracked')")
    if counts["failed"]:
        warnings.append(f"{counts['failed']} of {counts['total']} frame(s) failed (see video.json)")
    summary = {"source": str(path), "fps": fps, "size_wh": [width, height], "frames_listed_by_file": count or None,
               "frames": counts, "skipped_frames": list(reader.skipped), "warnings": warnings,
               "smoothing": vars(smoothing) if hasattr(smoothing, "__dict__") else str(smoothing),
               "per_frame": sorted(statuses, key=lambda s: s["frame"])}  # fmt: skip
    try:
        outputs["json"] = str(write_json(summary, out_dir / "video.json"))
    except OSError as err:
        raise OutputWriteError(f"writing {out_dir / 'video.json'} failed: {describe_write_error(err)}", outputs) from err
    return VideoResult(outputs=outputs, frame_counts=counts, warnings=warnings, first_error=first_error,
                       skipped_frames=list(reader.skipped))  # fmt: skip


def _check_written_video(path: Path, frames: int) -> str | None:
    """None when ``path`` opens and holds ``frames`` frames; else what is wrong. ``VideoWriter`` reports no write
    error (a full disk gives a file without its index), so the file is read back."""
    import cv2

    if not path.is_file() or path.stat().st_size == 0:
        return "no file was written"
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return "the written file cannot be opened: the disk may be full"
        found = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    finally:
        cap.release()
    return None if found == frames else f"{found} of {frames} frames in the written file: the disk may be full"


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
