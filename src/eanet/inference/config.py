"""Configuration of inference (predictor, hand detection, camera, outputs, video smoothing).

Only :func:`eanet.inference.predictor.Predictor.from_checkpoint` and the ``eanet predict`` command read this
section; the classes below it take explicit arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from eanet.speed import SpeedConfig


@dataclass(frozen=True)
class FitConfig:
    """Keypoint fitting (``eanet predict --fit keypoints``, :mod:`eanet.inference.fit`, docs/inference.md).

    Loss weights are relative to the 2D keypoint term (which is in units of the hand's size in the image).
    """

    #: ``none`` (the network's meshes as they are) or ``keypoints`` (fit each hand to MediaPipe's 21 keypoints).
    method: Literal["none", "keypoints"] = "none"
    #: L-BFGS-B iterations per image (both hands together; at most twice as many loss evaluations); the fit stops
    #: earlier when the loss stops falling. 0 keeps the start pose and only places each hand on its keypoints
    #: (global rotation and translation, closed form).
    iterations: int = 40
    #: Stop when an iteration lowers the loss by less than this fraction.
    tolerance: float = 1e-6
    #: Also run MediaPipe on the mirror image and merge (it finds hands it misses on the original, e.g. the second
    #: hand of example_image2.png, and its handedness labels are checked against the mirror pass's).
    mirror_detection: bool = True
    #: Scale of the robust (pseudo-Huber) 2D term, as a fraction of the hand's size in the image: residuals above it
    #: pull with a constant force, so a landmark MediaPipe put on the wrong finger cannot drag the whole hand.
    robust_scale: float = 0.1
    #: Weight of MediaPipe's 3D landmarks (bone directions: finger bending towards or away from the camera).
    weight_bones_3d: float = 0.05
    #: Weight of the pose prior towards the starting pose (the network's, or the hand model's mean pose).
    weight_pose_prior: float = 0.002
    #: Weight of the shape prior (L2 on betas).
    weight_shape_prior: float = 0.001
    #: Weight of the interpenetration penalty (vertices of one hand inside the bone spheres of the other).
    weight_interpenetration: float = 0.1

    def __post_init__(self) -> None:
        if self.method not in ("none", "keypoints"):
            raise ValueError(f"fit.method must be 'none' or 'keypoints', got {self.method!r}")
        if not 0 <= self.iterations <= 10_000:
            raise ValueError(f"fit.iterations must be between 0 and 10000, got {self.iterations}")
        if self.tolerance < 0 or self.robust_scale <= 0:
            raise ValueError("fit.tolerance must be >= 0 and fit.robust_scale > 0")
        for name in ("weight_bones_3d", "weight_pose_prior", "weight_shape_prior", "weight_interpenetration"):
            if getattr(self, name) < 0:
                raise ValueError(f"fit.{name} must be non-negative, got {getattr(self, name)}")


@dataclass(frozen=True)
class InferenceConfig:
    # ---- batching and device
    #: Crops per forward pass.
    batch_size: int = 16
    #: Fast inference path: precision, compilation, CUDA graphs, ONNX Runtime (``eanet.speed``, docs/speed.md);
    #: the default is the exact fp32 PyTorch path.
    speed: SpeedConfig = field(default_factory=SpeedConfig)

    # ---- crops (as the official ``common/utils/preprocessing.py``)
    #: A two-hand box (from the detector or ``--bbox``) is made square and grown by this factor around its centre
    #: (official ``process_bbox``); ``--cropped`` inputs use the whole image as that box, as the official demo.
    bbox_extend: float = 1.25
    #: Each detected hand's landmark box is grown by this factor before the union (the official ``get_bbox``
    #: extend of training crops, so detected crops look like training crops).
    hand_box_extend: float = 1.25

    # ---- hand detection (MediaPipe hand landmarker; optional extra ``eanet[detect]``)
    #: ``hand_landmarker.task`` path; null: the file ``eanet detector fetch`` caches in the user cache directory.
    detector_model_path: str | None = None
    #: Minimum hand-detection (palm) confidence of the landmarker.
    detector_min_confidence: float = 0.3
    #: Minimum hand-presence confidence of the landmarker (landmarks below it are dropped).
    detector_min_presence: float = 0.3

    # ---- camera of the original image (meshes are placed in its frame)
    #: Focal length in pixels of the original image; null: guessed from ``fov_deg`` (see ``docs/inference.md``).
    focal: float | None = None
    #: Field of view (degrees) across the image's larger side, used when ``focal`` is null.
    fov_deg: float = 50.0

    # ---- keypoint fitting (``--fit keypoints``; needs the MediaPipe extra)
    fit: FitConfig = field(default_factory=FitConfig)

    # ---- input limits
    #: Images with more pixels than this are refused (decompression-bomb guard); raise it for huge scans.
    max_image_pixels: int = 100_000_000

    # ---- confidence (docs/inference.md "Confidence")
    #: Disagreement between the heatmap 2D joints and the mesh's projected joints, as a fraction of the crop size,
    #: at which a hand's confidence falls to 1/e.
    confidence_scale: float = 0.05
    #: An image whose confidence is below this gets a ``low_confidence`` warning. 0.3 is a mean disagreement of 6% of
    #: the crop size (``confidence_scale * ln(1 / 0.3)``): the network's heatmaps and its mesh point to clearly
    #: different joints, so at least one of them is wrong. 0 turns the warning off.
    low_confidence: float = 0.3

    # ---- outputs
    #: Largest side (pixels) of rendered overlays and side views; larger inputs are rendered downscaled.
    render_max_size: int = 1600
    #: Renderer backend: ``auto`` (pyrender on EGL when available, else the pure-torch rasterizer), ``pyrender``,
    #: ``torch``.
    render_backend: Literal["auto", "pyrender", "torch"] = "auto"
    #: Frame of OBJ/PLY meshes: ``opencv`` (the camera frame of the JSON: x right, y down, z forward) or ``yup``
    #: (x right, y up, z towards the viewer: the official demo's (1, -1, -1) flip). GLB files are always y-up
    #: (glTF's convention).
    mesh_axes: Literal["opencv", "yup"] = "opencv"
    #: Store vertices in the per-image JSON (they are also in the mesh files).
    json_vertices: bool = True

    # ---- video
    #: One-Euro smoothing strength for videos: 0 turns smoothing off, 1 is the default, larger is smoother
    #: (the filter's minimum cutoff frequency is ``smoothing_min_cutoff_hz / smoothing``).
    smoothing: float = 1.0
    #: One-Euro minimum cutoff frequency (Hz) at strength 1.
    smoothing_min_cutoff_hz: float = 1.0
    #: One-Euro speed coefficient (how fast the cutoff rises with motion; in units of each parameter group's scale).
    smoothing_beta: float = 0.5
    #: One-Euro cutoff frequency (Hz) of the derivative estimate.
    smoothing_derivative_cutoff_hz: float = 1.0
    #: Frames a lost detection is bridged by the last box before frames are reported as failed.
    max_tracked_frames: int = 30

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.bbox_extend <= 0 or self.hand_box_extend <= 0:
            raise ValueError("bbox_extend and hand_box_extend must be positive")
        if self.focal is not None and self.focal <= 0:
            raise ValueError(f"focal must be positive or null, got {self.focal}")
        if not 1.0 <= self.fov_deg <= 170.0:
            raise ValueError(f"fov_deg must be between 1 and 170 degrees, got {self.fov_deg}")
        if self.max_image_pixels < 1:
            raise ValueError(f"max_image_pixels must be positive, got {self.max_image_pixels}")
        if self.confidence_scale <= 0:
            raise ValueError(f"confidence_scale must be positive, got {self.confidence_scale}")
        if not 0.0 <= self.low_confidence <= 1.0:
            raise ValueError(f"low_confidence must be in [0, 1] (0 turns the warning off), got {self.low_confidence}")
        if self.render_max_size < 16:
            raise ValueError(f"render_max_size must be at least 16, got {self.render_max_size}")
        if self.smoothing < 0:
            raise ValueError(f"smoothing must be 0 (off) or positive, got {self.smoothing}")
        for name in ("smoothing_min_cutoff_hz", "smoothing_derivative_cutoff_hz"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.smoothing_beta < 0:
            raise ValueError(f"smoothing_beta must be non-negative, got {self.smoothing_beta}")
        if self.max_tracked_frames < 0:
            raise ValueError(f"max_tracked_frames must be non-negative, got {self.max_tracked_frames}")
        for name in ("detector_min_confidence", "detector_min_presence"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
