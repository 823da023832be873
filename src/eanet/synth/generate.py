"""Synthetic two-hand dataset in the exact InterHand2.6M v1.0 release layout (plus a HIC-format set).

``generate_synthetic_dataset`` renders two hands (the built-in open hand by default, MANO when given) in
interacting configurations (touching, overlapping, interlaced, far apart) and single-hand sequences, each frame
seen by a fixed rig of calibrated cameras, and writes what the release has:

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

import logging
import multiprocessing as mp
import os
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from eanet.data.synthetic_manifest import (
    MANIFEST_NAME,
    STATUS_COMPLETE,
    STATUS_INCOMPLETE,
    write_synthetic_manifest,
)
from eanet.errors import UserError
from eanet.hand_model.skeleton import IH26M_JOINTS_21
from eanet.synth.capture import CapturePlan, CaptureRenderer, CaptureResult, SequencePlan, seeded_rng
from eanet.synth.config import DEFAULT_KIND_WEIGHTS, SPLIT_INDEX, SynthConfig
from eanet.synth.hic import generate_hic
from eanet.synth.json_writer import CocoJsonWriter, NestedJsonWriter, write_json
from eanet.version import __version__

__all__ = ["SynthSummary", "generate_synthetic_dataset", "ANNOTATION_ID_START"]

logger = logging.getLogger(__name__)

#: Annotation ids start here and image ids at 0, so a reader that mixes the two up fails loudly.
ANNOTATION_ID_START = 1_000_000
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


def _plan_split(cfg: SynthConfig, split: str, subject_start: int) -> list[CapturePlan]:
    rng = seeded_rng(cfg.seed, 0, SPLIT_INDEX[split])
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
            seqs.append(SequencePlan(index=i, name=name, kind=kind, target_pose=target, frame_indices=frames))
        captures.append(CapturePlan(split=split, capture=c, subject=subject_start + c, sequences=tuple(seqs)))
    return captures


# Worker processes keep one CaptureRenderer each (created by the pool initializer).
_WORKER: CaptureRenderer | None = None


def _worker_init(cfg: SynthConfig, out_dir: str) -> None:
    global _WORKER
    import torch

    torch.set_num_threads(1)
    _WORKER = CaptureRenderer(cfg, Path(out_dir))


def _worker_render(plan: CapturePlan) -> CaptureResult:
    assert _WORKER is not None
    return _WORKER.render_capture(plan)


# ---------------------------------------------------------------------------------------------------------------
# Writing the release files.


def _skeleton_txt() -> str:
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

    def add(self, result: CaptureResult) -> None:
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


def _progress(total: int, enabled: bool, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="img", disable=not enabled, file=sys.stderr, dynamic_ncols=True)


def _iter_results(
    cfg: SynthConfig, out_dir: Path, plans: Sequence[CapturePlan], local: CaptureRenderer | None
) -> Iterator[CaptureResult]:
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
    local = CaptureRenderer(cfg, out_dir)
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
        "status": STATUS_INCOMPLETE,
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()},
        "note": "Synthetic data in the InterHand2.6M v1.0 layout; not InterHand2.6M and not a substitute for it.",
    }
    # Written before anything else (so --overwrite can clean up an interrupted run) and again at the end.
    write_synthetic_manifest(out_dir, manifest)
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
                hic_images = generate_hic(local, out_dir / "HIC", cfg.hic_frames, cfg.seed, bar)
    finally:
        local.close()
        torch.set_num_threads(num_threads)
    subject_lines = ["# subject id, subject directory, subject gender"]
    subject_lines += [f"{sid} synthetic_subject_{sid:04d}_{where.replace('/', '_')} unknown" for sid, where in subjects]
    (ann_dir / "subject.txt").write_text("\n".join(subject_lines) + "\n", encoding="utf-8")
    seconds = time.perf_counter() - start
    summary = SynthSummary(out_dir, images, frames, hic_images, seconds, backend)
    manifest.update(status=STATUS_COMPLETE, images=images, frames=frames, hic_images=hic_images, backend=backend)
    write_synthetic_manifest(out_dir, manifest)
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
