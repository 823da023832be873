"""The predictor: images in, both hands out, placed in each original image's camera frame.

    >>> from eanet.inference import Predictor
    >>> predictor = Predictor.from_checkpoint("runs/quickstart/run/model.safetensors")
    >>> result = predictor.predict("photo.png", cropped=True)       # an image already cropped to the hands
    >>> results = predictor.predict(["a.jpg", array_rgb], boxes=[(x, y, w, h), None])  # None: detect
    >>> result.right.verts_cam, result.left.joints_2d, result.confidence

Steps per image (see :mod:`eanet.inference.placement`): read (paths, arrays, PIL images) -> two-hand box
(given, the whole image for ``cropped``, or the MediaPipe detector) -> square crop grown 1.25x, warped to the
network's input size, RGB /255 without normalisation -> batches of ``config.batch_size`` through ``self.model``
under ``torch.inference_mode()`` -> placement in the original image's camera, 2D joints in its pixels,
confidence.

``self.model`` is any callable ``(B, 3, H, W) float tensor in [0, 1] -> TwoHandPrediction``: the seam where a
compiled, half-precision or ONNX Runtime model can be put in place of the PyTorch module.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from eanet.errors import InvalidInputError, MissingFileError, UserError
from eanet.geometry import axis_angle_to_rotmat
from eanet.hand_model import build_hand_models
from eanet.hand_model.config import HandModelConfig
from eanet.inference.config import InferenceConfig
from eanet.inference.detect import (
    Detection,
    DetectorUnavailableError,
    HandDetector,
    MediaPipeHandDetector,
    NoHandsDetectedError,
    two_hand_box,
)
from eanet.inference.fast import apply_speed_options
from eanet.inference.fit import (
    FitReport,
    KeypointFitter,
    MeanHandNetwork,
    fit_image_prediction,
    keypoints_from_detections,
)
from eanet.inference.inputs import InputError, as_rgb_array, check_image_size
from eanet.inference.placement import (
    Crop,
    apply_affine,
    clip_box,
    image_camera,
    make_crop,
    project,
    solve_translation,
    warp_crop,
)
from eanet.inference.reliability import (
    low_confidence_warning,
    model_warnings,
    no_network_warning,
    training_data_summary,
)
from eanet.inference.result import FailedPrediction, HandResult, ImagePrediction
from eanet.model.checkpoint import read_metadata
from eanet.model.official import load_official
from eanet.model.provenance import TrainingData, official_training_data
from eanet.run_checkpoint import load_checkpoint
from eanet.speed import SpeedConfig
from eanet.structures import TwoHandPrediction

__all__ = ["Predictor", "PreparedInput", "resolve_device", "check_finite_weights"]

logger = logging.getLogger(__name__)

#: Span (metres) assumed for the two hands when the network's camera is unusable (non-positive scale): the
#: fallback places the hands at the depth where this span fills the crop.
_FALLBACK_SPAN_M = 0.25
#: Nearest wrist depth (metres) accepted from the camera solve before the fallback is used.
_MIN_DEPTH_M = 0.05
#: A solved depth more than this many times the fallback depth means the hand would cover a few pixels of its own
#: crop: a degenerate camera (typical of untrained networks), replaced by the fallback.
_MAX_DEPTH_FACTOR = 20.0


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``auto``/None -> CUDA when available, else CPU; otherwise the named device."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@dataclass
class PreparedInput:
    """One image ready for the network: the original, its crop, and how the crop was chosen."""

    source: str
    image: np.ndarray
    crop: Crop
    crop_pixels: np.ndarray
    detection: Detection | None = None
    warnings: list[str] = field(default_factory=list)
    frame_index: int | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.image.shape[1]), int(self.image.shape[0])


class Predictor:
    """Two-hand mesh recovery on whole images.

    Args:
        model: ``(B, 3, H, W) -> TwoHandPrediction`` (an :class:`~eanet.model.eanet.EANet` in eval mode, or a
            faster stand-in with the same contract).
        hand_models: the ``(right, left)`` hand-model layers the model's parameters belong to (faces, mean pose).
        config: inference settings (batching, crops, detector, camera, limits).
        device: where the model runs (chosen once; inputs are moved there).
        input_size: ``(H, W)`` of the network input (default: ``model.input_size``).
        feature_grid: ``(h, w)`` of the heatmap (default: ``model.feature_grid``, the grid the model reports; an
            :class:`~eanet.model.eanet.EANet` derives it from its backbone's stride, an ONNX export from its recorded
            configuration).
        detector: a :class:`~eanet.inference.detect.HandDetector` for images without a box (default: MediaPipe,
            created on first use from ``config``).
        model_info: recorded in every result (checkpoint path, source).
        hand_model_kind: ``open`` or ``mano`` (recorded).
        training_data: what the model was trained on (:mod:`eanet.model.provenance`); every result warns from it
            (:mod:`eanet.inference.reliability`). None: unknown, and every result says so.
        training_data_unknown_because: why it is unknown (added to that warning).
    """

    def __init__(
        self,
        model: Callable[[torch.Tensor], TwoHandPrediction],
        hand_models: tuple[torch.nn.Module, torch.nn.Module],
        *,
        config: InferenceConfig | None = None,
        device: str | torch.device | None = "cpu",
        input_size: Sequence[int] | None = None,
        feature_grid: Sequence[int] | None = None,
        detector: HandDetector | None = None,
        model_info: dict[str, Any] | None = None,
        hand_model_kind: str | None = None,
        training_data: TrainingData | None = None,
        training_data_unknown_because: str = "the predictor was given no training_data",
    ) -> None:
        self.model = model
        self.config = config or InferenceConfig()
        self.device = resolve_device(device)
        size = input_size if input_size is not None else getattr(model, "input_size", None)
        if size is None:
            raise InvalidInputError("pass input_size=(H, W): the model does not say which input size it expects")
        self.input_size = (int(size[0]), int(size[1]))
        grid = feature_grid if feature_grid is not None else getattr(model, "feature_grid", None)
        if grid is None:
            raise InvalidInputError(
                "pass feature_grid=(h, w): the model does not say which heatmap grid it predicts on (it has no "
                "feature_grid attribute), and the heatmap joints cannot be placed in the crop without it"
            )
        self.feature_grid = (int(grid[0]), int(grid[1]))
        #: crop pixels per heatmap pixel, (x, y)
        self.stride = (self.input_size[1] / self.feature_grid[1], self.input_size[0] / self.feature_grid[0])
        right, left = hand_models
        self.hand_models = {"right": right, "left": left}
        self.faces = {side: layer.faces.detach().cpu().numpy().astype(np.int64) for side, layer in self.hand_models.items()}
        self._hands_mean = {
            side: np.zeros(45) if layer.flat_hand_mean else layer.hands_mean.detach().cpu().double().numpy()
            for side, layer in self.hand_models.items()
        }
        self.hand_model_info = {
            "kind": hand_model_kind or ("mano" if getattr(right, "is_mano", False) else "open"),
            "name": getattr(right, "name", ""),
            "num_verts": int(right.num_verts),
            "num_faces": int(self.faces["right"].shape[0]),
            "flat_hand_mean": bool(right.flat_hand_mean),
            "license": getattr(right, "license", ""),
        }
        self.model_info = {"input_size_hw": list(self.input_size), **(model_info or {})}
        self.training_data = training_data
        self.model_info["training_data"] = training_data_summary(training_data)
        #: Warnings every result gets from what the model was trained on (docs/inference.md, "Warnings").
        self.model_warnings = model_warnings(training_data, training_data_unknown_because)
        self._detector = detector
        self._owns_detector = False
        self._fitter = None  # eanet.inference.fit.KeypointFitter, built on first use
        self._fit_unavailable: str | None = None  # why the detector for keypoint fitting cannot run

    # ------------------------------------------------------------------------------------------------------------
    # construction

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        *,
        config: InferenceConfig | None = None,
        device: str | torch.device | None = "auto",
        mano_dir: str | Path | None = None,
        hand_model_cfg: Any = None,
        detector: HandDetector | None = None,
    ) -> Predictor:
        """Load our checkpoint (``.safetensors``) or an official one (``snapshot_*.pth.tar``, needs MANO).

        Args:
            path: the checkpoint.
            config: inference settings (default: the checkpoint's ``inference`` section, or the defaults).
            device: ``auto`` (CUDA when available), ``cpu``, ``cuda``, ``cuda:N``.
            mano_dir: MANO directory for checkpoints trained with MANO (default ``$EANET_MANO_DIR``).
            hand_model_cfg: a full :class:`~eanet.hand_model.config.HandModelConfig` instead of ``mano_dir``; it must
                match the checkpoint's hand model.
            detector: see :class:`Predictor`.

        Raises:
            CheckpointMismatchError: the checkpoint was trained with another hand model than the one given.
            MissingFileError / InvalidInputError: missing or unreadable checkpoint, or one whose weights hold NaN or
                infinity (refused here, at load, rather than writing NaN meshes for every input).
        """
        path = Path(path).expanduser()
        dev = resolve_device(device)
        if not path.is_file():
            raise MissingFileError(f"checkpoint {str(path)!r} does not exist")
        if path.suffix == ".safetensors":
            model, cfg = load_checkpoint(path, dev, mano_dir=mano_dir, hand_model_cfg=hand_model_cfg)
            config = config or cfg.inference
            kind = cfg.hand_model.kind
            info = {"checkpoint": str(path), "source": "eanet checkpoint", "architecture": _arch_summary(cfg.model)}
            metadata = read_metadata(path)
            training_data = TrainingData.from_metadata(metadata, str(path))
            unknown_because = _unknown_training_data_reason(path, metadata)
        elif path.name.endswith((".pth.tar", ".pth", ".pt", ".tar")):
            model, meta = load_official(path, mano_dir, hand_model_cfg=hand_model_cfg, device=dev, with_metadata=True)
            kind = "mano" if hand_model_cfg is None else hand_model_cfg.kind
            info = {"checkpoint": str(path), "source": "official EANet release", "architecture": "eanet (official)"}
            training_data = official_training_data(meta, str(path))
            unknown_because = f"{path.name} was written by `eanet convert-official --to-official` from weights without a record"
        else:
            raise InvalidInputError(
                f"{path} is neither an eanet checkpoint (.safetensors) nor an official one (.pth.tar); convert other "
                "formats with `eanet convert-official`"
            )
        model.eval()
        check_finite_weights(model, path)
        right, left = model.hand_models["right"], model.hand_models["left"]
        if config is not None and config.speed != SpeedConfig():  # inference.speed: a fast path in place of the module
            full_cfg = cfg if path.suffix == ".safetensors" else None  # ONNX Runtime exports need it (docs/speed.md)
            model = apply_speed_options(model, config.speed, device=dev, config=full_cfg)
            info["speed"] = config.speed.label()
        return cls(model, (right, left), config=config, device=dev, detector=detector, model_info=info,
                   hand_model_kind=kind, training_data=training_data,
                   training_data_unknown_because=unknown_because)  # fmt: skip

    @classmethod
    def without_network(
        cls,
        *,
        hand_model: str = "open",
        mano_dir: str | Path | None = None,
        config: InferenceConfig | None = None,
        detector: HandDetector | None = None,
    ) -> Predictor:
        """A predictor with no checkpoint, for keypoint fitting: the hand model's mean pose fitted to MediaPipe.

        Its stand-in network (:class:`~eanet.inference.fit.MeanHandNetwork`) predicts the mean hands for every
        image; ``config.fit.method`` is set to ``keypoints`` so each detected hand is fitted to its keypoints
        (docs/inference.md, "Fitting meshes to keypoints"). Hands that are not detected stay placeholders.

        Args:
            hand_model: ``open`` (the built-in open hand model) or ``mano`` (needs ``mano_dir`` or
                ``$EANET_MANO_DIR``).
            config: inference settings (default: the defaults); its ``fit`` section sets the fit.
            detector: see :class:`Predictor`.
        """
        right, left = build_hand_models(HandModelConfig(kind=hand_model, mano_dir=None if mano_dir is None else str(mano_dir)))
        config = config or InferenceConfig()
        config = dataclasses.replace(config, fit=dataclasses.replace(config.fit, method="keypoints"))
        network = MeanHandNetwork((right, left))
        info = {"checkpoint": None, "source": "none (hand model's mean pose, fitted to keypoints)",
                "architecture": "none"}  # fmt: skip
        predictor = cls(network, (right, left), config=config, device="cpu", detector=detector, model_info=info,
                        hand_model_kind=hand_model)  # fmt: skip
        # Not "training data unknown": there are no trained weights at all, and the results say what they are instead.
        predictor.model_warnings = [no_network_warning()]
        return predictor

    @property
    def has_network(self) -> bool:
        """False for :meth:`without_network` predictors (no checkpoint: only keypoint fitting reads the image)."""
        return not isinstance(self.model, MeanHandNetwork)

    # ------------------------------------------------------------------------------------------------------------
    # detection

    @property
    def detector(self) -> HandDetector:
        """The hand detector (MediaPipe from the config, created on first use)."""
        if self._detector is None:
            cfg = self.config
            self._detector = MediaPipeHandDetector(
                cfg.detector_model_path, min_confidence=cfg.detector_min_confidence,
                min_presence=cfg.detector_min_presence,
            )  # fmt: skip
            self._owns_detector = True
        return self._detector

    def detect(self, image: np.ndarray) -> Detection:
        """The two-hand box of a full image (``status`` says how many hands were found)."""
        return two_hand_box(self.detector.detect(image), self.config.hand_box_extend)

    def close(self) -> None:
        """Release the detector this predictor created."""
        if self._detector is not None and self._owns_detector:
            self._detector.close()
            self._detector = None

    def __enter__(self) -> Predictor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------------------------
    # preparing inputs

    def prepare(
        self,
        image: Any,
        box: Sequence[float] | None = None,
        *,
        cropped: bool = False,
        box_format: str = "hands",
        source: str | None = None,
        frame_index: int | None = None,
        detection: Detection | None = None,
        crop_source: str | None = None,
    ) -> PreparedInput:
        """Read one image and choose its crop.

        Args:
            image: a path, an ``(H, W, 3)`` uint8 RGB array or a PIL image.
            box: xywh around both hands; with ``box_format="crop"`` the crop region itself.
            cropped: the image is already cropped to the hands (official demo): the whole image is the box.
            source: label for messages and results (default: the path, or ``<array>``).
            detection: a detection already made for this image (video tracking); used for its box.
            crop_source: recorded as the crop's source (default from how the box was chosen).

        Raises:
            InputError: the image cannot be used; NoHandsDetectedError: nothing found and no box given.
        """
        t0 = time.perf_counter()
        if source is None:
            source = str(image) if isinstance(image, (str, Path)) else "<array>"
        pixels = as_rgb_array(image, source, self.config.max_image_pixels)
        height, width = pixels.shape[:2]
        check_image_size(source, width, height)
        timings = {"load_ms": (time.perf_counter() - t0) * 1e3}
        warnings: list[str] = list(detection.warnings) if detection is not None else []
        if box_format not in ("hands", "crop"):
            raise InvalidInputError(f"box_format must be 'hands' or 'crop', got {box_format!r}")
        if cropped and box is not None:
            raise InvalidInputError("pass either a box or cropped=True, not both")
        if cropped:
            box, source_label, is_crop = (0.0, 0.0, float(width), float(height)), "cropped", False
        elif box is not None:
            source_label, is_crop = ("crop" if box_format == "crop" else "bbox"), box_format == "crop"
            if not is_crop:
                try:
                    inside, was_clipped = clip_box(np.asarray(box, dtype=np.float64).reshape(-1)[:4], (width, height))
                except (InvalidInputError, ValueError, IndexError):
                    was_clipped = False  # make_crop below says what is wrong with the box
                if was_clipped:
                    warnings.append(
                        f"the box {np.round(np.asarray(box, dtype=np.float64), 1).tolist()} reaches outside the "
                        f"{width}x{height} image; the part inside, {np.round(inside, 1).tolist()}, was used"
                    )
        else:
            if detection is None:
                t1 = time.perf_counter()
                detection = self.detect(pixels)
                timings["detect_ms"] = (time.perf_counter() - t1) * 1e3
                warnings.extend(detection.warnings)
            if detection.box is None:
                raise NoHandsDetectedError(
                    f"{source}: no hands detected; pass --bbox X,Y,W,H around both hands (API: boxes=...) or "
                    "--cropped if the image is already cropped to the hands"
                )
            box, source_label, is_crop = detection.box, "detector", False
        try:
            crop = make_crop((width, height), np.asarray(box, dtype=np.float64), self.input_size,
                             extend=self.config.bbox_extend, source=crop_source or source_label, box_is_crop=is_crop)  # fmt: skip
        except InvalidInputError as err:
            raise InputError(source, str(err)) from None
        t2 = time.perf_counter()
        crop_pixels = warp_crop(pixels, crop)
        timings["crop_ms"] = (time.perf_counter() - t2) * 1e3
        return PreparedInput(source, pixels, crop, crop_pixels, detection, warnings, frame_index, timings)

    # ------------------------------------------------------------------------------------------------------------
    # prediction

    def predict(
        self,
        images: Any,
        boxes: Any = None,
        *,
        cropped: bool = False,
        box_format: str = "hands",
        intrinsics: Any = None,
        errors: str = "raise",
        fit: str | None = None,
    ) -> ImagePrediction | FailedPrediction | list[ImagePrediction | FailedPrediction]:
        """Predict both hands for one image or a list of images (batched).

        Args:
            images: one image (path, ``(H, W, 3)`` uint8 RGB array, PIL image) or a list of them.
            boxes: for one image, one xywh box or None; for a list, a list of boxes/None (None: detect, unless
                ``cropped``).
            cropped: every image is already cropped to the hands (the whole image is the box).
            box_format: ``hands`` (a box around both hands, made square and grown 1.25x) or ``crop`` (the crop
                region as is).
            intrinsics: the original images' camera: None (``config.focal`` or the field-of-view guess), a focal
                length, ``(fx, fy)``, ``(fx, fy, cx, cy)`` or a 3x3 matrix.
            errors: ``raise`` (the first bad input raises) or ``return`` (a :class:`FailedPrediction` in its place).
            fit: ``keypoints`` (fit each hand to MediaPipe's keypoints, :mod:`eanet.inference.fit`), ``none``, or
                None for ``config.fit.method``.

        Returns:
            An :class:`ImagePrediction` (or :class:`FailedPrediction`) for one image, a list for a list.
        """
        if errors not in ("raise", "return"):
            raise InvalidInputError(f"errors must be 'raise' or 'return', got {errors!r}")
        single = not isinstance(images, (list, tuple))
        items = [images] if single else list(images)
        if single:
            box_list = [boxes]
        elif boxes is None:
            box_list = [None] * len(items)
        else:
            box_list = list(boxes)
            if len(box_list) != len(items):
                raise InvalidInputError(f"got {len(items)} images but {len(box_list)} boxes; give one box (or None) each")
        results: list[ImagePrediction | FailedPrediction | None] = [None] * len(items)
        batch: list[tuple[int, PreparedInput]] = []

        def flush() -> None:
            if batch:
                done = self.run([p for _, p in batch], intrinsics=intrinsics, fit=fit)
                for (i, _), res in zip(batch, done, strict=True):
                    if isinstance(res, FailedPrediction) and errors == "raise":
                        raise InputError(res.source, _message_without_source(res.error, res.source))
                    results[i] = res
                batch.clear()

        for i, (image, box) in enumerate(zip(items, box_list, strict=True)):
            label = str(image) if isinstance(image, (str, Path)) else (f"<array {i}>" if not single else "<array>")
            try:
                batch.append((i, self.prepare(image, box, cropped=cropped, box_format=box_format, source=label)))
            except UserError as err:
                if errors == "raise":
                    raise
                results[i] = FailedPrediction(label, str(err))
            if len(batch) >= self.config.batch_size:
                flush()
        flush()
        return results[0] if single else results  # type: ignore[return-value]

    __call__ = predict

    def run(
        self, prepared: Sequence[PreparedInput], intrinsics: Any = None, fit: str | None = None
    ) -> list[ImagePrediction | FailedPrediction]:
        """Network and placement for prepared inputs (one forward pass per ``config.batch_size`` crops), then keypoint
        fitting when ``fit`` (default ``config.fit.method``) is ``keypoints``.

        Returns:
            One result per input, in order: an :class:`ImagePrediction`, or a :class:`FailedPrediction` when the
            network's output for that input is not finite (NaN/inf; writing it would give empty or broken meshes).
        """
        fit = self.config.fit.method if fit is None else fit
        if fit not in ("none", "keypoints"):
            raise InvalidInputError(f"fit must be 'none' or 'keypoints', got {fit!r}")
        out: list[ImagePrediction | FailedPrediction] = []
        bs = self.config.batch_size
        for start in range(0, len(prepared), bs):
            chunk = list(prepared[start : start + bs])
            t0 = time.perf_counter()
            pred = self.forward_crops(np.stack([p.crop_pixels for p in chunk]))
            network_ms = (time.perf_counter() - t0) * 1e3 / len(chunk)
            t1 = time.perf_counter()
            results = self.postprocess(pred, chunk, intrinsics=intrinsics)
            post_ms = (time.perf_counter() - t1) * 1e3 / len(chunk)
            for r, item in zip(results, chunk, strict=True):
                r.timings_ms.update(network_ms=network_ms, postprocess_ms=post_ms)
                bad = _non_finite_fields(r)
                if bad:
                    out.append(FailedPrediction(r.source, (
                        f"{r.source}: the network's output for this input is not finite (NaN or infinity in "
                        f"{', '.join(bad)}), so no mesh was written; the checkpoint may be corrupt or a reduced "
                        "precision (inference.speed) overflowed: try the default fp32 path"
                    ), r.frame_index))  # fmt: skip
                    continue
                if fit == "keypoints":
                    self.fit_keypoints(r, item)
                out.append(r)
        return out

    def fit_keypoints(self, result: ImagePrediction, item: PreparedInput) -> None:
        """Fit ``result``'s hands to MediaPipe's keypoints in place (:mod:`eanet.inference.fit`); ``result.fit`` says
        how it went. Bad input (no hand, one hand, MediaPipe missing) leaves hands unfitted with a warning."""
        cfg = self.config.fit
        if self._fit_unavailable is None:
            try:
                t0 = time.perf_counter()
                # Found when choosing the crop (none for a tracked video frame), or found now on the whole image.
                found = list(item.detection.hands) if item.detection is not None else self.detector.detect(item.image)
                mirrored = self.detector.detect(np.ascontiguousarray(item.image[:, ::-1])) if cfg.mirror_detection else None
                result.timings_ms["fit_detect_ms"] = (time.perf_counter() - t0) * 1e3
            except DetectorUnavailableError as err:
                self._fit_unavailable = str(err)
        if self._fit_unavailable is not None:
            report = FitReport(warnings=[f"keypoint fitting skipped, the meshes are not fitted: {self._fit_unavailable}"])
            result.fit = report
            result.warnings.extend(report.warnings)
            return
        keypoints = keypoints_from_detections(found, mirrored, item.image.shape[1])
        if item.detection is None:
            result.detection = two_hand_box(found, self.config.hand_box_extend)
        if item.crop.source != "detector":
            # A given box or crop says where the hands are: hands detected elsewhere are someone else's.
            x, y, w, h = (float(v) for v in item.crop.box)
            keypoints = [k for k in keypoints if x <= k.center_px[0] <= x + w and y <= k.center_px[1] <= y + h]
        if self._fitter is None:
            self._fitter = KeypointFitter(self.hand_models, cfg)
        self._fitter.config = cfg  # the settings may have changed since (they do not change the fitter's tables)
        fit_image_prediction(result, keypoints, self._fitter, network=self.has_network, hands_mean=self._hands_mean)

    def forward_crops(self, crops: np.ndarray) -> TwoHandPrediction:
        """``(B, H, W, 3)`` uint8 RGB crops -> the network's prediction, on the CPU.

        The input is RGB / 255 with no mean/std normalisation, as in official training (``InterHand26M.__getitem__``).
        """
        if crops.ndim != 4 or tuple(crops.shape[1:3]) != self.input_size:
            raise InvalidInputError(f"crops must be (B, {self.input_size[0]}, {self.input_size[1]}, 3), got {crops.shape}")
        img = torch.from_numpy(np.ascontiguousarray(crops)).to(self.device)
        img = img.permute(0, 3, 1, 2).float().div_(255.0)  # (B, 3, H, W)
        with torch.inference_mode():
            pred = self.model(img)
        return pred.to("cpu", torch.float64)

    # ------------------------------------------------------------------------------------------------------------
    # placement

    def postprocess(
        self, pred: TwoHandPrediction, prepared: Sequence[PreparedInput], intrinsics: Any = None
    ) -> list[ImagePrediction]:
        """Place a batch of predictions (CPU tensors) in their original images (see :mod:`.placement`)."""
        cfg = self.config
        stride = np.array(self.stride)  # (2,) crop px per heatmap px (x, y)
        in_hw = np.array([self.input_size[1], self.input_size[0]], dtype=np.float64)  # (2,) crop (w, h)
        arrays = {}
        for side, hand in pred.hands():
            flat = hand.hand_pose_aa.numpy() + self._hands_mean[side][None]  # (B, 45)
            pose = torch.from_numpy(np.concatenate([hand.root_pose_aa.numpy(), flat], axis=1))  # (B, 48)
            arrays[side] = dict(
                root_pose_aa=hand.root_pose_aa.numpy(),
                hand_pose_aa=hand.hand_pose_aa.numpy(),
                hand_pose_aa_flat=flat,
                pose_rotmat=axis_angle_to_rotmat(pose.view(-1, 16, 3)).numpy(),  # (B, 16, 3, 3)
                betas=hand.betas.numpy(),
                cam=hand.cam.numpy(),
                joints_hm=hand.joints_hm.numpy(),
                joints_rel=hand.joints_cam.numpy(),
                verts_rel=hand.verts_cam.numpy(),
                root_model=hand.root_model.numpy(),
                joints_proj_hm=hand.joints_proj_hm.numpy(),
            )
        rel_trans = pred.rel_trans.numpy()
        results = []
        for b, item in enumerate(prepared):
            width, height = item.image_size
            camera, camera_source = image_camera(width, height, intrinsics, focal=cfg.focal, fov_deg=cfg.fov_deg)
            warnings = list(item.warnings)
            crop = item.crop
            crop_scale = crop.box[2] / self.input_size[1]  # original px per crop px
            hands: dict[str, HandResult] = {}
            root_cam_right = None
            for side in ("right", "left"):
                a = arrays[side]
                joints_model = a["joints_rel"][b] + a["root_model"][b]  # (21, 3) un-centred, hand-model frame
                uv_wp = apply_affine(a["joints_proj_hm"][b] * stride, crop.crop2img)  # (21, 2) image px
                uv_hm = apply_affine(a["joints_hm"][b, :, :2] * stride, crop.crop2img)  # (21, 2) image px
                diff = (a["joints_hm"][b, :, :2] - a["joints_proj_hm"][b]) * stride / in_hw  # (21, 2) crop fraction
                agreement = float(np.linalg.norm(diff, axis=1).mean())
                confidence = math.exp(-agreement / cfg.confidence_scale) if np.isfinite(agreement) else 0.0
                own_t, own_note = self._solve_hand(joints_model, uv_wp, a["cam"][b, 0], crop, crop_scale, camera)
                placement: dict[str, Any] = {"weak_perspective_scale_px_per_m": float(a["cam"][b, 0] * stride[0] * crop_scale)}
                if side == "right":
                    transl = own_t
                    if own_note:
                        warnings.append(f"right hand: {own_note}")
                    root_cam = a["root_model"][b] + transl
                    root_cam_right = root_cam
                    placement["method"] = "perspective fit of the weak-perspective camera" if not own_note else own_note
                else:
                    root_cam = root_cam_right + rel_trans[b]
                    transl = root_cam - a["root_model"][b]
                    placement["method"] = "right wrist + rel_trans"
                    # Diagnostic: where the left hand's own camera would put it (how far rel_trans disagrees).
                    own_root = None if own_note else a["root_model"][b] + own_t
                    placement["root_cam_from_own_camera"] = None if own_root is None else np.round(own_root, 6).tolist()
                    placement["rel_trans_vs_own_camera_m"] = (
                        None if own_root is None else round(float(np.linalg.norm(own_root - root_cam)), 5)
                    )
                joints_cam = joints_model + transl  # (21, 3)
                verts_cam = a["verts_rel"][b] + root_cam  # (V, 3)
                if side == "left" and float(joints_cam[:, 2].min()) <= camera.znear:
                    warnings.append("left hand: rel_trans places part of it behind the camera; it is not fully drawn")
                joints_2d = project(joints_cam, camera.focal, camera.princpt)  # (21, 2)
                placement["mean_gap_to_weak_perspective_px"] = round(float(np.linalg.norm(joints_2d - uv_wp, axis=1).mean()), 3)
                hands[side] = HandResult(
                    side=side,
                    root_pose_aa=a["root_pose_aa"][b],
                    hand_pose_aa=a["hand_pose_aa"][b],
                    hand_pose_aa_flat=a["hand_pose_aa_flat"][b],
                    pose_rotmat=a["pose_rotmat"][b],
                    betas=a["betas"][b],
                    cam_weak_perspective=a["cam"][b],
                    transl=transl,
                    root_cam=root_cam,
                    joints_cam=joints_cam,
                    verts_cam=verts_cam,
                    faces=self.faces[side],
                    joints_2d=joints_2d,
                    joints_2d_heatmap=uv_hm,
                    joints_hm=a["joints_hm"][b],
                    confidence=confidence,
                    agreement=agreement,
                    placement=placement,
                )
            confidence = min(hands["right"].confidence, hands["left"].confidence)
            detector_score = item.detection.score if item.detection is not None and crop.source == "detector" else None
            if detector_score is not None:
                confidence *= detector_score
            # Without a network the "confidence" compares the mean hands with themselves: no warning from it.
            low = low_confidence_warning(float(confidence), {s: h.agreement for s, h in hands.items()},
                                         cfg.low_confidence, cfg.confidence_scale, detector_score
                                         ) if self.has_network else None  # fmt: skip
            # The model's own limits first: they matter more than anything about this one image.
            warnings = [*self.model_warnings, *warnings, *([low] if low is not None else [])]
            results.append(
                ImagePrediction(
                    source=item.source,
                    image_size=(width, height),
                    crop=crop,
                    camera=camera,
                    camera_source=camera_source,
                    right=hands["right"],
                    left=hands["left"],
                    rel_trans=rel_trans[b],
                    confidence=float(confidence),
                    detection=item.detection,
                    warnings=warnings,
                    hand_model=dict(self.hand_model_info),
                    model=dict(self.model_info),
                    timings_ms=dict(item.timings_ms),
                    frame_index=item.frame_index,
                )
            )
        return results

    def _solve_hand(
        self, joints_model: np.ndarray, uv: np.ndarray, scale_hm: float, crop: Crop, crop_scale: float, camera
    ) -> tuple[np.ndarray, str]:
        """Translation of one hand from its weak-perspective joints; ``(T, "")`` or ``(fallback T, why)``."""
        fx = camera.focal[0]
        scale_img = scale_hm * self.stride[0] * crop_scale  # image px per metre
        center = joints_model.mean(axis=0)
        # Fallback depth: the hands' span fills the crop (used when the network's camera is unusable).
        depth = fx * _FALLBACK_SPAN_M / max(crop.box[2], 1e-6)
        if np.isfinite(scale_img) and scale_img > 1e-6 and np.all(np.isfinite(uv)):
            prior = fx / scale_img - center[2]
            t = solve_translation(joints_model, uv, camera.focal, camera.princpt, depth_prior=prior)
            z = joints_model[:, 2] + t[2]
            if not np.all(np.isfinite(t)) or float(z.min()) <= _MIN_DEPTH_M:
                why = "the perspective fit put the hand behind the camera"
            elif float(z.mean()) > _MAX_DEPTH_FACTOR * depth:
                why = (f"the network's weak-perspective scale is implausibly small (s={scale_hm:.3g}: the hand would be "
                       f"{float(z.mean()):.3g} m away)")  # fmt: skip
            else:
                return t, ""
        else:
            why = f"the network's weak-perspective scale is not positive (s={scale_hm:.3g})"
        cx, cy = crop.box[0] + 0.5 * crop.box[2], crop.box[1] + 0.5 * crop.box[3]
        t = np.array([
            (cx - camera.princpt[0]) * depth / fx - center[0],
            (cy - camera.princpt[1]) * depth / camera.focal[1] - center[1],
            depth - center[2],
        ])  # fmt: skip
        return t, f"{why}; placed at a default depth ({depth:.2f} m), the mesh will not match the image"


def _non_finite_fields(result: ImagePrediction) -> list[str]:
    """Names of the result's arrays holding NaN or infinity (``right.verts_cam``, ``rel_trans``, ...)."""
    bad = [] if np.all(np.isfinite(result.rel_trans)) else ["rel_trans"]
    for side, hand in result.hands():
        for name in ("verts_cam", "joints_cam", "joints_2d", "root_pose_aa", "hand_pose_aa", "betas"):
            if not np.all(np.isfinite(getattr(hand, name))):
                bad.append(f"{side}.{name}")
    return bad


def _message_without_source(message: str, source: str) -> str:
    prefix = f"{source}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def check_finite_weights(model: torch.nn.Module, path: Path) -> None:
    """Refuse a model whose parameters or buffers hold NaN or infinity (every prediction would be NaN).

    Raises:
        InvalidInputError: naming the first few tensors and what to do.
    """
    # A sum is non-finite when any element is (NaN and inf propagate), and is ~25x faster than an isfinite() mask
    # (0.07 s against 2 s for the full model's 137M values on 2 cores); a sum that merely overflowed is told apart by
    # the exact check, run only on the tensors the sum flags.
    bad = [name for name, t in model.state_dict().items()
           if t.is_floating_point() and not bool(torch.isfinite(t.sum())) and not bool(torch.isfinite(t).all())]  # fmt: skip
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise InvalidInputError(
            f"checkpoint {str(path)!r} holds NaN or infinite values in {len(bad)} tensor(s) ({shown}); it is corrupt "
            "or training diverged: use an earlier checkpoint (training keeps the last few and the best)"
        )


def _unknown_training_data_reason(path: Path, metadata: dict[str, str]) -> str:
    """Why a checkpoint without a training-data record has none (for the ``training_data_unknown`` warning)."""
    if metadata.get("source", "").startswith("official:"):
        return (f"{path.name} was converted from {metadata['source'][len('official:'):]} by an older eanet; convert "
                "it again to record it")  # fmt: skip
    return f"{path.name} was written by an older eanet or saved without it"


def _arch_summary(model_cfg: Any) -> str:
    return (f"{model_cfg.name} {model_cfg.backbone} width {model_cfg.width} input {list(model_cfg.input_size)} "
            f"interaction {model_cfg.interaction}")  # fmt: skip
