"""A tiny stand-in network and dataset for testing the training loop in seconds (not EANet; no hand model).

``TinyTwoHandNet`` maps a 16x16 image to every field of a :class:`TwoHandPrediction` with one convolution and one
linear layer (plus optional dropout, so that exact-resume tests also cover the model's random generator).
``TinyDataset`` draws a fixed random image per index and targets that are a fixed linear function of it, plus an
"augmentation" that uses NumPy's and torch's global generators (which per-sample seeding must make reproducible).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from eanet.config import config_from_dict
from eanet.structures import HandPrediction, TwoHandPrediction

IMG = 16
NUM_VERTS = 4
# Per hand: root 3 + fingers 45 + betas 10 + cam 3 + joints_hm 63 + joints_cam 63 + proj 42 = 229; plus rel_trans 3.
_PER_HAND = 3 + 45 + 10 + 3 + 63 + 63 + 42


class TinyTwoHandNet(nn.Module):
    def __init__(self, width: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, stride=4, padding=1)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(width * (IMG // 4) ** 2, 2 * _PER_HAND + 3)

    def _hand(self, x: torch.Tensor) -> HandPrediction:
        b = x.shape[0]
        root, fingers, betas, cam, jhm, jcam, proj = torch.split(x, [3, 45, 10, 3, 63, 63, 42], dim=1)
        joints_cam = jcam.view(b, 21, 3)
        return HandPrediction(
            root_pose_6d=torch.zeros(b, 6),
            hand_pose_6d=torch.zeros(b, 90),
            root_pose_aa=root,
            hand_pose_aa=fingers,
            pose_rotmat=torch.zeros(b, 16, 3, 3),
            betas=betas,
            cam=cam,
            joints_hm=jhm.view(b, 21, 3) + 4.0,
            joints_cam=joints_cam,
            verts_cam=joints_cam[:, :NUM_VERTS],
            root_model=torch.zeros(b, 3),
            joints_proj_hm=proj.view(b, 21, 2) + 4.0,
        )

    def forward(self, img: torch.Tensor) -> TwoHandPrediction:
        feat = torch.relu(self.conv(img)).flatten(1)  # (B, width * 16)
        out = self.head(self.drop(feat))  # (B, 2 * _PER_HAND + 3)
        right, left, rel = torch.split(out, [_PER_HAND, _PER_HAND, 3], dim=1)
        return TwoHandPrediction(right=self._hand(right), left=self._hand(left), rel_trans=rel)


class TinyDataset(torch.utils.data.Dataset):
    """``n`` samples; ``split`` selects a disjoint set of images with the same image-to-target map."""

    def __init__(self, n: int = 24, split: str = "train", augment: bool = True, nan_targets_at: tuple = ()) -> None:
        self.n, self.augment = n, augment
        self.offset = 0 if split == "train" else 10_000
        self.nan_targets_at = set(nan_targets_at)
        g = np.random.default_rng(1234)
        self.proj = g.normal(size=(3 * 4 * 4, 42 * 3)).astype(np.float32) * 0.05  # fixed image -> joints map

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict:
        g = np.random.default_rng(self.offset + index)
        img = g.uniform(size=(3, IMG, IMG)).astype(np.float32)
        pooled = img.reshape(3, 4, 4, 4, 4).mean(axis=(2, 4)).reshape(-1)  # (48,)
        joints = (pooled @ self.proj).reshape(42, 3).astype(np.float32)  # (42, 3) "metres"
        if self.augment:  # uses the global generators, as a real augmentation would
            img = img * np.float32(np.random.uniform(0.9, 1.1)) + torch.rand(1).item() * 0.01
        if index in self.nan_targets_at:
            joints = joints * np.nan
        z, o = np.zeros, np.ones
        return {
            "img": img.astype(np.float32),
            "joints_cam": joints,
            "mano_joints_cam": joints,
            "joints_hm": joints * 2 + 4.0,
            "mano_joints_hm": joints * 2 + 4.0,
            "rel_trans": joints[21] - joints[0],
            "rel_trans_valid": np.float32(1),
            "mano_pose_aa": z((2, 48), np.float32),
            "mano_pose_valid": o(2, np.float32),
            "mano_betas": z((2, 10), np.float32),
            "mano_betas_valid": o(2, np.float32),
            "joints_valid": o(42, np.float32),
            "joints_trunc": o(42, np.float32),
            "mano_joints_valid": o(42, np.float32),
            "mano_joints_trunc": o(42, np.float32),
            "is_3d": np.float32(1),
            "index": np.int64(index),
        }


def tiny_evaluate(dataset: TinyDataset):
    """Held-out MPJPE (mm) of ``joints_cam``, wrist-relative, over ``dataset`` (single process)."""

    def evaluate(model: nn.Module, epoch: int) -> dict[str, float]:
        loader = torch.utils.data.DataLoader(dataset, batch_size=8, shuffle=False)
        errs = []
        for batch in loader:
            pred = model(batch["img"])
            joints = torch.cat([pred.right.joints_cam, pred.left.joints_cam], 1)  # (B, 42, 3)
            errs.append((joints - batch["joints_cam"]).norm(dim=-1).mean(dim=1) * 1000)
        return {"mpjpe_all": torch.cat(errs).mean().item()}

    return evaluate


def tiny_config(output_dir, num_workers=0, **train):
    base = {
        "batch_size": 4,
        "epochs": 3,
        "lr": 1e-2,
        "lr_milestones": [2],
        "backbone_init": None,
        "checkpoint_every_steps": 2,
        "keep_last": 2,
        "log_every_steps": 2,
        "progress_bar": False,
        "tensorboard": False,
    }
    base.update(train)
    return config_from_dict(
        {"seed": 7, "output_dir": str(output_dir), "device": "cpu", "train": base, "data": {"num_workers": num_workers}}
    )


def params_of(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
