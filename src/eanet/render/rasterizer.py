"""A small pure-torch z-buffer rasterizer: the no-OpenGL fallback and the test oracle of the pyrender backend.

Triangles are projected with the pinhole model and grouped by the longer side of their pixel bounding box (square
buckets of side 1, 2, 3, 4, 6, 8, 12, ...); each group is tested against every pixel centre of its boxes at once,
with the barycentric weights written as planes ``A px + B py + C`` so a box costs one add per weight: no per-pixel
or per-triangle Python loop.
Visibility is a single ``scatter_reduce(amin)`` over 64-bit keys ``(float32 bits of z) << 32 | triangle``, which is
exact because positive float32 values order like their bit patterns. Depth is perspective-correct (``1/z``
interpolated in screen space, as OpenGL does), and the shaded vertex colours are interpolated with
perspective-correct barycentrics, as OpenGL interpolates them.

Coverage follows pixel centres at integer coordinates (OpenCV); a pixel whose centre lies exactly on a shared edge
may be claimed by either triangle (same depth), unlike OpenGL's top-left rule. No anti-aliasing.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from eanet.render.camera import Camera
from eanet.render.scene import PreparedScene, RawRender

__all__ = ["TorchRasterizer", "rasterize"]

_NO_HIT = torch.iinfo(torch.int64).max


def _edge(ax: Tensor, ay: Tensor, bx: Tensor, by: Tensor, px: Tensor, py: Tensor) -> Tensor:
    """Twice the signed area of triangle (a, b, p): positive when p is left of a->b in image axes."""
    return (bx - ax) * (py - ay) - (by - ay) * (px - ax)


def _box_sizes(limit: int) -> list[int]:
    """Bucket sides 1, 2, 3, 4, 6, 8, 12, 16, ... up to at least ``limit`` (steps of at most 1.5x)."""
    sizes, p = [1, 2, 3], 4
    while sizes[-1] < limit:
        sizes += [p, p + p // 2]
        p *= 2
    return sizes


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

    # Per-triangle set-up in float64 (F x 9 numbers): projected corners, pixel boxes, edge-function planes.
    tri = verts.double()[faces]  # (F, 3, 3)
    z = tri[..., 2]  # (F, 3)
    valid = ((z > camera.znear) & (z < camera.zfar)).all(dim=1)  # (F,)
    safe_z = torch.where(z > camera.znear, z, torch.ones_like(z))
    u = fx * tri[..., 0] / safe_z + cx  # (F, 3)
    v = fy * tri[..., 1] / safe_z + cy  # (F, 3)
    # Bounding boxes of pixel centres; clamp before rounding so huge coordinates cannot overflow the int cast.
    x0 = torch.ceil(u.min(1).values.clamp(-1, width)).long().clamp(min=0)  # (F,)
    x1 = torch.floor(u.max(1).values.clamp(-1, width)).long().clamp(max=width - 1)
    y0 = torch.ceil(v.min(1).values.clamp(-1, height)).long().clamp(min=0)
    y1 = torch.floor(v.max(1).values.clamp(-1, height)).long().clamp(max=height - 1)
    # Corners relative to the box origin keep the edge-function constants small (float32-exact enough).
    ul = u - x0[:, None]  # (F, 3)
    vl = v - y0[:, None]
    area2 = _edge(ul[:, 0], vl[:, 0], ul[:, 1], vl[:, 1], ul[:, 2], vl[:, 2])  # (F,)
    valid &= (area2.abs() > 1e-12) & (x0 <= x1) & (y0 <= y1)
    face_ids = torch.nonzero(valid).squeeze(1)  # (Fv,)
    if face_ids.numel() == 0:
        return torch.full((num_pix,), -1, dtype=torch.int64, device=device), torch.zeros(num_pix, device=device)

    # Barycentric weight k at local pixel (px, py) is the plane A_k px + B_k py + C_k: the edge function of the
    # edge opposite corner k over twice the area (so either winding works). 1/z is a plane too (perspective).
    a_idx, b_idx = [1, 2, 0], [2, 0, 1]
    ua, va, ub, vb = ul[:, a_idx], vl[:, a_idx], ul[:, b_idx], vl[:, b_idx]  # (F, 3) edge start/end per corner
    plane_a = -(vb - va) / area2[:, None]  # (F, 3)
    plane_b = (ub - ua) / area2[:, None]
    plane_c = ((vb - va) * ua - (ub - ua) * va) / area2[:, None]
    inv_z = 1.0 / safe_z  # (F, 3)
    depth_planes = torch.stack([(plane_a * inv_z).sum(1), (plane_b * inv_z).sum(1), (plane_c * inv_z).sum(1)], 1)
    # One float32 row per triangle, gathered once per chunk: A (3), B (3), C (3), last local column/row, 1/z plane.
    params = torch.cat(
        [plane_a, plane_b, plane_c, (x1 - x0)[:, None].double(), (y1 - y0)[:, None].double(), depth_planes], 1
    ).float()  # (F, 14)
    base_pixel = y0 * width + x0  # (F,) flat index of each box's top-left pixel

    sizes = torch.tensor(_box_sizes(max(width, height)), device=device)
    # Square buckets: fewer, larger groups beat tighter rectangular ones (Python overhead per group dominates).
    side = sizes[torch.searchsorted(sizes, torch.maximum(x1 - x0 + 1, y1 - y0 + 1)[face_ids])]  # (Fv,)
    bucket_key, order = torch.sort(side)  # (Fv,) buckets become contiguous runs
    face_ids = face_ids[order]
    keys, counts = torch.unique_consecutive(bucket_key, return_counts=True)
    start = 0
    for sw, count in zip(keys.tolist(), counts.tolist(), strict=True):
        sh = sw
        bucket = face_ids[start : start + count]  # (Fb,)
        start += count
        chunk = max(1, max_chunk_elements // (sw * sh))
        dx = torch.arange(sw, device=device, dtype=torch.float32)  # (sw,)
        dy = torch.arange(sh, device=device, dtype=torch.float32)  # (sh,)
        for first in range(0, bucket.numel(), chunk):
            f = bucket[first : first + chunk]  # (n,)
            p = params[f]  # (n, 14)
            row = p[:, 0:3, None] * dx  # (n, 3, sw)
            col = p[:, 3:6, None] * dy + p[:, 6:9, None]  # (n, 3, sh)
            # Columns/rows past the triangle's own box get -inf in the first weight: never inside.
            row[:, 0] += torch.where(dx <= p[:, 9:10], 0.0, -torch.inf)
            col[:, 0] += torch.where(dy <= p[:, 10:11], 0.0, -torch.inf)
            weights_min = row[:, 0, None, :] + col[:, 0, :, None]  # (n, sh, sw)
            weights_min = torch.minimum(weights_min, row[:, 1, None, :] + col[:, 1, :, None])
            weights_min = torch.minimum(weights_min, row[:, 2, None, :] + col[:, 2, :, None])
            hits = torch.nonzero(weights_min >= 0)  # (K, 3): triangle in chunk, local row, local column
            if hits.numel() == 0:
                continue
            t, ly, lx = hits.unbind(1)
            plane = p[t, 11:14]  # (K, 3) the 1/z plane of each hit's triangle
            # Inside a triangle 1/z is a convex combination of its corners' 1/z, so z stays within (znear, zfar).
            pz = 1.0 / (plane[:, 0] * lx + plane[:, 1] * ly + plane[:, 2])  # (K,) perspective-correct depth
            pix = base_pixel[f][t] + ly * width + lx  # (K,)
            key_z = (pz.view(torch.int32).long() << 32) | f[t]
            zkey.scatter_reduce_(0, pix, key_z, reduce="amin", include_self=True)

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
    def render(self, scene: PreparedScene, camera: Camera) -> RawRender:
        width, height = camera.width, camera.height
        dev = self.device
        offsets = np.cumsum([0] + [len(v) for v in scene.verts])
        verts = torch.from_numpy(np.concatenate(scene.verts)).to(dev)  # (V, 3)
        merged_faces = [f + o for f, o in zip(scene.faces, offsets[:-1], strict=True)]
        faces = torch.from_numpy(np.concatenate(merged_faces)).to(dev)  # (F, 3)
        colors = torch.from_numpy(np.concatenate(scene.colors)).to(dev)  # (V, 3) shaded sRGB
        face_mesh = torch.from_numpy(
            np.concatenate([np.full(len(f), i, dtype=np.int64) for i, f in enumerate(scene.faces)])
        ).to(dev)  # (F,)

        face_index, depth = rasterize(verts, faces, camera, self.max_chunk_elements)  # (H*W,), (H*W,)
        hit = torch.nonzero(face_index >= 0).squeeze(1)  # (K,)
        color = torch.zeros(height * width, 3, dtype=torch.uint8, device=dev)
        mesh_ids = torch.full((height * width,), -1, dtype=torch.int64, device=dev)
        if hit.numel():
            f = face_index[hit]  # (K,)
            mesh_ids[hit] = face_mesh[f]
            corner = faces[f]  # (K, 3)
            weights = _perspective_barycentrics(verts, corner, hit, camera)  # (K, 3)
            shaded = (weights[..., None] * colors[corner]).sum(1)  # (K, 3)
            color[hit] = (shaded.clamp(0.0, 1.0) * 255.0).round_().to(torch.uint8)
        coverage = (mesh_ids >= 0).to(torch.uint8) * 255  # no anti-aliasing: fully covered or not
        return RawRender(
            color=color.view(height, width, 3).cpu().numpy(),  # (H, W, 3) black where uncovered: premultiplied
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
