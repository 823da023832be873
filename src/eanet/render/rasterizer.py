"""A small pure-torch z-buffer rasterizer: the no-OpenGL fallback and the test oracle of the pyrender backend.

Triangles are projected with the pinhole model, grouped by the size of their pixel bounding box (powers of two),
and each group is tested against every pixel centre of its boxes at once: no per-pixel or per-triangle Python loop.
Visibility is a single ``scatter_reduce(amin)`` over 64-bit keys ``(float32 bits of z) << 32 | triangle``, which is
exact because positive float32 values order like their bit patterns. Depth is perspective-correct (``1/z``
interpolated in screen space, as OpenGL does), attributes use perspective-correct barycentrics, and shading is
Lambertian with the same lights and ambient term as the pyrender backend.

Coverage follows pixel centres at integer coordinates (OpenCV); a pixel whose centre lies exactly on a shared edge
may be claimed by either triangle (same depth), unlike OpenGL's top-left rule. No anti-aliasing.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from eanet.render.camera import Camera
from eanet.render.scene import DIFFUSE_SCALE, GAMMA, Lighting, PreparedScene, RawRender

__all__ = ["TorchRasterizer", "rasterize"]

_NO_HIT = torch.iinfo(torch.int64).max


def _edge(ax: Tensor, ay: Tensor, bx: Tensor, by: Tensor, px: Tensor, py: Tensor) -> Tensor:
    """Twice the signed area of triangle (a, b, p): positive when p is left of a->b in image axes."""
    return (bx - ax) * (py - ay) - (by - ay) * (px - ax)


def rasterize(
    verts: Tensor,
    faces: Tensor,
    camera: Camera,
    max_chunk_elements: int = 1 << 21,
) -> tuple[Tensor, Tensor]:
    """Find the nearest triangle at every pixel centre.

    Args:
        verts: ``(V, 3)`` float32 camera-frame vertices (OpenCV axes), metres.
        faces: ``(F, 3)`` int64.
        camera: intrinsics, image size and clipping depths (its extrinsics are not applied here).
        max_chunk_elements: bound on ``triangles x box pixels`` tested at once (memory vs. speed).

    Returns:
        ``face_index`` ``(H * W,)`` int64 (-1 for none) and ``depth`` ``(H * W,)`` float32 (0 for none).
    """
    width, height = camera.width, camera.height
    device = verts.device
    (fx, fy), (cx, cy) = camera.focal, camera.princpt
    num_pix = width * height
    zkey = torch.full((num_pix,), _NO_HIT, dtype=torch.int64, device=device)

    tri = verts[faces]  # (F, 3, 3)
    z = tri[..., 2]  # (F, 3)
    valid = ((z > camera.znear) & (z < camera.zfar)).all(dim=1)  # (F,)
    safe_z = torch.where(z > camera.znear, z, torch.ones_like(z))
    u = fx * tri[..., 0] / safe_z + cx  # (F, 3)
    v = fy * tri[..., 1] / safe_z + cy  # (F, 3)
    area2 = _edge(u[:, 0], v[:, 0], u[:, 1], v[:, 1], u[:, 2], v[:, 2])  # (F,)
    valid &= area2.abs() > 1e-12
    # Bounding boxes of pixel centres; clamp before rounding so huge coordinates cannot overflow the int cast.
    x0 = torch.ceil(u.min(1).values.clamp(-1, width)).long().clamp(min=0)  # (F,)
    x1 = torch.floor(u.max(1).values.clamp(-1, width)).long().clamp(max=width - 1)
    y0 = torch.ceil(v.min(1).values.clamp(-1, height)).long().clamp(min=0)
    y1 = torch.floor(v.max(1).values.clamp(-1, height)).long().clamp(max=height - 1)
    valid &= (x0 <= x1) & (y0 <= y1)

    face_ids = torch.nonzero(valid).squeeze(1)  # (Fv,)
    if face_ids.numel() == 0:
        return torch.full((num_pix,), -1, dtype=torch.int64, device=device), torch.zeros(num_pix, device=device)
    box = torch.maximum(x1 - x0 + 1, y1 - y0 + 1)[face_ids]  # (Fv,) box side in pixels
    level = torch.ceil(torch.log2(box.float())).long()  # (Fv,) bucket: side <= 2 ** level
    inv_z = 1.0 / safe_z  # (F, 3)

    for lvl in torch.unique(level).tolist():
        side = 1 << lvl
        bucket = face_ids[level == lvl]  # (Fb,)
        chunk = max(1, max_chunk_elements // (side * side))
        offsets = torch.arange(side, device=device)
        for start in range(0, bucket.numel(), chunk):
            f = bucket[start : start + chunk]  # (n,)
            px = (x0[f, None, None] + offsets[None, None, :]).expand(-1, side, side)  # (n, s, s) column
            py = (y0[f, None, None] + offsets[None, :, None]).expand(-1, side, side)  # (n, s, s) row
            inside = (px <= x1[f, None, None]) & (py <= y1[f, None, None])  # (n, s, s)
            pxf, pyf = px.float(), py.float()
            uu, vv = u[f][:, :, None, None], v[f][:, :, None, None]  # (n, 3, 1, 1)
            a = area2[f][:, None, None]  # (n, 1, 1)
            # Barycentric weight of vertex k is the area of the sub-triangle opposite it, over the whole area.
            w0 = _edge(uu[:, 1], vv[:, 1], uu[:, 2], vv[:, 2], pxf, pyf) / a  # (n, s, s)
            w1 = _edge(uu[:, 2], vv[:, 2], uu[:, 0], vv[:, 0], pxf, pyf) / a
            w2 = _edge(uu[:, 0], vv[:, 0], uu[:, 1], vv[:, 1], pxf, pyf) / a
            inside &= (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
            iz = inv_z[f]  # (n, 3)
            depth_recip = w0 * iz[:, 0, None, None] + w1 * iz[:, 1, None, None] + w2 * iz[:, 2, None, None]
            inside &= depth_recip > 0
            if not bool(inside.any()):
                continue
            pz = (1.0 / depth_recip[inside]).float()  # (K,) perspective-correct depth
            keep = (pz > camera.znear) & (pz < camera.zfar)
            pix = (py[inside] * width + px[inside])[keep]  # (K,)
            tri_id = f[:, None, None].expand(-1, side, side)[inside][keep]  # (K,)
            key = (pz[keep].view(torch.int32).long() << 32) | tri_id
            zkey.scatter_reduce_(0, pix, key, reduce="amin", include_self=True)

    hit = zkey != _NO_HIT
    face_index = torch.where(hit, zkey & 0xFFFFFFFF, torch.full_like(zkey, -1))
    depth = torch.zeros(num_pix, dtype=torch.float32, device=device)
    depth[hit] = (zkey[hit] >> 32).int().view(torch.float32)
    return face_index, depth


class TorchRasterizer:
    """The pure-torch backend (CPU by default; any torch device works).

    Args:
        device: torch device to rasterize on.
        max_chunk_elements: see :func:`rasterize`.
    """

    name = "torch"

    def __init__(self, device: str | torch.device = "cpu", max_chunk_elements: int = 1 << 21) -> None:
        self.device = torch.device(device)
        self.max_chunk_elements = int(max_chunk_elements)

    def close(self) -> None:
        """Nothing to release (kept for symmetry with the OpenGL backend)."""

    @torch.no_grad()
    def render(self, scene: PreparedScene, camera: Camera, lighting: Lighting) -> RawRender:
        width, height = camera.width, camera.height
        dev = self.device
        offsets = np.cumsum([0] + [len(v) for v in scene.verts])
        verts = torch.from_numpy(np.concatenate(scene.verts)).to(dev)  # (V, 3)
        merged_faces = [f + o for f, o in zip(scene.faces, offsets[:-1], strict=True)]
        faces = torch.from_numpy(np.concatenate(merged_faces)).to(dev)  # (F, 3)
        normals = torch.from_numpy(np.concatenate(scene.normals)).to(dev)  # (V, 3)
        colors = torch.from_numpy(
            np.concatenate([np.broadcast_to(c, v.shape) for c, v in zip(scene.colors_linear, scene.verts, strict=True)])
        ).to(dev)  # (V, 3)
        face_mesh = torch.from_numpy(
            np.concatenate([np.full(len(f), i, dtype=np.int64) for i, f in enumerate(scene.faces)])
        ).to(dev)  # (F,)

        face_index, depth = rasterize(verts, faces, camera, self.max_chunk_elements)  # (H*W,), (H*W,)
        hit = torch.nonzero(face_index >= 0).squeeze(1)  # (K,)
        color = torch.zeros(height * width, 3, device=dev)
        mesh_ids = torch.full((height * width,), -1, dtype=torch.int64, device=dev)
        if hit.numel():
            f = face_index[hit]  # (K,)
            mesh_ids[hit] = face_mesh[f]
            corner = faces[f]  # (K, 3)
            weights = _perspective_barycentrics(verts, corner, hit, camera)  # (K, 3)
            n = (weights[..., None] * normals[corner]).sum(1)  # (K, 3)
            n = n / n.norm(dim=1, keepdim=True).clamp(min=1e-12)
            base = (weights[..., None] * colors[corner]).sum(1)  # (K, 3) linear
            shade = torch.tensor(lighting.ambient, dtype=torch.float32, device=dev).expand(len(f), 3).clone()
            for light in lighting.lights:
                to_light = -torch.from_numpy(light.unit_direction()).to(dev)  # (3,)
                radiance = torch.tensor(light.color, dtype=torch.float32, device=dev) ** GAMMA * light.intensity
                lambert = (n @ to_light).clamp(min=0.0)  # (K,)
                shade += DIFFUSE_SCALE * lambert[:, None] * radiance[None, :]
            color[hit] = (base * shade).clamp(0.0, 1.0) ** (1.0 / GAMMA)
        coverage = (mesh_ids >= 0).float()
        return RawRender(
            color=color.view(height, width, 3).cpu().numpy(),  # (H, W, 3)
            coverage=coverage.view(height, width).cpu().numpy(),  # (H, W)
            depth=depth.view(height, width).cpu().numpy(),  # (H, W)
            mesh_ids=mesh_ids.view(height, width).int().cpu().numpy(),  # (H, W)
        )


def _perspective_barycentrics(verts: Tensor, corner: Tensor, pixel: Tensor, camera: Camera) -> Tensor:
    """Perspective-correct barycentric weights ``(K, 3)`` of pixels ``(K,)`` (flat index) in triangles ``(K, 3)``."""
    (fx, fy), (cx, cy) = camera.focal, camera.princpt
    tri = verts[corner]  # (K, 3, 3)
    z = tri[..., 2]  # (K, 3)
    u = fx * tri[..., 0] / z + cx
    v = fy * tri[..., 1] / z + cy
    px = (pixel % camera.width).float()
    py = torch.div(pixel, camera.width, rounding_mode="floor").float()
    area = _edge(u[:, 0], v[:, 0], u[:, 1], v[:, 1], u[:, 2], v[:, 2])
    w = (
        torch.stack(
            [
                _edge(u[:, 1], v[:, 1], u[:, 2], v[:, 2], px, py),
                _edge(u[:, 2], v[:, 2], u[:, 0], v[:, 0], px, py),
                _edge(u[:, 0], v[:, 0], u[:, 1], v[:, 1], px, py),
            ],
            dim=1,
        )
        / area[:, None]
    )  # (K, 3) screen-space weights
    w = w / z  # perspective correction: weights of 1/z-interpolated attributes
    return w / w.sum(1, keepdim=True)
