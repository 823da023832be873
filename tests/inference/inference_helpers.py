"""Helpers shared by the inference tests (importable as ``inference_helpers``)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np


def tiny_model_config(**model_changes):
    """A full Config with the tiny test architecture (ResNet-18, 64x64, width 32) and the open hand model."""
    from eanet.config import load_config

    model = dict(backbone="resnet18", input_size=[64, 64], width=32, num_heads=2, sa_depth=1, ca_depth=1,
                 sjt_depth=1, sjt_num_heads=2, heatmap_depth=4, **model_changes)  # fmt: skip
    overrides = [f"model.{k}={v}".replace(" ", "") for k, v in model.items()]
    return load_config(None, overrides)


def write_test_image(path: Path, width: int, height: int, seed: int = 0) -> np.ndarray:
    """A random smooth RGB image written to ``path`` (format from the suffix); returns the RGB pixels."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, size=(max(2, height // 8), max(2, width // 8), 3), dtype=np.uint8)
    rgb = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return rgb


class FakeNetwork:
    """A stand-in for EANet whose outputs are known: hand-model meshes for set parameters, a weak-perspective camera,
    and heatmap joints equal to the projected joints plus ``hm_offset`` (heatmap pixels).

    Attributes ``cam_right``/``cam_left`` ``(3,)`` (s, tx, ty in heatmap pixels), ``rel_trans`` ``(3,)``,
    ``root_pose`` per side ``(3,)``; ``calls`` counts forward passes, ``batch_sizes`` records them.
    """

    input_size = (64, 64)
    feature_grid = (2, 2)

    def __init__(self, hand_layers, hm_offset: float = 0.0) -> None:
        self.layers = {"right": hand_layers[0], "left": hand_layers[1]}
        self.cam = {"right": np.array([8.0, 0.8, 1.0]), "left": np.array([8.0, 1.2, 1.0])}
        self.root_pose = {"right": np.array([0.3, -0.2, 0.1]), "left": np.array([0.2, 0.3, -0.1])}
        self.rel_trans = np.array([0.05, 0.0, 0.01])
        self.hm_offset = hm_offset
        self.calls = 0
        self.batch_sizes: list[int] = []

    def __call__(self, img):
        import torch

        from eanet.geometry import axis_angle_to_rotmat, project_weak_perspective, rotmat_to_rot6d
        from eanet.structures import HandPrediction, TwoHandPrediction

        assert img.dim() == 4 and img.shape[1:] == (3, 64, 64) and img.dtype == torch.float32
        assert float(img.min()) >= 0.0 and float(img.max()) <= 1.0
        B = img.shape[0]
        self.calls += 1
        self.batch_sizes.append(B)
        hands = {}
        for side, layer in self.layers.items():
            root = torch.as_tensor(self.root_pose[side], dtype=torch.float32).expand(B, 3)
            hand_pose = torch.full((B, 45), 0.05)
            betas = torch.zeros(B, 10)
            out = layer(root, hand_pose, betas)
            cam = torch.as_tensor(self.cam[side], dtype=torch.float32).expand(B, 3)
            proj = project_weak_perspective(out.joints, cam)  # (B, 21, 2)
            joints_hm = torch.cat([proj + self.hm_offset, torch.full((B, 21, 1), 2.0)], dim=2)
            rotmat = axis_angle_to_rotmat(torch.cat([root, hand_pose], 1).view(B, 16, 3))
            root_model = out.joints[:, 0]
            hands[side] = HandPrediction(
                root_pose_6d=rotmat_to_rot6d(rotmat[:, 0]),
                hand_pose_6d=rotmat_to_rot6d(rotmat[:, 1:]).reshape(B, 90),
                root_pose_aa=root,
                hand_pose_aa=hand_pose,
                pose_rotmat=rotmat,
                betas=betas,
                cam=cam,
                joints_hm=joints_hm,
                joints_cam=out.joints - root_model[:, None],
                verts_cam=out.verts - root_model[:, None],
                root_model=root_model,
                joints_proj_hm=proj,
            )
        rel = torch.as_tensor(self.rel_trans, dtype=torch.float32).expand(B, 3)
        return TwoHandPrediction(right=hands["right"], left=hands["left"], rel_trans=rel)


def write_test_video(path: Path, frames: int = 6, width: int = 96, height: int = 80, fps: float = 10.0) -> Path:
    """A small mp4v video of a moving random pattern."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened()
    rng = np.random.default_rng(0)
    base = cv2.resize(rng.integers(0, 255, size=(10, 12, 3), dtype=np.uint8), (width + frames * 2, height))
    for i in range(frames):
        writer.write(np.ascontiguousarray(base[:, 2 * i : 2 * i + width]))
    writer.release()
    return path


def read_video_frames(path: Path) -> list:
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


class FakeLandmarker:
    """MediaPipe's result layout: normalised landmarks and handedness categories per hand."""

    def __init__(self, hands):
        self.hands = hands  # list of (points (21, 2) normalised, label, score)
        self.closed = False
        self.seen = []

    def detect(self, image):
        self.seen.append(image.shape)
        lms = [[SimpleNamespace(x=float(x), y=float(y), z=0.0) for x, y in pts] for pts, _, _ in self.hands]
        cats = [[SimpleNamespace(category_name=label, score=score)] for _, label, score in self.hands]
        return SimpleNamespace(hand_landmarks=lms, handedness=cats)

    def close(self):
        self.closed = True


def landmark_points(x0, y0, x1, y1):
    rng = np.random.default_rng(0)
    pts = rng.uniform([x0, y0], [x1, y1], size=(21, 2))
    pts[0], pts[1] = (x0, y0), (x1, y1)
    return pts
