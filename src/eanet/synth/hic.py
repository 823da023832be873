"""A synthetic set in the HIC format InterWild evaluates on (InterWild ``data/HIC/HIC.py``).

HIC (Tzionas et al.) is a small Kinect test set: 640x480 images with fixed intrinsics ``f = 525``,
``c = (319.5, 239.5)``, and per hand a hand-model mesh in the **camera frame, metres**, stored as PLY. InterWild's
converted annotation file ``HIC.json`` is COCO-style::

    images[]:      id, file_name, width, height
    annotations[]: id, image_id, hand_type ('right' | 'left' | 'interacting'),
                   right_mano_path, left_mano_path  (PLY paths relative to the folder of HIC.json, or null)

This module writes that: ``HIC/HIC.json``, ``HIC/images/<seq>/<frame>.jpg`` and
``HIC/meshes/<seq>/<frame>_{right,left}.ply``. The meshes have the generator's hand model's vertices (778 for MANO;
the open hand's own count otherwise), so evaluating on it needs the same hand model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eanet.data.hic import HIC_FOCAL, HIC_PRINCPT
from eanet.hand_model.poses import sample_betas
from eanet.synth import appearance as app
from eanet.synth.camera import SynthCamera
from eanet.synth.capture import CaptureRenderer, hand_type_of, seeded_rng
from eanet.synth.json_writer import CocoJsonWriter

__all__ = ["generate_hic", "write_ply", "HIC_SIZE"]

#: HIC's fixed Kinect intrinsics and image size (InterWild ``data/HIC/HIC.py``).
HIC_SIZE = (640, 480)
_HIC_KIND_WEIGHTS = {"touch": 0.3, "overlap": 0.2, "interlaced": 0.2, "far": 0.1, "right": 0.1, "left": 0.1}
_HIC_FRAMES_PER_SEQUENCE = 8


def write_ply(path: Path, verts: np.ndarray, faces: np.ndarray) -> None:
    """Binary little-endian PLY with float32 ``x, y, z`` vertices and int32 triangle ``vertex_indices``."""
    from plyfile import PlyData, PlyElement

    v = np.empty(len(verts), dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4")])
    v["x"], v["y"], v["z"] = verts[:, 0], verts[:, 1], verts[:, 2]
    f = np.empty(len(faces), dtype=[("vertex_indices", "<i4", (3,))])
    f["vertex_indices"] = faces
    path.parent.mkdir(parents=True, exist_ok=True)
    PlyData([PlyElement.describe(v, "vertex"), PlyElement.describe(f, "face")], text=False).write(str(path))


def generate_hic(capture_renderer: CaptureRenderer, hic_dir: Path, num_frames: int, seed: int, bar=None) -> int:
    """Render ``num_frames`` HIC-style frames (one Kinect view each) into ``hic_dir``.

    Args:
        capture_renderer: the generator's per-process rig and renderer.
        hic_dir: output folder (``HIC.json`` goes here).
        num_frames: frames (= images) to write.
        seed: master seed.
        bar: optional tqdm bar to advance.

    Returns:
        the number of images written.
    """
    rig, sampler = capture_renderer.rig, capture_renderer.sampler
    width, height = HIC_SIZE
    # The Kinect is the world: camera frame = world frame (mm here, metres in the PLY files).
    cam = SynthCamera(
        name="kinect",
        campos=np.zeros(3),
        camrot=np.eye(3),
        focal=np.array(HIC_FOCAL),
        princpt=np.array(HIC_PRINCPT),
        width=width,
        height=height,
    )
    kinds = list(_HIC_KIND_WEIGHTS)
    weights = np.array(list(_HIC_KIND_WEIGHTS.values()))
    plan_rng = seeded_rng(seed, 10)
    writer = CocoJsonWriter(hic_dir / "HIC.json")
    count = 0
    try:
        seq = 0
        while count < num_frames:
            n = min(_HIC_FRAMES_PER_SEQUENCE, num_frames - count)
            kind = kinds[seq] if seq < len(kinds) else str(plan_rng.choice(kinds, p=weights))
            srng = seeded_rng(seed, 11, seq)
            center = np.array([srng.uniform(-60, 60), srng.uniform(-40, 40), srng.uniform(450, 650)])
            betas_subject = sample_betas(srng, 1, std=0.8)[0].astype(np.float64)
            betas = {s: betas_subject + srng.normal(0.0, 0.05, size=10) for s in ("right", "left")}
            frames = sampler.sample_sequence(srng, kind, n, betas, center)
            skin = app.sample_skin(srng)
            lighting = app.sample_studio_lighting(srng)
            colors = {s: app.skin_vertex_colors(skin, rig.palm_weights(s), srng) for s in ("right", "left")}
            seq_name = f"{'hh' if kind not in ('right', 'left') else 'h'}_{seq:02d}"
            for f, frame in enumerate(frames):
                irng = seeded_rng(seed, 12, seq, f)
                image, _, _, _ = capture_renderer.render_image(frame, colors, lighting, cam, irng)
                rel = f"images/{seq_name}/{f:04d}.jpg"
                path = hic_dir / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(app.encode_jpeg(image, int(irng.integers(88, 96))))
                mesh_paths = {}
                for side in ("right", "left"):
                    hand = frame.hand(side)
                    if hand is None:
                        mesh_paths[side] = None
                        continue
                    mesh_rel = f"meshes/{seq_name}/{f:04d}_{side}.ply"
                    write_ply(hic_dir / mesh_rel, hand.verts_mm / 1000.0, rig.faces[side])
                    mesh_paths[side] = mesh_rel
                writer.add_image({"id": count, "file_name": rel, "width": width, "height": height})
                writer.add_annotation(
                    {
                        "id": count,
                        "image_id": count,
                        "hand_type": hand_type_of(kind),
                        "right_mano_path": mesh_paths["right"],
                        "left_mano_path": mesh_paths["left"],
                    }
                )
                count += 1
                if bar is not None:
                    bar.update(1)
            seq += 1
    except BaseException:
        writer.abort()
        raise
    writer.close()
    return count
