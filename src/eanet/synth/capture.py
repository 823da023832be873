"""One capture of the synthetic generator: its plan, the per-process renderer, and what rendering it yields.

Shared by the InterHand2.6M-format writer (:mod:`eanet.synth.generate`) and the HIC-format writer
(:mod:`eanet.synth.hic`): :class:`CaptureRenderer` holds one process's hand rig, scene sampler and renderer;
:func:`seeded_rng` gives every random choice its own generator seeded by the choice's keys, so the same options give
identical bytes with or without worker processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eanet.hand_model import build_hand_models
from eanet.hand_model.config import HandModelConfig
from eanet.hand_model.layer import HandModelLayer
from eanet.hand_model.mano import load_mano_pair
from eanet.hand_model.poses import sample_betas
from eanet.render import Camera, Mesh, Renderer
from eanet.synth import appearance as app
from eanet.synth.camera import camera_json, sample_camera_rig
from eanet.synth.config import SPLIT_INDEX, SynthConfig
from eanet.synth.scene import HandRig, SceneSampler

__all__ = [
    "SequencePlan",
    "CapturePlan",
    "ImageRecord",
    "FrameRecord",
    "CaptureResult",
    "CaptureRenderer",
    "seeded_rng",
    "hand_type_of",
    "build_hand_layers",
]


@dataclass(frozen=True)
class SequencePlan:
    """One motion sequence of a capture: its kind (``DEFAULT_KIND_WEIGHTS``), name and frame numbers."""

    index: int
    name: str
    kind: str
    target_pose: str | None
    frame_indices: tuple[int, ...]


@dataclass(frozen=True)
class CapturePlan:
    """One capture (one subject, one camera rig) of a split and its sequences."""

    split: str
    capture: int
    subject: int
    sequences: tuple[SequencePlan, ...]

    @property
    def num_frames(self) -> int:
        return sum(len(s.frame_indices) for s in self.sequences)


def seeded_rng(*keys: int) -> np.random.Generator:
    """The generator of one random choice, seeded by its keys (e.g. ``(seed, stage, split, capture, ...)``)."""
    return np.random.default_rng([int(k) for k in keys])


@dataclass
class ImageRecord:
    """The annotation fields of one rendered image (one camera's view of one frame)."""

    file_name: str
    width: int
    height: int
    camera: str
    seq_name: str
    frame_idx: int
    joint_valid: list[int]
    bbox: list[float]
    hand_type: str
    hand_type_valid: int
    rootnet_bbox: list[float]
    abs_depth: list[float]
    human: bool


@dataclass
class FrameRecord:
    """The 3D annotation of one frame (shared by all cameras) and its MANO-file entry."""

    frame_idx: int
    joint_3d: dict
    mano: dict | None  # None: the frame is missing from the MANO file


@dataclass
class CaptureResult:
    """What rendering one capture yields: its cameras, frames and images (images are already on disk)."""

    plan: CapturePlan
    camera_json: dict
    frames: list[FrameRecord]
    images: list[ImageRecord]
    backend: str


def hand_type_of(kind: str) -> str:
    """The release's ``hand_type`` of a scene kind: ``right``, ``left`` or ``interacting``."""
    return kind if kind in ("right", "left") else "interacting"


def _bbox_from_points(uv: np.ndarray, width: int, height: int, extend: float = 1.2) -> list[float]:
    """xywh box around points, grown by ``extend`` about its centre and clipped to the image."""
    lo, hi = uv.min(0), uv.max(0)
    center, size = (lo + hi) / 2, (hi - lo) * extend
    x0, y0 = np.maximum(center - size / 2, 0.0)
    x1, y1 = np.minimum(center + size / 2, [width - 1.0, height - 1.0])
    return [
        round(float(x0), 3),
        round(float(y0), 3),
        round(float(max(x1 - x0, 0.0)), 3),
        round(float(max(y1 - y0, 0.0)), 3),
    ]


def _rootnet_bbox(bbox: list[float], width: int, height: int, scale: float = 1.25) -> list[float]:
    """The crop box a RootNet-style file stores: the GT box made square (the network input's 1:1 aspect) and grown
    by ``scale`` (InterHand2.6M's ``process_bbox``); it may extend past the image, as crops may."""
    x, y, w, h = bbox
    w, h = max(w, 1.0), max(h, 1.0)
    cx, cy = x + w / 2, y + h / 2
    side = max(w, h) * scale
    return [round(cx - side / 2, 3), round(cy - side / 2, 3), round(side, 3), round(side, 3)]


class CaptureRenderer:
    """Holds the hand rig and the renderer of one process; renders a capture and writes its images."""

    def __init__(self, cfg: SynthConfig, out_dir: Path) -> None:
        self.cfg = cfg
        self.out_dir = out_dir
        self._rig = None
        self._sampler = None
        self._renderer = None

    @property
    def rig(self):
        if self._rig is None:
            self._rig = HandRig(*build_hand_layers(self.cfg.hand_model, self.cfg.mano_dir))
            self._sampler = SceneSampler(self._rig, view_spread=self.cfg.view_spread)
        return self._rig

    @property
    def sampler(self):
        _ = self.rig
        return self._sampler

    @property
    def renderer(self):
        if self._renderer is None:
            self._renderer = Renderer(backend=self.cfg.backend)
        return self._renderer

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    # -- one image --------------------------------------------------------------------------------------------

    def render_image(self, frame, colors, lighting, cam, rng: np.random.Generator):
        """Render, composite over a background and finish one view. Returns (RGB uint8, mesh-id map, sides)."""
        meshes, sides = [], []
        for side in ("right", "left"):
            hand = frame.hand(side)
            if hand is not None:
                meshes.append(Mesh(hand.verts_mm / 1000.0, self.rig.faces[side], colors[side], name=side))
                sides.append(side)
        camera = Camera(
            tuple(cam.focal),
            tuple(cam.princpt),
            cam.width,
            cam.height,
            rotation=cam.camrot,
            translation=-cam.camrot @ cam.campos / 1000.0,
        )
        result = self.renderer.render(meshes, camera, lighting=lighting.for_camera(cam.camrot))
        background = app.sample_background(rng, cam.width, cam.height)
        image = app.finish_image(rng, app.composite(result.rgba, background), grayscale=cam.grayscale)
        return image, result.mesh_ids, sides, result.backend

    # -- one capture ------------------------------------------------------------------------------------------

    def render_capture(self, plan: CapturePlan) -> CaptureResult:
        cfg = self.cfg
        split_i = SPLIT_INDEX[plan.split]
        crng = seeded_rng(cfg.seed, 1, split_i, plan.capture)
        center = np.array([crng.uniform(-300, 300), crng.uniform(-300, 300), crng.uniform(700, 1100)])
        cams = sample_camera_rig(
            crng, cfg.cameras, cfg.width, cfg.height, center, cfg.grayscale_fraction, view_spread=cfg.view_spread
        )
        skin = app.sample_skin(crng)
        # One subject: both hands share a shape up to small left/right differences.
        betas_subject = sample_betas(crng, 1, std=0.8)[0].astype(np.float64)
        betas = {s: betas_subject + crng.normal(0.0, 0.05, size=10) for s in ("right", "left")}
        frames_out: list[FrameRecord] = []
        images_out: list[ImageRecord] = []
        backend = ""
        human_p = cfg.human_fraction.get(plan.split, 0.0)
        for seq in plan.sequences:
            srng = seeded_rng(cfg.seed, 2, split_i, plan.capture, seq.index)
            frames = self.sampler.sample_sequence(
                srng, seq.kind, len(seq.frame_indices), betas, center, seq.target_pose
            )
            lighting = app.sample_studio_lighting(srng)
            colors = {s: app.skin_vertex_colors(skin, self.rig.palm_weights(s), srng) for s in ("right", "left")}
            hand_type = hand_type_of(seq.kind)
            for frame, frame_idx in zip(frames, seq.frame_indices, strict=True):
                valid3d, mano = self._annotate_frame(srng, frame)
                human = bool(srng.random() < human_p)
                joints = frame.joints_world_mm
                frames_out.append(
                    FrameRecord(
                        frame_idx=frame_idx,
                        joint_3d={
                            "world_coord": np.round(joints, 4).tolist(),
                            "joint_valid": valid3d.astype(int).tolist(),
                            "hand_type": hand_type,
                            "seq": seq.name,
                        },
                        mano=mano,
                    )
                )
                for k, cam in enumerate(cams):
                    irng = seeded_rng(cfg.seed, 3, split_i, plan.capture, seq.index, frame_idx, k)
                    image, mesh_ids, sides, backend = self.render_image(frame, colors, lighting, cam, irng)
                    rel = f"Capture{plan.capture}/{seq.name}/cam{cam.name}/image{frame_idx}.jpg"
                    quality = int(irng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
                    path = self.out_dir / "images" / plan.split / rel
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(app.encode_jpeg(image, quality))
                    if cfg.masks:
                        self._write_mask(plan.split, rel, mesh_ids, sides)
                    images_out.append(self._image_record(irng, rel, cam, seq.name, frame_idx, frame, valid3d, human))
        return CaptureResult(plan, camera_json(cams), frames_out, images_out, backend)

    def _annotate_frame(self, rng: np.random.Generator, frame) -> tuple[np.ndarray, dict | None]:
        """3D joint validity (42,) and the frame's MANO entry (None: missing from the file)."""
        cfg = self.cfg
        valid = np.zeros(42, dtype=bool)
        for h, side in enumerate(("right", "left")):
            if frame.hand(side) is not None:
                valid[21 * h : 21 * h + 21] = True
        present = np.flatnonzero(valid)
        if rng.random() < cfg.joint_dropout_fraction:
            non_wrist = present[(present != 20) & (present != 41)]
            if len(non_wrist):
                valid[rng.choice(non_wrist, size=min(int(rng.integers(1, 4)), len(non_wrist)), replace=False)] = False
        for wrist in (20, 41):
            if valid[wrist] and rng.random() < cfg.wrist_dropout_fraction:
                valid[wrist] = False
        if rng.random() < cfg.missing_mano_fraction:
            return valid, None
        mano = {}
        for wrist, side in ((20, "right"), (41, "left")):
            hand = frame.hand(side)
            # NeuralAnnot has no fit for a hand without a valid 3D root (NeuralAnnot_RELEASE issue #7).
            mano[side] = hand.params.to_json() if hand is not None and valid[wrist] else None
        return valid, mano

    def _image_record(self, rng, rel, cam, seq_name, frame_idx, frame, valid3d, human) -> ImageRecord:
        uv, z = cam.project(frame.joints_world_mm)
        valid2d = valid3d & cam.in_image(uv, z)
        hand_type = hand_type_of(frame.kind)
        hand_type_valid = int(hand_type in ("right", "left") or valid2d.sum() > 30)
        if valid2d.any():
            bbox = _bbox_from_points(uv[valid2d], cam.width, cam.height)
        else:  # no annotated joint inside the image: the whole image (readers skip such annotations anyway)
            bbox = [0.0, 0.0, float(cam.width), float(cam.height)]
        depth = {}
        for wrist, side in ((20, "right"), (41, "left")):
            depth[side] = float(z[wrist]) if frame.hand(side) is not None else None
        present = [d for d in depth.values() if d is not None]
        abs_depth = [
            round(
                (depth[s] if depth[s] is not None else present[0]) + rng.normal(0.0, self.cfg.rootnet_depth_noise_mm), 3
            )
            for s in ("right", "left")
        ]
        return ImageRecord(
            file_name=rel,
            width=cam.width,
            height=cam.height,
            camera=cam.name,
            seq_name=seq_name,
            frame_idx=frame_idx,
            joint_valid=valid2d.astype(int).tolist(),
            bbox=bbox,
            hand_type=hand_type,
            hand_type_valid=hand_type_valid,
            rootnet_bbox=_rootnet_bbox(bbox, cam.width, cam.height),
            abs_depth=abs_depth,
            human=human,
        )

    def _write_mask(self, split: str, rel: str, mesh_ids: np.ndarray, sides: list[str]) -> None:
        import cv2

        lut = np.zeros(len(sides) + 1, dtype=np.uint8)  # index 0 <- mesh id -1 (background)
        for i, side in enumerate(sides):
            lut[i + 1] = 1 if side == "right" else 2
        mask = lut[mesh_ids + 1]
        path = (self.out_dir / "masks" / split / rel).with_suffix(".png")
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), mask)


def build_hand_layers(kind: str, mano_dir: str | None):
    """``(right, left)`` hand-model layers for the generator (``kind``: ``open`` or ``mano``)."""
    if kind == "mano":
        right, left = load_mano_pair(mano_dir, origin="--mano-dir (SynthConfig.mano_dir)" if mano_dir else None)
        return HandModelLayer(right), HandModelLayer(left)
    return build_hand_models(HandModelConfig(kind=kind))  # type: ignore[arg-type]
