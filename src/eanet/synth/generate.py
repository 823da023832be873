"""Synthetic two-hand dataset in the exact InterHand2.6M v1.0 release layout (plus a HIC-format set).

``generate_synthetic_dataset`` renders two hands (the built-in open hand by default, MANO when given) in
interacting configurations (touching, overlapping, interlaced, far apart) and single-hand sequences, each frame
seen by a fixed rig of calibrated cameras, and writes what the release has (``interhand_format.md`` §1-6):

```
OUT/images/<split>/Capture<c>/<seq>/cam<camera>/image<frame_idx>.jpg
OUT/annotations/<split>/InterHand2.6M_<split>_{data,camera,joint_3d,MANO_NeuralAnnot}.json
OUT/annotations/skeleton.txt, OUT/annotations/subject.txt
OUT/aid_human_annot_{train,test}.txt               (H-subset annotation ids, as InterWild/EANet ship them)
OUT/rootnet_output/rootnet_interhand2.6m_output_{test,val}.json
OUT/HIC/HIC.json + OUT/HIC/images/... + OUT/HIC/meshes/*.ply   (with ``hic_frames > 0``)
OUT/masks/<split>/...png                            (optional: 0 background, 1 right hand, 2 left hand)
OUT/synthetic_manifest.json                         (what was generated, with which options)
```

Release facts reproduced on purpose: per-capture camera rigs in mm (``campos``/``camrot`` world -> camera),
grayscale ``41xxxx`` cameras, world joints in mm and one 3D pose per (capture, frame) shared by all cameras,
``joint_valid`` in ``_joint_3d.json`` (annotation success, ignores truncation; a few joints dropped at random) and in
``_data.json`` (also 0 outside the image), ``hand_type_valid`` (interacting needs more than 30 valid joints), MANO
parameters per frame in the world frame with ``trans`` in metres, ``None`` for an absent hand or a hand whose wrist
is not annotated, and some frames missing from the MANO file altogether.

Determinism: every random choice comes from a generator seeded by ``(seed, split, capture, sequence, frame,
camera)``, so the same options give identical JSON and identical image bytes, with or without worker processes.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eanet.errors import InvalidInputError, UserError
from eanet.version import __version__

__all__ = [
    "SynthConfig",
    "SynthSummary",
    "generate_synthetic_dataset",
    "DEFAULT_KIND_WEIGHTS",
    "ANNOTATION_ID_START",
    "HIC_FOCAL",
    "HIC_PRINCPT",
    "HIC_SIZE",
    "MANIFEST_NAME",
    "synthetic_hand_model_kind",
    "synthetic_gt_hand_model_data",
]

logger = logging.getLogger(__name__)

#: Share of sequences per configuration (interacting: touch/overlap/interlaced/far; single: right/left).
DEFAULT_KIND_WEIGHTS: dict[str, float] = {
    "touch": 0.22,
    "overlap": 0.14,
    "interlaced": 0.12,
    "far": 0.12,
    "right": 0.2,
    "left": 0.2,
}
#: Annotation ids start here and image ids at 0, so a reader that mixes the two up fails loudly.
ANNOTATION_ID_START = 1_000_000
#: HIC's fixed Kinect intrinsics and image size (InterWild ``data/HIC/HIC.py``; ``interhand_format.md`` §9).
HIC_FOCAL = (525.0, 525.0)
HIC_PRINCPT = (319.5, 239.5)
HIC_SIZE = (640, 480)
MANIFEST_NAME = "synthetic_manifest.json"
#: Share of each split's frames marked human-annotated ("H"), as in the release: train 528,482 / 1,361,062 and
#: test 121,573 / 849,160 annotations (``interhand_format.md`` §6); val has no H subset.
DEFAULT_HUMAN_FRACTION: dict[str, float] = {"train": 0.39, "test": 0.14}
#: Names the single-hand sequences move towards (a subset of eanet.hand_model.poses.NAMED_POSES).
_SINGLE_TARGETS = ("fist", "point", "victory", "pinch", "spread", "relaxed", "thumbs_up", "flat")
_SEQ_LABEL = {
    "touch": ("dh_touch", "Interaction_Fingers_Touching"),
    "overlap": ("dh_overlap", "Interaction_Hands_Overlap"),
    "interlaced": ("dh_interlaced", "Interaction_Fingers_Interlaced"),
    "far": ("dh_apart", "Interaction_Hands_Apart"),
    "right": ("rh", "RT_Hand_Poses"),
    "left": ("lh", "LT_Hand_Poses"),
}
_SPLIT_INDEX = {"train": 0, "val": 1, "test": 2}


@dataclass(frozen=True)
class SynthConfig:
    """What to generate (every field has a CLI option in ``eanet synth``).

    Attributes:
        num_frames: time steps per split; each is seen by ``cameras`` cameras (images = frames x cameras).
        split_frames: time steps of particular splits instead of ``num_frames`` (e.g. ``{"test": 160}``: a large
            training split with a small held-out one, in one run so that the splits get distinct subjects and rigs).
        cameras: cameras per capture rig.
        splits: splits to write.
        seed: master seed.
        hand_model: ``"open"`` (built-in) or ``"mano"``.
        mano_dir: MANO directory (``hand_model="mano"``; None: ``$EANET_MANO_DIR``).
        width, height: image size (the release's is 334 x 512, portrait).
        frames_per_sequence: frames of one motion sequence.
        sequences_per_capture: sequences filmed by one rig (one subject, one skin tone, one hand shape).
        kind_weights: share of sequences per configuration (see :data:`DEFAULT_KIND_WEIGHTS`).
        grayscale_fraction: chance that a camera is grayscale.
        jpeg_quality: inclusive range of JPEG qualities.
        human_fraction: per split, share of frames listed in ``aid_human_annot_<split>.txt``.
        missing_mano_fraction: share of frames absent from ``_MANO_NeuralAnnot.json``.
        joint_dropout_fraction: share of frames where 1-3 joints are marked not annotated.
        wrist_dropout_fraction: per hand and frame, chance that its wrist is not annotated (its MANO is then None).
        rootnet_depth_noise_mm: std of the error added to the RootNet-style absolute depths.
        hic_frames: frames of the HIC-format set (0: none).
        masks: also write hand masks (PNG, 0 background / 1 right / 2 left).
        backend: renderer backend (``auto``, ``pyrender``, ``torch``).
        workers: worker processes (0: render in this process).
        view_spread: in ``(0, 1]``: 1 (default) films hands in any orientation from cameras all around (camera-frame
            hand orientations cover nearly all rotations); below 1 the cameras and the hands' orientations are
            narrowed around a front view by this factor (``sample_camera_rig``, ``SceneSampler``), for small
            recipes that must learn in minutes (``docs/synthetic.md``).
    """

    num_frames: int = 32
    split_frames: dict[str, int] = field(default_factory=dict)
    cameras: int = 4
    splits: tuple[str, ...] = ("train", "val", "test")
    seed: int = 0
    hand_model: str = "open"
    mano_dir: str | None = None
    width: int = 334
    height: int = 512
    frames_per_sequence: int = 8
    sequences_per_capture: int = 6
    kind_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_KIND_WEIGHTS))
    grayscale_fraction: float = 0.15
    jpeg_quality: tuple[int, int] = (88, 95)
    human_fraction: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_HUMAN_FRACTION))
    missing_mano_fraction: float = 0.03
    joint_dropout_fraction: float = 0.08
    wrist_dropout_fraction: float = 0.01
    rootnet_depth_noise_mm: float = 25.0
    hic_frames: int = 0
    masks: bool = False
    backend: str = "auto"
    workers: int = 0
    view_spread: float = 1.0

    def frames_of(self, split: str) -> int:
        """Time steps generated for ``split``."""
        return int(self.split_frames.get(split, self.num_frames))

    def validate(self) -> None:
        if self.num_frames < 1:
            raise InvalidInputError(f"num_frames must be at least 1, got {self.num_frames}")
        for split, count in self.split_frames.items():
            if split not in self.splits:
                raise InvalidInputError(
                    f"split_frames names split {split!r}, which is not generated (splits: {list(self.splits)})"
                )
            if int(count) < 1:
                raise InvalidInputError(f"split_frames[{split!r}] must be at least 1, got {count}")
        if self.cameras < 1:
            raise InvalidInputError(f"cameras must be at least 1, got {self.cameras}")
        bad = [s for s in self.splits if s not in _SPLIT_INDEX]
        if bad or not self.splits or len(set(self.splits)) != len(self.splits):
            raise InvalidInputError(f"splits must be distinct names from train, val, test; got {list(self.splits)}")
        if self.hand_model not in ("open", "mano"):
            raise InvalidInputError(f"hand model must be 'open' or 'mano', got {self.hand_model!r}")
        if self.width < 16 or self.height < 16:
            raise InvalidInputError(f"image size {self.width}x{self.height} is too small; use at least 16x16")
        if self.frames_per_sequence < 1 or self.sequences_per_capture < 1:
            raise InvalidInputError("frames_per_sequence and sequences_per_capture must be at least 1")
        unknown = set(self.kind_weights) - set(DEFAULT_KIND_WEIGHTS)
        if unknown or not any(w > 0 for w in self.kind_weights.values()) or min(self.kind_weights.values()) < 0:
            raise InvalidInputError(
                f"kind weights must be non-negative, not all zero, over {sorted(DEFAULT_KIND_WEIGHTS)}; got "
                f"{self.kind_weights}"
            )
        lo, hi = self.jpeg_quality
        if not 1 <= lo <= hi <= 100:
            raise InvalidInputError(f"jpeg quality range must satisfy 1 <= low <= high <= 100, got {self.jpeg_quality}")
        if not 0.0 < self.view_spread <= 1.0:
            raise InvalidInputError(f"view spread must be in (0, 1] (1: the full variety), got {self.view_spread}")
        if self.hic_frames < 0 or self.workers < 0:
            raise InvalidInputError("hic_frames and workers must be non-negative")
        for name in ("grayscale_fraction", "missing_mano_fraction", "joint_dropout_fraction", "wrist_dropout_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InvalidInputError(f"{name} must be in [0, 1], got {getattr(self, name)}")


@dataclass
class SynthSummary:
    """What a run wrote and how fast."""

    out_dir: Path
    images: dict[str, int]
    frames: dict[str, int]
    hic_images: int
    seconds: float
    backend: str

    @property
    def total_images(self) -> int:
        return sum(self.images.values()) + self.hic_images

    @property
    def images_per_second(self) -> float:
        return self.total_images / max(self.seconds, 1e-9)


# ---------------------------------------------------------------------------------------------------------------
# Planning (cheap, main process): captures, subjects, sequences, frame numbers.


@dataclass(frozen=True)
class _SequencePlan:
    index: int
    name: str
    kind: str
    target_pose: str | None
    frame_indices: tuple[int, ...]


@dataclass(frozen=True)
class _CapturePlan:
    split: str
    capture: int
    subject: int
    sequences: tuple[_SequencePlan, ...]

    @property
    def num_frames(self) -> int:
        return sum(len(s.frame_indices) for s in self.sequences)


def _rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng([int(k) for k in keys])


def _plan_split(cfg: SynthConfig, split: str, subject_start: int) -> list[_CapturePlan]:
    rng = _rng(cfg.seed, 0, _SPLIT_INDEX[split])
    kinds = [k for k in DEFAULT_KIND_WEIGHTS if cfg.kind_weights.get(k, 0) > 0]
    weights = np.array([cfg.kind_weights[k] for k in kinds], dtype=np.float64)
    weights /= weights.sum()
    num_frames = cfg.frames_of(split)
    lengths = [cfg.frames_per_sequence] * (num_frames // cfg.frames_per_sequence)
    if num_frames % cfg.frames_per_sequence:
        lengths.append(num_frames % cfg.frames_per_sequence)
    # The first sequences cycle through every enabled kind (so even a tiny set has each), the rest are drawn.
    seq_kinds = list(rng.permutation(kinds))[: len(lengths)]
    seq_kinds += list(rng.choice(kinds, size=len(lengths) - len(seq_kinds), p=weights))
    captures = []
    for c, start in enumerate(range(0, len(lengths), cfg.sequences_per_capture)):
        frame = int(rng.integers(0, 500))
        seqs = []
        for i, (n, kind) in enumerate(
            zip(lengths[start : start + cfg.sequences_per_capture], seq_kinds[start:], strict=False)
        ):
            kind = str(kind)
            short, rom = _SEQ_LABEL[kind]
            target = str(rng.choice(_SINGLE_TARGETS)) if kind in ("right", "left") else None
            if rng.random() < 0.25:
                name = f"ROM{i:02d}_{rom}"
            else:
                name = f"{start + i:04d}_{short}" + (f"_{target}" if target else "")
            frames = tuple(range(frame, frame + n))
            frame += n + int(rng.integers(20, 200))  # sequences of one capture never share a frame index
            seqs.append(_SequencePlan(index=i, name=name, kind=kind, target_pose=target, frame_indices=frames))
        captures.append(_CapturePlan(split=split, capture=c, subject=subject_start + c, sequences=tuple(seqs)))
    return captures


# ---------------------------------------------------------------------------------------------------------------
# Rendering one capture (in this process or a worker).


@dataclass
class _ImageRecord:
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
class _FrameRecord:
    frame_idx: int
    joint_3d: dict
    mano: dict | None  # None: the frame is missing from the MANO file


@dataclass
class _CaptureResult:
    plan: _CapturePlan
    camera_json: dict
    frames: list[_FrameRecord]
    images: list[_ImageRecord]
    backend: str


def _hand_type(kind: str) -> str:
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


class _CaptureRenderer:
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
            from eanet.data.synthetic_scene import HandRig, SceneSampler

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
            from eanet.render import Renderer

            self._renderer = Renderer(backend=self.cfg.backend)
        return self._renderer

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    # -- one image --------------------------------------------------------------------------------------------

    def render_image(self, frame, colors, lighting, cam, rng: np.random.Generator):
        """Render, composite over a background and finish one view. Returns (RGB uint8, mesh-id map, sides)."""
        from eanet.data import synthetic_appearance as app
        from eanet.render import Camera, Mesh

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

    def render_capture(self, plan: _CapturePlan) -> _CaptureResult:
        from eanet.data import synthetic_appearance as app
        from eanet.data.synthetic_camera import camera_json, sample_camera_rig
        from eanet.hand_model.poses import sample_betas

        cfg = self.cfg
        split_i = _SPLIT_INDEX[plan.split]
        crng = _rng(cfg.seed, 1, split_i, plan.capture)
        center = np.array([crng.uniform(-300, 300), crng.uniform(-300, 300), crng.uniform(700, 1100)])
        cams = sample_camera_rig(
            crng, cfg.cameras, cfg.width, cfg.height, center, cfg.grayscale_fraction, view_spread=cfg.view_spread
        )
        skin = app.sample_skin(crng)
        # One subject: both hands share a shape up to small left/right differences.
        betas_subject = sample_betas(crng, 1, std=0.8)[0].astype(np.float64)
        betas = {s: betas_subject + crng.normal(0.0, 0.05, size=10) for s in ("right", "left")}
        frames_out: list[_FrameRecord] = []
        images_out: list[_ImageRecord] = []
        backend = ""
        human_p = cfg.human_fraction.get(plan.split, 0.0)
        for seq in plan.sequences:
            srng = _rng(cfg.seed, 2, split_i, plan.capture, seq.index)
            frames = self.sampler.sample_sequence(
                srng, seq.kind, len(seq.frame_indices), betas, center, seq.target_pose
            )
            lighting = app.sample_studio_lighting(srng)
            colors = {s: app.skin_vertex_colors(skin, self.rig.palm_weights(s), srng) for s in ("right", "left")}
            hand_type = _hand_type(seq.kind)
            for frame, frame_idx in zip(frames, seq.frame_indices, strict=True):
                valid3d, mano = self._annotate_frame(srng, frame)
                human = bool(srng.random() < human_p)
                joints = frame.joints_world_mm
                frames_out.append(
                    _FrameRecord(
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
                    irng = _rng(cfg.seed, 3, split_i, plan.capture, seq.index, frame_idx, k)
                    image, mesh_ids, sides, backend = self.render_image(frame, colors, lighting, cam, irng)
                    rel = f"Capture{plan.capture}/{seq.name}/cam{cam.name}/image{frame_idx}.jpg"
                    quality = int(irng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
                    path = self.out_dir / "images" / plan.split / rel
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(app.encode_jpeg(image, quality))
                    if cfg.masks:
                        self._write_mask(plan.split, rel, mesh_ids, sides)
                    images_out.append(self._image_record(irng, rel, cam, seq.name, frame_idx, frame, valid3d, human))
        return _CaptureResult(plan, camera_json(cams), frames_out, images_out, backend)

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

    def _image_record(self, rng, rel, cam, seq_name, frame_idx, frame, valid3d, human) -> _ImageRecord:
        uv, z = cam.project(frame.joints_world_mm)
        valid2d = valid3d & cam.in_image(uv, z)
        hand_type = _hand_type(frame.kind)
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
        return _ImageRecord(
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
    from eanet.hand_model import build_hand_models
    from eanet.hand_model.config import HandModelConfig

    if kind == "mano":
        from eanet.hand_model.layer import HandModelLayer
        from eanet.hand_model.mano import load_mano_pair

        right, left = load_mano_pair(mano_dir, origin="--mano-dir (SynthConfig.mano_dir)" if mano_dir else None)
        return HandModelLayer(right), HandModelLayer(left)
    return build_hand_models(HandModelConfig(kind=kind))  # type: ignore[arg-type]


# Worker processes keep one _CaptureRenderer each (created by the pool initializer).
_WORKER: _CaptureRenderer | None = None


def _worker_init(cfg: SynthConfig, out_dir: str) -> None:
    global _WORKER
    import torch

    torch.set_num_threads(1)
    _WORKER = _CaptureRenderer(cfg, Path(out_dir))


def _worker_render(plan: _CapturePlan) -> _CaptureResult:
    assert _WORKER is not None
    return _WORKER.render_capture(plan)


# ---------------------------------------------------------------------------------------------------------------
# Writing the release files.


def _skeleton_txt() -> str:
    from eanet.hand_model.skeleton import IH26M_JOINTS_21

    lines = ["# keypoint name, keypoint index, parent index"]
    parents = []
    for name in IH26M_JOINTS_21:  # tip first, wrist last
        finger, _, seg = name.partition("_")
        if name == "Wrist":
            parents.append(-1)
        elif seg == "1":
            parents.append(20)
        else:
            parents.append(IH26M_JOINTS_21.index(f"{finger}_{int(seg) - 1}"))
    for h, prefix in enumerate(("r", "l")):
        for j, name in enumerate(IH26M_JOINTS_21):
            parent = parents[j] if parents[j] < 0 else parents[j] + 21 * h
            lines.append(f"{prefix}_{name.lower().replace('_', '')} {j + 21 * h} {parent}")
    return "\n".join(lines) + "\n"


class _SplitWriter:
    """The four JSON files of one split plus the id lists, written capture by capture."""

    def __init__(self, out_dir: Path, split: str) -> None:
        from eanet.data.synthetic_writer import CocoJsonWriter, NestedJsonWriter

        self.out_dir = out_dir
        self.split = split
        ann = out_dir / "annotations" / split
        prefix = f"InterHand2.6M_{split}"
        self.data = CocoJsonWriter(ann / f"{prefix}_data.json")
        self.joint_3d = NestedJsonWriter(ann / f"{prefix}_joint_3d.json")
        self.mano = NestedJsonWriter(ann / f"{prefix}_MANO_NeuralAnnot.json")
        self.camera_path = ann / f"{prefix}_camera.json"
        self.cameras: dict[str, dict] = {}
        self.rootnet: list[dict] = []
        self.human_ids: list[int] = []
        self.num_images = 0
        self.num_frames = 0

    def add(self, result: _CaptureResult) -> None:
        plan = result.plan
        cap = str(plan.capture)
        self.cameras[cap] = result.camera_json
        for fr in result.frames:
            self.joint_3d.add(cap, fr.frame_idx, fr.joint_3d)
            if fr.mano is not None:
                self.mano.add(cap, fr.frame_idx, fr.mano)
        self.num_frames += len(result.frames)
        for rec in result.images:
            image_id = self.num_images
            aid = ANNOTATION_ID_START + image_id
            self.data.add_image(
                {
                    "id": image_id,
                    "file_name": rec.file_name,
                    "width": rec.width,
                    "height": rec.height,
                    "capture": plan.capture,
                    "subject": plan.subject,
                    "seq_name": rec.seq_name,
                    "camera": rec.camera,
                    "frame_idx": rec.frame_idx,
                }
            )
            self.data.add_annotation(
                {
                    "id": aid,
                    "image_id": image_id,
                    "bbox": rec.bbox,
                    "joint_valid": rec.joint_valid,
                    "hand_type": rec.hand_type,
                    "hand_type_valid": rec.hand_type_valid,
                }
            )
            if self.split in ("test", "val"):
                self.rootnet.append({"annot_id": aid, "bbox": rec.rootnet_bbox, "abs_depth": rec.abs_depth})
            if rec.human:
                self.human_ids.append(aid)
            self.num_images += 1

    def close(self) -> None:
        from eanet.data.synthetic_writer import write_json

        self.data.close()
        self.joint_3d.close()
        self.mano.close()
        write_json(self.camera_path, self.cameras)
        if self.split in ("test", "val"):
            write_json(
                self.out_dir / "rootnet_output" / f"rootnet_interhand2.6m_output_{self.split}.json", self.rootnet
            )
        if self.split in ("train", "test"):
            text = "".join(f"{i}\n" for i in self.human_ids)
            (self.out_dir / f"aid_human_annot_{self.split}.txt").write_text(text, encoding="utf-8")

    def abort(self) -> None:
        for w in (self.data, self.joint_3d, self.mano):
            w.abort()


def _prepare_out_dir(out_dir: Path, cfg: SynthConfig, overwrite: bool) -> None:
    manifest = out_dir / MANIFEST_NAME
    targets = [out_dir / "images" / s for s in cfg.splits] + [out_dir / "annotations" / s for s in cfg.splits]
    targets += [out_dir / "masks" / s for s in cfg.splits] + [out_dir / "HIC"]
    existing = [t for t in targets if t.exists()]
    if existing and not overwrite:
        raise UserError(
            f"{out_dir} already holds a dataset ({', '.join(str(t) for t in existing[:3])}...). Choose an empty "
            "directory, or pass --overwrite to replace a dataset this command generated."
        )
    if existing:
        if not manifest.is_file():
            raise UserError(
                f"{out_dir} has dataset folders but no {MANIFEST_NAME}, so it was not written by `eanet synth`; "
                "refusing to delete anything there. Choose another directory."
            )
        for t in existing:
            shutil.rmtree(t)
    out_dir.mkdir(parents=True, exist_ok=True)


def synthetic_hand_model_kind(root: str | Path) -> str | None:
    """The hand model (``"open"`` or ``"mano"``) an ``eanet synth`` dataset at ``root`` was made with.

    Read from ``root/synthetic_manifest.json`` (``config.hand_model``). Real InterHand2.6M/HIC folders have no
    manifest.

    Returns:
        ``"open"``/``"mano"``, or None when ``root`` holds no manifest (real data).

    Raises:
        InvalidInputError: the manifest exists but cannot be read, is not JSON, or names no known hand model. Its
            ground truth would otherwise be rebuilt with a guessed model (MANO meshes of open-hand parameters are
            wrong meshes), so this is an error, never a fallback.
    """
    path = Path(root) / MANIFEST_NAME
    if not path.is_file():
        return None
    fix = (
        f"regenerate the dataset with `eanet synth --out {Path(root)} --overwrite ...`, or restore the file "
        '(it must hold {"config": {"hand_model": "open" | "mano"}, ...})'
    )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise InvalidInputError(f"cannot read the synthetic-dataset manifest {path} ({err}); {fix}") from err
    config = manifest.get("config") if isinstance(manifest, dict) else None
    kind = config.get("hand_model") if isinstance(config, dict) else None
    if kind not in ("open", "mano"):
        raise InvalidInputError(
            f"the synthetic-dataset manifest {path} does not say which hand model made the data (config.hand_model "
            f"is {kind!r}, expected 'open' or 'mano'); {fix}"
        )
    return kind


def synthetic_gt_hand_model_data(root: str | Path) -> tuple[Any, Any] | None:
    """The ``(right, left)`` :class:`~eanet.hand_model.HandModelData` that made a synthetic dataset's ground truth,
    when it is not MANO.

    Real InterHand2.6M/HIC ground truth is MANO, so evaluation normally loads the user's MANO files. A dataset
    written by ``eanet synth --hand-model open`` holds parameters of the built-in open hand instead; its ground-truth
    meshes must be rebuilt with that model (MANO would give wrong meshes, and need licensed files for nothing).

    Returns:
        The open hand model's data for an open-hand dataset; None for real data (no manifest) and for
        ``--hand-model mano`` datasets (the caller loads MANO). :func:`synthetic_hand_model_kind` tells those apart.

    Raises:
        InvalidInputError: unreadable or incomplete manifest (:func:`synthetic_hand_model_kind`).
    """
    kind = synthetic_hand_model_kind(root)
    if kind is None or kind == "mano":
        return None
    from eanet.hand_model import load_hand_model_data

    logger.info("synthetic dataset made with the %r hand model: its ground truth is rebuilt with it", kind)
    return load_hand_model_data(kind, "right"), load_hand_model_data(kind, "left")


def _write_manifest(out_dir: Path, manifest: dict) -> None:
    # Written before anything else (so --overwrite can clean up an interrupted run) and again at the end.
    (out_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _progress(total: int, enabled: bool, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="img", disable=not enabled, file=sys.stderr, dynamic_ncols=True)


def _iter_results(
    cfg: SynthConfig, out_dir: Path, plans: Sequence[_CapturePlan], local: _CaptureRenderer | None
) -> Iterator[_CaptureResult]:
    if cfg.workers <= 0 or len(plans) <= 1:
        assert local is not None
        for plan in plans:
            yield local.render_capture(plan)
        return
    ctx = mp.get_context("spawn")  # fresh interpreters: no inherited GL context or torch thread pool
    with ctx.Pool(cfg.workers, initializer=_worker_init, initargs=(cfg, str(out_dir))) as pool:
        yield from pool.imap(_worker_render, plans)


def generate_synthetic_dataset(
    cfg: SynthConfig, out_dir: str | os.PathLike, *, overwrite: bool = False, progress: bool = True
) -> SynthSummary:
    """Generate a synthetic InterHand2.6M-format dataset (and a HIC-format set when ``cfg.hic_frames > 0``).

    Args:
        cfg: what to generate.
        out_dir: dataset root to write (``images/``, ``annotations/`` ... are created inside).
        overwrite: replace the splits of a dataset previously written there by this generator.
        progress: show a progress bar on standard error for runs of 200 images or more.

    Returns:
        counts, duration and the render backend used.
    """
    cfg.validate()
    out_dir = Path(out_dir)
    start = time.perf_counter()
    local = _CaptureRenderer(cfg, out_dir)
    _ = local.rig  # load the hand model first: missing MANO files fail before anything is written
    _prepare_out_dir(out_dir, cfg, overwrite)
    images: dict[str, int] = {}
    frames: dict[str, int] = {}
    backend = ""
    total = sum(cfg.frames_of(split) for split in cfg.splits) * cfg.cameras
    ann_dir = out_dir / "annotations"
    ann_dir.mkdir(parents=True, exist_ok=True)
    (ann_dir / "skeleton.txt").write_text(_skeleton_txt(), encoding="utf-8")
    subjects = []
    manifest = {
        "generator": f"eanet {__version__} synthetic",
        "status": "incomplete",
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()},
        "note": "Synthetic data in the InterHand2.6M v1.0 layout; not InterHand2.6M and not a substitute for it.",
    }
    _write_manifest(out_dir, manifest)
    import torch

    # The hand-model layer runs one small batch at a time: one thread is fastest, and on a shared machine extra
    # threads only add contention (measured 6 ms vs 50+ ms per call with 2 threads on a loaded 2-core box).
    num_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with _progress(total + cfg.hic_frames, progress and total >= 200, "eanet synth") as bar:
            subject_start = 0
            for split in cfg.splits:
                plans = _plan_split(cfg, split, subject_start)
                subject_start += len(plans)
                subjects += [(p.subject, f"{split}/Capture{p.capture}") for p in plans]
                writer = _SplitWriter(out_dir, split)
                try:
                    for result in _iter_results(cfg, out_dir, plans, local):
                        writer.add(result)
                        backend = result.backend or backend
                        bar.update(len(result.images))
                except BaseException:
                    writer.abort()
                    raise
                writer.close()
                images[split], frames[split] = writer.num_images, writer.num_frames
            hic_images = 0
            if cfg.hic_frames > 0:
                from eanet.data.synthetic_hic import generate_hic

                hic_images = generate_hic(local, out_dir / "HIC", cfg.hic_frames, cfg.seed, bar)
    finally:
        local.close()
        torch.set_num_threads(num_threads)
    subject_lines = ["# subject id, subject directory, subject gender"]
    subject_lines += [f"{sid} synthetic_subject_{sid:04d}_{where.replace('/', '_')} unknown" for sid, where in subjects]
    (ann_dir / "subject.txt").write_text("\n".join(subject_lines) + "\n", encoding="utf-8")
    seconds = time.perf_counter() - start
    summary = SynthSummary(out_dir, images, frames, hic_images, seconds, backend)
    manifest.update(status="complete", images=images, frames=frames, hic_images=hic_images, backend=backend)
    _write_manifest(out_dir, manifest)
    logger.info(
        "wrote %d images (%s) to %s in %.1f s (%.1f images/s, %s backend)",
        summary.total_images,
        ", ".join(f"{k} {v}" for k, v in images.items()) + (f", HIC {hic_images}" if hic_images else ""),
        out_dir,
        seconds,
        summary.images_per_second,
        backend,
    )
    return summary
