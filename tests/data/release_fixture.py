"""A tiny InterHand2.6M-format release written programmatically, for the data tests.

Images are black with a filled disc at every projected annotated joint: red for the right hand, green for the
left, so "the 2D joints land on the hands in the crop" is checkable pixel by pixel. Everything the tests compare
against is returned in :class:`TinyRelease` (world joints, cameras, parameters), so nothing is read back from the
files to build the expected values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

WIDTH, HEIGHT = 334, 512  # InterHand2.6M's images are 334 x 512 (w x h)
RED, GREEN = (255, 0, 0), (0, 255, 0)  # RGB


def look_at(center: np.ndarray, target: np.ndarray) -> np.ndarray:
    """World-to-camera rotation of an OpenCV camera at ``center`` looking at ``target`` (world y is down)."""
    z = target - center
    z = z / np.linalg.norm(z)
    down = np.array([0.0, 1.0, 0.0])
    y = down - z * (down @ z)
    y /= np.linalg.norm(y)
    x = np.cross(y, z)
    return np.stack([x, y, z])  # rows: camera axes in world coordinates


@dataclass
class TinyRelease:
    root: Path
    split: str
    data: dict
    cameras: dict
    joints: dict
    mano: dict
    # annotation id -> (capture, frame, camera name)
    ann_keys: dict = field(default_factory=dict)


def make_hand(rng: np.random.Generator, center_mm: np.ndarray) -> np.ndarray:
    """21 joints (release order: tips first, wrist last) spread in a ~70 mm box around ``center_mm``."""
    joints = center_mm + rng.uniform(-35, 35, size=(21, 3))
    joints[20] = center_mm + np.array([0.0, 30.0, 0.0])  # wrist below the fingers
    return joints


def write_release(
    root: Path,
    split: str = "train",
    *,
    captures: tuple[int, ...] = (0, 1),
    cameras_per_capture: int = 3,
    frames: tuple[int, ...] = (0, 6, 12, 18),
    seed: int = 0,
    images: bool = True,
    disc_radius: int = 4,
) -> TinyRelease:
    """Write ``root/annotations/<split>/*.json`` and ``root/images/<split>/...jpg``.

    Frame roles (per capture): frames[0] right hand only, frames[1] left only, the rest interacting. In capture
    ``captures[0]``, frame ``frames[-1]`` has an invalid left wrist (3D), and its MANO entry lacks the left hand;
    in the last capture, frame ``frames[-1]`` has no MANO entry at all.
    """
    rng = np.random.default_rng(seed)
    ann_dir = root / "annotations" / split
    ann_dir.mkdir(parents=True, exist_ok=True)
    cam_json, joint_json, mano_json = {}, {}, {}
    images_list, anns = [], []
    rel = TinyRelease(root=root, split=split, data={}, cameras=cam_json, joints=joint_json, mano=mano_json)
    next_id = 1000
    for cap in captures:
        cams = {}
        for k in range(cameras_per_capture):
            name = str(400000 + 10 * k + cap)
            angle = np.deg2rad(-25 + 25 * k)
            center = np.array([700 * np.sin(angle), -80.0 * k, -700 * np.cos(angle)])
            R = look_at(center, np.zeros(3))
            cams[name] = {
                "campos": center.tolist(),
                "camrot": R.tolist(),
                "focal": [900.0 + 20 * k, 905.0 + 20 * k],
                "princpt": [WIDTH / 2 + 3 * k, HEIGHT / 2 - 2 * k],
            }
        cam_json[str(cap)] = {key: {n: c[key] for n, c in cams.items()} for key in ("campos", "camrot", "focal",
                                                                                     "princpt")}  # fmt: skip
        joint_json[str(cap)] = {}
        mano_json[str(cap)] = {}
        for fi, frame in enumerate(frames):
            hand_type = "right" if fi == 0 else "left" if fi == 1 else "interacting"
            right = make_hand(rng, np.array([-70.0, 0.0, 0.0]))
            left = make_hand(rng, np.array([70.0, 0.0, 0.0]))
            world = np.concatenate([right, left])
            valid3 = np.ones(42, dtype=int)
            if hand_type == "right":
                valid3[21:] = 0
            elif hand_type == "left":
                valid3[:21] = 0
            if cap == captures[0] and frame == frames[-1]:
                valid3[41] = 0  # left wrist invalid: the whole left hand must be masked
            joint_json[str(cap)][str(frame)] = {
                "world_coord": world.tolist(),
                "joint_valid": valid3.tolist(),
                "hand_type": hand_type,
                "seq": f"0{cap}_seq_{hand_type}",
            }
            params = {}
            for h, c in (("right", right[20]), ("left", left[20])):
                params[h] = {
                    "pose": (rng.standard_normal(48) * 0.3).tolist(),
                    "shape": (rng.standard_normal(10) * (4.0 if fi == 2 else 0.5)).tolist(),
                    "trans": (c / 1000 + rng.standard_normal(3) * 0.01).tolist(),
                }
            if hand_type == "right":
                params["left"] = None
            if hand_type == "left":
                params["right"] = None
            if cap == captures[0] and frame == frames[-1]:
                params["left"] = None
            if not (cap == captures[-1] and frame == frames[-1]):
                mano_json[str(cap)][str(frame)] = params
            for name, c in cams.items():
                R, campos = np.array(c["camrot"]), np.array(c["campos"])
                cam_pts = (world - campos) @ R.T
                uv = cam_pts[:, :2] / cam_pts[:, 2:] * np.array(c["focal"]) + np.array(c["princpt"])
                inside = (uv[:, 0] >= 0) & (uv[:, 0] < WIDTH) & (uv[:, 1] >= 0) & (uv[:, 1] < HEIGHT)
                valid2 = (valid3 > 0) & inside
                image_id = next_id
                file_name = f"Capture{cap}/0{cap}_seq_{hand_type}/cam{name}/image{frame:05d}.jpg"
                images_list.append(
                    {
                        "id": image_id,
                        "file_name": file_name,
                        "width": WIDTH,
                        "height": HEIGHT,
                        "capture": cap,
                        "subject": cap + 1,
                        "seq_name": f"0{cap}_seq_{hand_type}",
                        "camera": name,
                        "frame_idx": frame,
                    }
                )
                xs, ys = uv[valid2, 0], uv[valid2, 1]
                anns.append(
                    {
                        "id": next_id + 5,
                        "image_id": image_id,
                        "bbox": [float(xs.min()), float(ys.min()), float(np.ptp(xs)), float(np.ptp(ys))],
                        "joint_valid": valid2.astype(int).tolist(),
                        "hand_type": hand_type,
                        "hand_type_valid": 1,
                    }
                )
                rel.ann_keys[next_id + 5] = (cap, frame, name)
                if images:
                    img = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
                    for j in range(42):
                        if valid3[j]:
                            color = RED if j < 21 else GREEN
                            cv2.circle(img, (int(round(uv[j, 0])), int(round(uv[j, 1]))), disc_radius, color, -1)
                    path = root / "images" / split / file_name
                    path.parent.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(path), img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 98])
                next_id += 10
    rel.data = {"images": images_list, "annotations": anns}
    prefix = f"InterHand2.6M_{split}"
    (ann_dir / f"{prefix}_data.json").write_text(json.dumps(rel.data))
    (ann_dir / f"{prefix}_camera.json").write_text(json.dumps(cam_json))
    (ann_dir / f"{prefix}_joint_3d.json").write_text(json.dumps(joint_json))
    (ann_dir / f"{prefix}_MANO_NeuralAnnot.json").write_text(json.dumps(mano_json))
    return rel
