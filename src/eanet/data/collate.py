"""Batching: stack samples, drop or record unreadable ones, and add the hand-model targets in one batched pass.

The official loader runs MANO twice per sample on the CPU inside ``InterHand26M.__getitem__``. Here the dataset
only moves the parameters to the camera frame (:mod:`eanet.data.mano_params`, no mesh), and
:class:`ManoTargetBuilder` computes vertices and joints for the whole batch at once: inside the data-loader worker
(:class:`Collator` with a builder, the default of :func:`eanet.data.build_dataloader`) or on the accelerator (call the
builder on the device batch; ``build_dataloader(..., hand_model_targets="device")``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import default_collate

from eanet.data.sample import SkippedSample

__all__ = ["Collator", "ManoTargetBuilder"]


class ManoTargetBuilder(nn.Module):
    """Adds ``mano_joints_cam/_hm/_valid/_trunc``, ``mano_root_cam`` and ``mano_verts_cam`` to a batch.

    For each hand slot it runs the hand model that produced the slot's hand (``mano_geom_side``: the other side
    after a flip) with the camera-frame parameters (``mano_geom_*``), which gives the mesh in the release's camera
    frame exactly. Joints are regressed from the mesh with the layer's training fingertips (MANO: 745/317/445/556/
    673, as the official ``mano.sh_joint_regressor``). The 2D targets are projected with the camera, mirrored when
    flipped, mapped into the crop and scaled to heatmap units; the 3D ones are mapped by ``aug_rotmat`` (mirror, then
    rotation about the optical axis) and made wrist-relative. Slots without a fit get zeros and zero masks.

    Args:
        right, left: :class:`eanet.hand_model.HandModelLayer` of each side (same models as the dataset's).
        input_size: crop ``(height, width)``.
        heatmap_shape: ``(D, h, w)``.
        bbox_3d_size: metres of depth the heatmap covers.
    """

    def __init__(
        self,
        right: nn.Module,
        left: nn.Module,
        input_size: tuple[int, int] = (256, 256),
        heatmap_shape: tuple[int, int, int] = (8, 8, 8),
        bbox_3d_size: float = 0.3,
    ) -> None:
        super().__init__()
        self.right = right
        self.left = left
        self.input_size = tuple(input_size)
        self.heatmap_shape = tuple(heatmap_shape)
        self.bbox_3d_size = float(bbox_3d_size)

    @torch.no_grad()
    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        if "mano_geom_pose_aa" not in batch:
            return batch  # e.g. HIC: meshes come from files
        pose = batch["mano_geom_pose_aa"]  # (B, 2, 48)
        B = pose.shape[0]
        dtype, device = pose.dtype, pose.device
        betas, trans = batch["mano_geom_betas"], batch["mano_geom_trans_cam"]  # (B, 2, 10), (B, 2, 3)
        side = batch["mano_geom_side"]  # (B, 2)
        V = self.right.num_verts
        verts = pose.new_zeros(B, 2, V, 3)
        joints = pose.new_zeros(B, 2, 21, 3)
        for k, layer in enumerate((self.right, self.left)):
            b, s = torch.nonzero(side == k, as_tuple=True)
            if b.numel() == 0:
                continue
            p = pose[b, s].to(layer.v_template.device)
            out = layer(p[:, :3], p[:, 3:], betas[b, s].to(p.device), trans[b, s].to(p.device))
            verts[b, s] = out.verts.to(device=device, dtype=dtype)  # (n, V, 3) release camera frame
            joints[b, s] = out.joints.to(device=device, dtype=dtype)  # (n, 21, 3)

        # 2D: project in the release camera, mirror when flipped, into the crop, heatmap units.
        focal = batch["focal"].to(dtype)[:, None, None, :]  # (B, 1, 1, 2)
        princpt = batch["princpt"].to(dtype)[:, None, None, :]
        z = joints[..., 2:].clamp_min(1e-6)  # (B, 2, 21, 1); invalid slots are zeroed below
        uv = joints[..., :2] / z * focal + princpt  # (B, 2, 21, 2)
        width = batch["img_shape"][:, 1].to(dtype)[:, None, None]  # (B, 1, 1)
        flip = batch["do_flip"].to(torch.bool)[:, None, None]
        uv = torch.stack([torch.where(flip, width - 1 - uv[..., 0], uv[..., 0]), uv[..., 1]], dim=-1)
        img2bb = batch["img2bb_trans"].to(dtype)  # (B, 2, 3)
        uv = torch.einsum("bij,bhkj->bhki", img2bb[:, :, :2], uv) + img2bb[:, None, None, :, 2]  # (B, 2, 21, 2)

        # 3D: augmented camera frame, wrist-relative.
        aug = batch["aug_rotmat"].to(dtype)  # (B, 3, 3)
        joints_aug = torch.einsum("bij,bhkj->bhki", aug, joints)  # (B, 2, 21, 3)
        verts_aug = torch.einsum("bij,bhkj->bhki", aug, verts)  # (B, 2, V, 3)
        root = joints_aug[:, :, :1]  # (B, 2, 1, 3) wrist (joint 0 of the wrist-first order)
        rel = joints_aug - root  # (B, 2, 21, 3)

        depth, hm_h, hm_w = self.heatmap_shape
        hm = torch.stack(
            [
                uv[..., 0] / self.input_size[1] * hm_w,
                uv[..., 1] / self.input_size[0] * hm_h,
                (rel[..., 2] / (self.bbox_3d_size / 2) + 1) / 2 * depth,
            ],
            dim=-1,
        )  # (B, 2, 21, 3)
        inside = (
            (hm[..., 0] >= 0) & (hm[..., 0] < hm_w) & (hm[..., 1] >= 0) & (hm[..., 1] < hm_h) & (hm[..., 2] >= 0)
            & (hm[..., 2] < depth)
        )  # fmt: skip  # (B, 2, 21)
        valid = batch["mano_valid"].to(dtype)  # (B, 2)
        v = valid[:, :, None, None]  # (B, 2, 1, 1)
        batch["mano_joints_cam"] = (rel * v).reshape(B, 42, 3)  # (B, 42, 3)
        batch["mano_joints_hm"] = (hm * v).reshape(B, 42, 3)  # (B, 42, 3)
        batch["mano_joints_valid"] = valid[:, :, None].expand(B, 2, 21).reshape(B, 42)  # (B, 42)
        batch["mano_joints_trunc"] = (inside.to(dtype) * valid[:, :, None]).reshape(B, 42)  # (B, 42)
        batch["mano_root_cam"] = root[:, :, 0] * valid[:, :, None]  # (B, 2, 3)
        batch["mano_verts_cam"] = verts_aug * v  # (B, 2, V, 3)
        return batch


class Collator:
    """``collate_fn`` for the datasets of :mod:`eanet.data`: stacks samples into tensors.

    Samples carry a ``_skipped`` list (images that could not be read on the way to them); the batch gets them all as
    ``batch["skipped"]``. Samples that are only a skip record (test mode) are dropped. With a
    :class:`ManoTargetBuilder` the hand-model targets are added to the batch here (in the worker process).
    """

    def __init__(self, builder: ManoTargetBuilder | None = None):
        self.builder = builder

    def __call__(self, samples: list[dict[str, Any]]) -> dict[str, Any]:
        skipped: list[SkippedSample] = []
        kept = []
        for sample in samples:
            skipped.extend(sample.pop("_skipped", ()))
            if sample:
                kept.append(sample)
        if not kept:
            return {"skipped": skipped}
        batch: dict[str, Any] = default_collate(kept)
        if self.builder is not None:
            batch = self.builder(batch)
        batch["skipped"] = skipped
        return batch


def batch_size(batch: dict[str, Any]) -> int:
    """Number of samples in a collated batch (0 when every sample was dropped)."""
    img = batch.get("img")
    return int(img.shape[0]) if isinstance(img, Tensor) else 0
