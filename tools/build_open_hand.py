"""Build the eanet open hand model (NOT MANO) from readable anatomical parameters.

This script writes ``src/eanet/hand_model/assets/open_hand_right.npz``, the small asset behind
``load_hand_model_data("open", side)``. Everything is generated here from the numbers in :class:`HandSpec` below:
no array, vertex, joint or weight of MANO is read or copied. Only MANO's *conventions* are followed so that pose
parameters mean roughly the same thing for both models:

* model frame (right hand): fingers point along **-x**, the back of the hand faces **+y** (palm faces -y), the
  thumb is on the **+z** side; metres; the origin sits at the middle-finger knuckle (MCP joint);
* the 16-joint kinematic tree and joint order of MANO (``skeleton.MANO_JOINTS_16`` / ``MANO_PARENTS``), rest
  joint rotations equal to the identity, so a finger flexes about roughly **+z** (positive angle = towards the
  palm);
* ``hands_mean``: a relaxed, slightly curled mean pose, added to the finger pose when ``flat_hand_mean=False``.

Pipeline: a signed-distance function (SDF) of the palm (smooth union of flattened metacarpal cones, palmar pads,
thenar and hypothenar eminences and a wrist stub) and of the finger segments (tapered, slightly flattened round
cones) -> marching cubes (scikit-image) -> isotropic remeshing (gpytoolbox) -> relaxation projected back
onto the SDF surface -> skinning weights from smooth blends along each finger -> a joint regressor (rings of
vertices around each joint) -> ten linear shape blend shapes from skinning-aware parametric deformations.

Run (dev-only packages: ``pip install scikit-image==0.26.0 gpytoolbox==0.3.8``)::

    .venv/bin/python tools/build_open_hand.py            # rewrites the shipped asset
    .venv/bin/python tools/build_open_hand.py --out /tmp/open_hand_right.npz

The run is deterministic: on one machine two runs write byte-identical files (fixed zip timestamps, no random
numbers). Print the file's SHA-256 and copy it into ``eanet.hand_model.open_hand.ASSET_SHA256`` after a rebuild.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from eanet.hand_model.open_hand import SHAPE_COEFFICIENTS

logger = logging.getLogger("build_open_hand")

# ======================================================================================================================
# Parameters. Lengths in metres, angles in degrees. "Palm frame" coordinates (u, v, n): u distal (from the wrist
# towards the fingers), v radial (towards the thumb), n dorsal (towards the back of the hand); origin at the wrist
# joint. The model frame is (x, y, z) = (-u, n, v), shifted so that the middle MCP joint is the origin.
#
# Sources (rounded; an average adult hand, hand length ~18 cm from the wrist joint to the middle fingertip):
#   [B92] Buchholz, Armstrong & Goldstein, "Anthropometric data for describing the kinematics of the human hand",
#         Ergonomics 35(3), 1992: phalanx lengths as fractions of hand length (index 0.245/0.143/0.097,
#         middle 0.266/0.170/0.108, ring 0.244/0.165/0.107, little 0.204/0.117/0.093, thumb 0.251/0.196/0.158).
#         The values below are those fractions x 0.168 m, rounded to the millimetre.
#   [P05] Pheasant & Haslegrave, "Bodyspace" (3rd ed.), 2005: adult hand breadth across the metacarpals ~8-9 cm,
#         hand thickness at the metacarpals ~2.5-3 cm, finger breadth at the PIP joint ~1.8-2.1 cm.
#   [G01] Gray's Anatomy: MCP heads lie on an arc (index and middle most distal, little finger ~1.5 cm proximal);
#         the thumb's carpometacarpal joint sits on the trapezium, ~2 cm distal and radial of the wrist joint.
# ======================================================================================================================


@dataclass(frozen=True)
class FingerSpec:
    """One long finger. ``mcp`` in palm-frame metres from the wrist joint; ``splay_deg`` rotates the (straight)
    finger towards the thumb side; ``lengths``: MCP->PIP, PIP->DIP, DIP->fingertip; ``radii``: half-breadths at
    the MCP, PIP, DIP joints and near the tip."""

    mcp: tuple[float, float, float]
    splay_deg: float
    lengths: tuple[float, float, float]
    radii: tuple[float, float, float, float]


@dataclass(frozen=True)
class ThumbSpec:
    """The thumb: ``cmc`` joint position; per segment (metacarpal, proximal, distal phalanx) a length, an azimuth
    (degrees from the u axis towards the radial side, in the palm plane) and an elevation (degrees, negative =
    towards the palm); ``pronation_deg`` turns the thumb pad from facing the palm towards facing the fingers."""

    cmc: tuple[float, float, float] = (0.024, 0.020, -0.011)  # [G01]
    lengths: tuple[float, float, float] = (0.042, 0.033, 0.027)  # [B92] 0.251/0.196/0.158 x 0.168 m
    azimuth_deg: tuple[float, float, float] = (38.0, 27.0, 20.0)
    elevation_deg: tuple[float, float, float] = (-12.0, -8.0, -5.0)
    pronation_deg: float = 50.0
    radii: tuple[float, float, float, float] = (0.0135, 0.0118, 0.0112, 0.0096)  # breadth at IP ~2.1 cm [P05]


@dataclass(frozen=True)
class PalmSpec:
    """Soft-tissue volumes of the palm and wrist (palm frame, metres)."""

    half_thickness: float = 0.0115  # metacarpal layer; with the palmar pads the palm is ~3-3.5 cm thick [P05]
    metacarpal_base_u: float = 0.020  # carpometacarpal joints ~2 cm distal of the wrist joint [G01]
    metacarpal_base_spread: float = 0.55  # metacarpal bases converge: their v is this fraction of the MCP's v
    knuckle_radius: float = 0.0115  # dorsal bump of the metacarpal heads
    pad_half_size: tuple[float, float, float] = (0.016, 0.040, 0.007)  # distal palmar pad (u, v, n half axes)
    pad_center: tuple[float, float, float] = (0.068, -0.004, -0.006)
    thenar_half_size: tuple[float, float, float] = (0.026, 0.015, 0.012)  # along the thumb metacarpal, across, n
    thenar_offset_n: float = -0.004
    hypothenar_center: tuple[float, float, float] = (0.040, -0.028, -0.004)
    hypothenar_half_size: tuple[float, float, float] = (0.030, 0.014, 0.011)
    wrist_half_width: float = 0.028  # wrist breadth ~5.6 cm [P05]
    wrist_half_thickness: float = 0.017
    wrist_start_u: float = -0.022  # the mesh ends (capped flat) this far proximal of the wrist joint
    wrist_cut_rounding: float = 0.008
    blend_palm: float = 0.012  # smooth-union radius between palm volumes
    blend_finger: float = 0.007  # smooth-union radius between each finger and the palm (the finger webs)
    blend_thumb: float = 0.013  # the thumb's web (first web space) is a broader fold of skin
    finger_flatten: float = 1.12  # fingers are this much broader than thick


@dataclass(frozen=True)
class MeshSpec:
    grid_step: float = 0.0012  # marching-cubes voxel size
    target_vertices: int = 1800  # MANO has 778; ~1,700 keeps ~11 vertices around a finger and the asset small
    remesh_iterations: int = 20
    relax_iterations: int = 4


@dataclass(frozen=True)
class SkinSpec:
    """Half-widths of the smooth blend of skinning weights across each joint, as a fraction of the local finger
    radius (larger = softer bend)."""

    mcp_blend: float = 1.0
    pip_blend: float = 0.75
    dip_blend: float = 0.7
    thumb_cmc_blend: float = 1.2
    finger_side_softness: float = 0.0015  # metres: how softly a web vertex is shared between two fingers
    web_smoothing: int = 3  # Laplacian smoothing passes over the finger membership (softens the webs only)
    final_smoothing: int = 3  # Laplacian smoothing passes over the final weights


@dataclass(frozen=True)
class CorrectiveSpec:
    """Pose correctives: linear blend skinning flattens the back of a bending joint (the outer arc becomes a chord,
    losing volume). Each finger joint gets one corrective that pushes the skin on the back of the joint outwards
    by ``knuckle_bulge * r * (1 - cos(angle))`` (``r`` the finger radius there), fading along the bone with a
    Gaussian of width ``axial_width * r``. It is linear in the diagonal of ``R - I`` (trace(R) - 3 =
    -2 (1 - cos(angle))), so it lives in MANO's ``posedirs`` layout."""

    knuckle_bulge: float = 0.45
    axial_width: float = 0.9
    lateral_reach: float = 1.6  # only vertices within this many radii of the bone axis


@dataclass(frozen=True)
class ShapeSpec:
    """Size of one unit of each shape coefficient (beta = +-1 is about one standard deviation of adult variation;
    [P05] gives ~5% for hand length and breadth). Each is a relative change."""

    scale: float = 0.05
    palm_width: float = 0.05
    palm_length: float = 0.05
    thickness: float = 0.08
    finger_girth: float = 0.10
    thumb_length: float = 0.06
    finger_length: float = 0.05  # per long finger (index, middle, ring, little)


@dataclass(frozen=True)
class HandSpec:
    index: FingerSpec = FingerSpec((0.080, 0.023, -0.001), 7.0, (0.041, 0.024, 0.019), (0.0106, 0.0097, 0.0087, 0.0076))
    middle: FingerSpec = FingerSpec((0.083, 0.004, 0.000), 0.0, (0.045, 0.029, 0.020), (0.0108, 0.0100, 0.0089, 0.0077))
    ring: FingerSpec = FingerSpec((0.079, -0.014, -0.001), -7.0, (0.041, 0.028, 0.019), (0.0102, 0.0094, 0.0083, 0.0072))
    pinky: FingerSpec = FingerSpec((0.071, -0.031, -0.003), -15.0, (0.034, 0.020, 0.017), (0.0091, 0.0082, 0.0073, 0.0065))
    thumb: ThumbSpec = field(default_factory=ThumbSpec)
    palm: PalmSpec = field(default_factory=PalmSpec)
    mesh: MeshSpec = field(default_factory=MeshSpec)
    skin: SkinSpec = field(default_factory=SkinSpec)
    shape: ShapeSpec = field(default_factory=ShapeSpec)
    corrective: CorrectiveSpec = field(default_factory=CorrectiveSpec)


# The ten shape coefficients' names and meanings live in the package, next to the asset they describe.

NAME = "eanet open hand (not MANO)"
LICENSE = (
    "eanet open hand (not MANO): generated procedurally by tools/build_open_hand.py from anatomical parameters; "
    "part of eanet, same license as the project (MIT). Contains no MANO data."
)
FINGERS = ("thumb", "index", "middle", "ring", "pinky")
#: MANO-16 joint index of each finger's three joints (base to tip), in FINGERS order.
FINGER_JOINTS = {"thumb": (13, 14, 15), "index": (1, 2, 3), "middle": (4, 5, 6), "ring": (10, 11, 12), "pinky": (7, 8, 9)}

# ======================================================================================================================
# Skeleton
# ======================================================================================================================


def palm_to_model(p: np.ndarray) -> np.ndarray:
    """Palm-frame ``(..., 3)`` (u, v, n) to model-frame axes (x, y, z) = (-u, n, v) (before the origin shift)."""
    return np.stack([-p[..., 0], p[..., 2], p[..., 1]], axis=-1)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _dir(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    a, e = np.deg2rad(azimuth_deg), np.deg2rad(elevation_deg)
    return np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])


@dataclass
class Skeleton:
    """Rest skeleton in the palm frame. ``chains[f]``: (4, 3) base joint, two middle joints and the tip point;
    ``radii[f]``: (4,); ``pads[f]``: (3, 3) unit palmar (pad) direction of each segment; ``wrist``: (3,)."""

    chains: dict[str, np.ndarray]
    radii: dict[str, np.ndarray]
    pads: dict[str, np.ndarray]
    wrist: np.ndarray

    def joints16(self) -> np.ndarray:
        """``(16, 3)`` palm-frame joints in MANO-16 order."""
        out = np.zeros((16, 3))
        out[0] = self.wrist
        for f in FINGERS:
            out[list(FINGER_JOINTS[f])] = self.chains[f][:3]
        return out

    def tips(self) -> np.ndarray:
        """``(5, 3)`` palm-frame fingertip points (thumb..pinky)."""
        return np.stack([self.chains[f][3] for f in FINGERS])


def build_skeleton(spec: HandSpec) -> Skeleton:
    chains, radii, pads = {}, {}, {}
    for name in FINGERS[1:]:
        fs: FingerSpec = getattr(spec, name)
        t = _dir(fs.splay_deg, 0.0)
        pts = [np.asarray(fs.mcp, dtype=float)]
        for length in fs.lengths:
            pts.append(pts[-1] + length * t)
        chains[name] = np.stack(pts)
        radii[name] = np.asarray(fs.radii, dtype=float)
        pads[name] = np.tile([0.0, 0.0, -1.0], (3, 1))
    ts = spec.thumb
    pts = [np.asarray(ts.cmc, dtype=float)]
    pad_list = []
    for length, az, el in zip(ts.lengths, ts.azimuth_deg, ts.elevation_deg, strict=True):
        t = _dir(az, el)
        pts.append(pts[-1] + length * t)
        p0 = _unit(np.array([0.0, 0.0, -1.0]) + t[2] * t)  # palmar direction made perpendicular to the bone
        psi = np.deg2rad(ts.pronation_deg)
        pad_list.append(np.cos(psi) * p0 - np.sin(psi) * np.cross(t, p0))  # pad turned towards the fingers
    chains["thumb"] = np.stack(pts)
    radii["thumb"] = np.asarray(ts.radii, dtype=float)
    pads["thumb"] = np.stack(pad_list)
    return Skeleton(chains=chains, radii=radii, pads=pads, wrist=np.zeros(3))


# ======================================================================================================================
# Signed-distance function (palm frame, metres; negative inside)
# ======================================================================================================================


def smin(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum (C1 smooth union of two SDFs) with blend radius ``k``."""
    h = np.maximum(k - np.abs(a - b), 0.0) / k
    return np.minimum(a, b) - h * h * k * 0.25


def sd_round_cone(p: np.ndarray, a: np.ndarray, b: np.ndarray, r1: float, r2: float) -> np.ndarray:
    """Exact SDF of a round cone (spheres of radius r1 at a and r2 at b joined by their tangent cone)."""
    ba = b - a
    l2 = float(ba @ ba)
    rr = r1 - r2
    a2 = l2 - rr * rr
    il2 = 1.0 / l2
    pa = p - a
    y = pa @ ba
    z = y - l2
    xv = pa * l2 - y[:, None] * ba
    x2 = np.einsum("ij,ij->i", xv, xv)
    y2 = y * y * l2
    z2 = z * z * l2
    k = np.sign(rr) * rr * rr * x2
    d_cone = (np.sqrt(x2 * a2 * il2) + y * rr) * il2 - r1
    d_a = np.sqrt(x2 + y2) * il2 - r1
    d_b = np.sqrt(x2 + z2) * il2 - r2
    cone_side = np.sign(z) * a2 * z2 > k
    cap_a = np.sign(y) * a2 * y2 < k
    return np.where(cone_side, d_b, np.where(cap_a, d_a, d_cone))


def sd_ellipsoid(p: np.ndarray, center: np.ndarray, axes: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Approximate SDF of an ellipsoid; ``axes`` rows are its unit axes (3, 3), ``radii`` its half-sizes."""
    q = (p - center) @ axes.T
    k0 = np.linalg.norm(q / radii, axis=1)
    k1 = np.linalg.norm(q / (radii * radii), axis=1)
    return k0 * (k0 - 1.0) / np.maximum(k1, 1e-12)


def _frame_from_dir(t: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Rows: t, the side direction, and ``up`` made perpendicular to t."""
    n = _unit(up - (up @ t) * t)
    s = np.cross(n, t)
    return np.stack([t, s, n])


def _flattened(p: np.ndarray, origin: np.ndarray, normal: np.ndarray, factor: float) -> np.ndarray:
    """Scale the component of ``p - origin`` along ``normal`` by ``factor`` (>1 makes the shape thinner)."""
    d = (p - origin) @ normal
    return p + ((factor - 1.0) * d)[:, None] * normal


def hand_sdf(p: np.ndarray, skel: Skeleton, spec: HandSpec) -> np.ndarray:
    """``(N,)`` signed distance of ``(N, 3)`` palm-frame points to the hand surface."""
    ps = spec.palm
    n_axis = np.array([0.0, 0.0, 1.0])
    flat = ps.half_thickness
    # Palm: flattened metacarpal cones from the carpus to each knuckle.
    palm = None
    for name in FINGERS[1:]:
        mcp = skel.chains[name][0]
        r_mcp = skel.radii[name][0]
        base = np.array([ps.metacarpal_base_u, mcp[1] * ps.metacarpal_base_spread, 0.0])
        factor = r_mcp * 1.25 / flat
        q = _flattened(p, mcp, n_axis, factor)
        d = sd_round_cone(q, base, mcp, r_mcp * 1.2, r_mcp * 1.25) / factor
        palm = d if palm is None else smin(palm, d, ps.blend_palm)
    # Distal palmar pad (the mounds under the fingers).
    pad = sd_ellipsoid(p, np.asarray(ps.pad_center), np.eye(3), np.asarray(ps.pad_half_size))
    palm = smin(palm, pad, ps.blend_palm)
    # Thenar eminence along the thumb metacarpal, on the palmar side.
    th = skel.chains["thumb"]
    t0 = _unit(th[1] - th[0])
    axes = _frame_from_dir(t0, n_axis)
    center = 0.5 * (th[0] + th[1]) + np.array([0.0, 0.0, ps.thenar_offset_n]) - 0.15 * (th[1] - th[0])
    thenar = sd_ellipsoid(p, center, axes, np.asarray(ps.thenar_half_size))
    palm = smin(palm, thenar, ps.blend_palm)
    # Hypothenar eminence on the ulnar edge.
    hypo = sd_ellipsoid(p, np.asarray(ps.hypothenar_center), np.eye(3), np.asarray(ps.hypothenar_half_size))
    palm = smin(palm, hypo, ps.blend_palm)
    # Wrist stub: an elliptical capsule along u, capped at wrist_start_u.
    factor = ps.wrist_half_width / ps.wrist_half_thickness
    q = _flattened(p, np.zeros(3), n_axis, factor)
    wrist = sd_round_cone(
        q, np.array([ps.wrist_start_u - 0.02, 0.0, 0.0]), np.array([0.03, -0.003, 0.0]),
        ps.wrist_half_width, ps.wrist_half_width * 1.05,
    ) / factor
    wrist = -smin(-wrist, p[:, 0] - ps.wrist_start_u, ps.wrist_cut_rounding)  # cut flat (smooth max), edge rounded
    palm = smin(palm, wrist, ps.blend_palm)
    # Fingers and thumb: tapered round cones, flattened dorso-palmarly, smoothly joined to the palm (webs) but
    # not to each other.
    result = None
    for name in FINGERS:
        chain, radii, pads = skel.chains[name], skel.radii[name], skel.pads[name]
        finger = None
        for s in range(3):
            a, b = chain[s], chain[s + 1]
            r1, r2 = radii[s], radii[s + 1]
            if s == 2:
                b = b - r2 * _unit(b - a)  # the surface, not the sphere centre, ends at the tip point
            q = _flattened(p, a, pads[s], ps.finger_flatten)
            d = sd_round_cone(q, a, b, r1, r2) / ps.finger_flatten
            finger = d if finger is None else np.minimum(finger, d)
        joined = smin(palm, finger, ps.blend_thumb if name == "thumb" else ps.blend_finger)
        result = joined if result is None else np.minimum(result, joined)
    return result


# ======================================================================================================================
# Meshing
# ======================================================================================================================


def _bounds(skel: Skeleton, spec: HandSpec, margin: float = 0.03) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned box around every bone with ``margin`` to spare (checked in :func:`polygonise`)."""
    pts = np.concatenate([np.concatenate(list(skel.chains.values())), np.zeros((1, 3))])
    lo = pts.min(0) - margin
    hi = pts.max(0) + margin
    lo[0] = min(lo[0], spec.palm.wrist_start_u - margin)
    return lo, hi


def polygonise(skel: Skeleton, spec: HandSpec) -> tuple[np.ndarray, np.ndarray]:
    from skimage.measure import marching_cubes

    lo, hi = _bounds(skel, spec)
    step = spec.mesh.grid_step
    axes = [np.arange(lo[i], hi[i] + step, step) for i in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)  # (X, Y, Z, 3)
    values = np.empty(grid.shape[:3])
    flat = grid.reshape(-1, 3)
    out = values.reshape(-1)
    chunk = 400_000
    for i in range(0, flat.shape[0], chunk):
        out[i : i + chunk] = hand_sdf(flat[i : i + chunk], skel, spec)
    border = np.concatenate([values[[0, -1]].ravel(), values[:, [0, -1]].ravel(), values[:, :, [0, -1]].ravel()])
    if border.min() <= 0.0:
        raise RuntimeError("the hand reaches the border of the sampling grid: enlarge the margin in _bounds")
    verts, faces, _, _ = marching_cubes(values, level=0.0, spacing=(step, step, step))
    verts = verts + lo
    return verts, faces.astype(np.int64)


def sdf_gradient(p: np.ndarray, skel: Skeleton, spec: HandSpec, h: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    d = hand_sdf(p, skel, spec)
    g = np.zeros_like(p)
    for i in range(3):
        e = np.zeros(3)
        e[i] = h
        g[:, i] = (hand_sdf(p + e, skel, spec) - hand_sdf(p - e, skel, spec)) / (2 * h)
    return d, g


def project_to_surface(p: np.ndarray, skel: Skeleton, spec: HandSpec, iterations: int = 3) -> np.ndarray:
    for _ in range(iterations):
        d, g = sdf_gradient(p, skel, spec)
        p = p - (d / np.maximum((g * g).sum(1), 1e-12))[:, None] * g
    return p


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    fn = np.cross(verts[faces[:, 1]] - verts[faces[:, 0]], verts[faces[:, 2]] - verts[faces[:, 0]])
    vn = np.zeros_like(verts)
    for k in range(3):
        np.add.at(vn, faces[:, k], fn)
    return _unit(vn)


def neighbours(faces: np.ndarray, num_verts: int):
    import scipy.sparse as sp

    i = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2], faces[:, 1], faces[:, 2], faces[:, 0]])
    j = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0], faces[:, 0], faces[:, 1], faces[:, 2]])
    adj = sp.coo_matrix((np.ones_like(i, dtype=float), (i, j)), shape=(num_verts, num_verts)).tocsr()
    adj.data[:] = 1.0
    return adj


def relax(verts: np.ndarray, faces: np.ndarray, skel: Skeleton, spec: HandSpec) -> np.ndarray:
    """Tangential Laplacian relaxation (evens out triangle sizes) followed by projection back onto the surface."""
    adj = neighbours(faces, verts.shape[0])
    deg = np.asarray(adj.sum(1)).ravel()
    for _ in range(spec.mesh.relax_iterations):
        normals = vertex_normals(verts, faces)
        lap = adj @ verts / deg[:, None] - verts
        lap -= (lap * normals).sum(1, keepdims=True) * normals
        verts = project_to_surface(verts + 0.5 * lap, skel, spec, iterations=2)
    return verts


def build_mesh(skel: Skeleton, spec: HandSpec) -> tuple[np.ndarray, np.ndarray]:
    """Fine marching-cubes surface -> isotropic remeshing to ~``target_vertices`` (Botsch & Kobbelt 2004, via
    gpytoolbox) -> relaxation onto the exact SDF surface. Returns palm-frame vertices and outward-wound faces."""
    import gpytoolbox

    verts, faces = polygonise(skel, spec)
    logger.info("marching cubes: %d vertices, %d faces", len(verts), len(faces))
    fn = np.cross(verts[faces[:, 1]] - verts[faces[:, 0]], verts[faces[:, 2]] - verts[faces[:, 0]])
    area = 0.5 * np.linalg.norm(fn, axis=1).sum()
    # Equilateral triangles of edge h on a closed genus-0 surface: F = 2V, area = F * sqrt(3) / 4 * h^2.
    edge = float(np.sqrt(2.0 * area / (np.sqrt(3.0) * spec.mesh.target_vertices)))
    verts, faces = gpytoolbox.remesh_botsch(
        verts.astype(np.float64), faces.astype(np.int32), i=spec.mesh.remesh_iterations, h=edge, project=True
    )
    faces = faces.astype(np.int64)
    logger.info("remeshed (edge %.1f mm): %d vertices, %d faces", edge * 1e3, len(verts), len(faces))
    verts = relax(verts.astype(np.float64), faces, skel, spec)
    # Outward (counter-clockwise seen from outside) winding: the signed volume must be positive.
    v0, v1, v2 = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    if np.einsum("ij,ij->i", v0, np.cross(v1, v2)).sum() < 0:
        faces = faces[:, ::-1].copy()
    return verts, faces


# ======================================================================================================================
# Skinning weights
# ======================================================================================================================


def smootherstep(x: np.ndarray) -> np.ndarray:
    """C2 step from 0 (x <= -1) to 1 (x >= 1)."""
    s = np.clip((x + 1.0) * 0.5, 0.0, 1.0)
    return s * s * s * (s * (6.0 * s - 15.0) + 10.0)


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray, ra: float, rb: float) -> np.ndarray:
    """Distance from points to the segment ``a-b`` minus the linearly interpolated radius."""
    ab = b - a
    t = np.clip((p - a) @ ab / (ab @ ab), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1) - (ra + t * (rb - ra))


def smooth_on_mesh(values: np.ndarray, faces: np.ndarray, iterations: int) -> np.ndarray:
    """Uniform-Laplacian smoothing of per-vertex values ``(V, K)``."""
    adj = neighbours(faces, values.shape[0])
    deg = np.asarray(adj.sum(1)).ravel()
    for _ in range(iterations):
        values = 0.5 * values + 0.5 * (adj @ values) / deg[:, None]
    return values


def skinning_weights(verts: np.ndarray, faces: np.ndarray, skel: Skeleton, spec: HandSpec) -> np.ndarray:
    """``(V, 16)`` weights: per finger a chain of smooth steps across its joints, shared between fingers (webs)
    by a soft membership, the palm and wrist on the root joint.

    Along a finger with base joint c0 and joints c1, c2: ``s_k = smootherstep(((v - c_k) . t_k) / (b_k r_k))``
    where ``t_k`` is the bone direction, ``r_k`` the finger radius at the joint and ``b_k`` the blend factor of
    :class:`SkinSpec`; then ``w_root = 1 - s0``, ``w_0 = s0 (1 - s1)``, ``w_1 = s0 s1 (1 - s2)``,
    ``w_2 = s0 s1 s2``: a partition of unity that is exactly one bone away from the joints and blends over
    ``+-b_k r_k`` across them (wide enough that 90 degrees of flexion does not pinch the skin).
    """
    sk = spec.skin
    ps = spec.palm
    # Membership: which finger (or the palm/wrist) a vertex belongs to, by distance to the finger's bones (the long
    # fingers' metacarpals included, so palm vertices near a knuckle belong to that finger but stay on the root
    # through s0 = 0).
    dists = []
    for name in FINGERS:
        chain, radii = skel.chains[name], skel.radii[name]
        d = np.full(len(verts), np.inf)
        for s in range(3):
            d = np.minimum(d, _segment_distance(verts, chain[s], chain[s + 1], radii[s], radii[s + 1]))
        if name != "thumb":
            base = np.array([ps.metacarpal_base_u, chain[0, 1] * ps.metacarpal_base_spread, 0.0])
            d = np.minimum(d, _segment_distance(verts, base, chain[0], radii[0] * 1.2, radii[0] * 1.2))
        dists.append(d)
    wrist_axis = _segment_distance(
        verts, np.array([ps.wrist_start_u, 0.0, 0.0]), np.array([ps.metacarpal_base_u, 0.0, 0.0]),
        ps.wrist_half_thickness, ps.wrist_half_thickness,
    )
    dists.append(wrist_axis)
    dists = np.stack(dists, axis=1)  # (V, 6)
    logits = -(dists - dists.min(1, keepdims=True)) / sk.finger_side_softness
    member = np.exp(logits)
    member /= member.sum(1, keepdims=True)
    member = smooth_on_mesh(member, faces, sk.web_smoothing)
    member[member < 1e-3] = 0.0  # a fingertip must not feel its neighbour finger
    member /= member.sum(1, keepdims=True)

    blends = {"thumb": (sk.thumb_cmc_blend, sk.pip_blend, sk.dip_blend)}
    weights = np.zeros((len(verts), 16))
    for fi, name in enumerate(FINGERS):
        chain, radii = skel.chains[name], skel.radii[name]
        b = blends.get(name, (sk.mcp_blend, sk.pip_blend, sk.dip_blend))
        steps = []
        for k in range(3):
            t = _unit(chain[k + 1] - chain[k])
            steps.append(smootherstep((verts - chain[k]) @ t / (b[k] * radii[k])))
        s0, s1, s2 = steps
        joints = FINGER_JOINTS[name]
        m = member[:, fi]
        weights[:, 0] += m * (1.0 - s0)
        weights[:, joints[0]] += m * s0 * (1.0 - s1)
        weights[:, joints[1]] += m * s0 * s1 * (1.0 - s2)
        weights[:, joints[2]] += m * s0 * s1 * s2
    weights[:, 0] += member[:, len(FINGERS)]
    # A final light smoothing over the surface spreads the few sharp steps where two finger domains meet (the
    # thumb web), so no edge is torn between unrelated bones.
    weights = smooth_on_mesh(weights, faces, sk.final_smoothing)
    weights[weights < 1e-4] = 0.0
    return weights / weights.sum(1, keepdims=True)


# ======================================================================================================================
# Shape blend shapes
# ======================================================================================================================


def _bone_frames(skel: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    """Per MANO-16 joint: ``(16, 3)`` bone direction (u for the root) and ``(16, 3)`` dorsal direction."""
    t = np.zeros((16, 3))
    d = np.zeros((16, 3))
    t[0] = [1.0, 0.0, 0.0]
    d[0] = [0.0, 0.0, 1.0]
    for name in FINGERS:
        chain = skel.chains[name]
        for k, j in enumerate(FINGER_JOINTS[name]):
            t[j] = _unit(chain[k + 1] - chain[k])
            d[j] = -skel.pads[name][k]
    return t, d


def shape_deformations(skel: Skeleton, spec: HandSpec) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per shape coefficient, the change per unit of the joint positions ``dJ (16, 3)`` and of each bone's local
    linear map ``dA (16, 3, 3)``. A vertex then moves by ``sum_b w_vb (dJ_b + dA_b (v - J_b))`` (linear in the
    coefficient), so each bone's surface follows its joints (palm-frame coordinates)."""
    sh = spec.shape
    joints = skel.joints16()
    t, dorsal = _bone_frames(skel)
    eye = np.eye(3)
    e_u, e_v, e_n = eye
    middle_mcp = skel.chains["middle"][0]
    out = []

    def finger_translate(delta_per_finger: dict[str, np.ndarray]) -> np.ndarray:
        dj = np.zeros((16, 3))
        for name, delta in delta_per_finger.items():
            dj[list(FINGER_JOINTS[name])] = delta
        return dj

    # scale: everything about the middle knuckle (the model origin).
    out.append((sh.scale * (joints - middle_mcp), np.tile(sh.scale * eye, (16, 1, 1))))
    # palm_width: the palm and wrist widen about the hand's long axis; fingers and thumb move rigidly with it.
    da = np.zeros((16, 3, 3))
    da[0] = sh.palm_width * np.outer(e_v, e_v)
    dj = finger_translate({n: sh.palm_width * skel.chains[n][0, 1] * e_v for n in FINGERS})
    out.append((dj, da))
    # palm_length: the palm lengthens from the wrist; fingers and thumb move rigidly with it.
    da = np.zeros((16, 3, 3))
    da[0] = sh.palm_length * np.outer(e_u, e_u)
    dj = finger_translate({n: sh.palm_length * skel.chains[n][0, 0] * e_u for n in FINGERS})
    out.append((dj, da))
    # thickness: dorsal-palmar scaling of every bone's cross-section, the palm about the wrist's plane.
    da = np.stack([sh.thickness * np.outer(dorsal[j], dorsal[j]) for j in range(16)])
    dj = sh.thickness * (joints @ e_n)[:, None] * e_n
    for name in FINGERS:  # each finger keeps its own axis but moves with the palm surface it sits on
        dj[list(FINGER_JOINTS[name])] = sh.thickness * skel.chains[name][0, 2] * e_n
    out.append((dj, da))
    # finger_girth: radial scaling about each finger bone's axis (not the palm).
    da = np.zeros((16, 3, 3))
    for j in range(1, 16):
        da[j] = sh.finger_girth * (eye - np.outer(t[j], t[j]))
    out.append((np.zeros((16, 3)), da))
    # thumb_length and the four finger lengths: each segment stretches along its bone, the distal joints follow.
    for name, rel in (("thumb", sh.thumb_length),) + tuple((n, sh.finger_length) for n in FINGERS[1:]):
        chain = skel.chains[name]
        js = FINGER_JOINTS[name]
        da = np.zeros((16, 3, 3))
        dj = np.zeros((16, 3))
        for k, j in enumerate(js):
            da[j] = rel * np.outer(t[j], t[j])
            dj[j] = rel * (chain[k] - chain[0])
        out.append((dj, da))
    assert len(out) == len(SHAPE_COEFFICIENTS)
    return out


def shape_blend_shapes(verts: np.ndarray, weights: np.ndarray, skel: Skeleton, spec: HandSpec):
    """``(V, 3, S)`` shapedirs and ``(16, 3, S)`` joint displacements (palm frame)."""
    joints = skel.joints16()
    offsets = verts[:, None, :] - joints[None]  # (V, 16, 3)
    dirs, djs = [], []
    for dj, da in shape_deformations(skel, spec):
        moved = dj[None] + np.einsum("bij,vbj->vbi", da, offsets)  # (V, 16, 3)
        dirs.append(np.einsum("vb,vbi->vi", weights, moved))
        djs.append(dj)
    return np.stack(dirs, axis=-1), np.stack(djs, axis=-1)


# ======================================================================================================================
# Joint regressor and fingertips
# ======================================================================================================================


def joint_regressor(
    verts: np.ndarray, shapedirs: np.ndarray, joint_dirs: np.ndarray, skel: Skeleton, spec: HandSpec
) -> np.ndarray:
    """``(16, V)`` non-negative rows summing to one; row ``j`` averages a ring of vertices around joint ``j`` and
    reproduces both the rest joint and its displacement under every shape coefficient (least squares).

    Vertices near the plane through the joint perpendicular to its bone get the largest prior weight.
    """
    from scipy.optimize import lsq_linear

    joints = skel.joints16()
    t, _ = _bone_frames(skel)
    radius = np.zeros(16)
    radius[0] = spec.palm.wrist_half_width
    for name in FINGERS:
        for k, j in enumerate(FINGER_JOINTS[name]):
            radius[j] = skel.radii[name][k]
    radius[FINGER_JOINTS["thumb"][0]] *= 1.6  # the CMC joint lies deep in the thenar eminence
    num_shapes = shapedirs.shape[-1]
    reg = np.zeros((16, len(verts)))
    for j in range(16):
        rel = verts - joints[j]
        axial = rel @ t[j]
        dist = np.linalg.norm(rel, axis=1)
        cand = np.flatnonzero((dist < 1.8 * radius[j]) & (np.abs(axial) < 0.6 * radius[j]))
        prior = np.exp(-((axial[cand] / (0.3 * radius[j])) ** 2))
        prior /= prior.sum()
        # Constraints in millimetres: position (relative to the joint, so that renormalising the weights afterwards
        # cannot shift it), per-shape displacement, and the sum of weights.
        rows = [rel[cand].T * 1e3, *(shapedirs[cand, :, s].T * 1e3 for s in range(num_shapes))]
        targets = [np.zeros(3), *(joint_dirs[j, :, s] * 1e3 for s in range(num_shapes))]
        a = np.concatenate([*rows, np.ones((1, len(cand)))])
        b = np.concatenate([*targets, [1.0]])
        lam = 1e3
        res = lsq_linear(
            np.concatenate([lam * a, np.eye(len(cand))]), np.concatenate([lam * b, prior]), bounds=(0.0, np.inf),
            method="bvls",
        )
        w = np.maximum(res.x, 0.0)  # BVLS may return -1e-17 for an active bound
        w /= w.sum()
        err = np.abs(w @ verts[cand] - joints[j]).max()
        if err > 2e-4:
            raise RuntimeError(f"joint {j}: regressor misses the joint by {err * 1e3:.2f} mm")
        reg[j, cand] = w
    return reg


def knuckle_correctives(verts: np.ndarray, faces: np.ndarray, skel: Skeleton, spec: HandSpec) -> np.ndarray:
    """``(V, 3, 15)`` per posed joint the rest-frame skin offset at 90 degrees (``1 - cos = 1``); see
    :class:`CorrectiveSpec`. Columns follow MANO-16 order without the wrist (palm frame)."""
    cs = spec.corrective
    normals = vertex_normals(verts, faces)
    t, dorsal = _bone_frames(skel)
    joints = skel.joints16()
    out = np.zeros((len(verts), 3, 15))
    for name in FINGERS:
        for k, j in enumerate(FINGER_JOINTS[name]):
            r = skel.radii[name][k]
            rel = verts - joints[j]
            axial = rel @ t[j]
            lateral = np.linalg.norm(rel - np.outer(axial, t[j]), axis=1)
            facing = np.clip(normals @ dorsal[j], 0.0, None)  # only the back of the joint
            near = np.exp(-((axial / (cs.axial_width * r)) ** 2)) * (lateral < cs.lateral_reach * r)
            out[:, :, j - 1] = (cs.knuckle_bulge * r * facing * near)[:, None] * normals
    return out


def fingertip_vertices(verts: np.ndarray, weights: np.ndarray, skel: Skeleton) -> tuple[int, ...]:
    """Per finger (thumb..pinky) the vertex furthest along its distal bone among that bone's vertices."""
    tips = []
    for name in FINGERS:
        chain = skel.chains[name]
        t = _unit(chain[3] - chain[2])
        j = FINGER_JOINTS[name][2]
        cand = np.flatnonzero(weights[:, j] > 0.5)
        tips.append(int(cand[np.argmax((verts[cand] - chain[2]) @ t)]))
    return tuple(tips)


# ======================================================================================================================
# Assembly and file output
# ======================================================================================================================


def build(spec: HandSpec) -> dict[str, np.ndarray]:
    """All arrays of the right-hand asset, in the model frame (float64 before saving)."""
    from eanet.hand_model.poses import NAMED_POSES

    skel = build_skeleton(spec)
    verts, faces = build_mesh(skel, spec)
    weights = skinning_weights(verts, faces, skel, spec)
    shapedirs, joint_dirs = shape_blend_shapes(verts, weights, skel, spec)
    regressor = joint_regressor(verts, shapedirs, joint_dirs, skel, spec)
    tips = fingertip_vertices(verts, weights, skel)
    bulge = knuckle_correctives(verts, faces, skel, spec)

    origin = palm_to_model(skel.chains["middle"][0])
    v_template = palm_to_model(verts) - origin
    shapedirs_model = palm_to_model(np.moveaxis(shapedirs, 1, -1)).swapaxes(1, 2)  # (V, 3, S)
    return {
        "v_template": v_template,
        "shapedirs": shapedirs_model,
        "J_regressor": regressor,
        "weights": weights,
        "faces": faces,
        "hands_mean": NAMED_POSES["relaxed"].astype(np.float64),
        "tip_vertices": np.asarray(tips),
        "rest_joints": palm_to_model(skel.joints16()) - origin,
        # Compact pose correctives; the loader expands them into MANO's (V, 3, 135) posedirs.
        "knuckle_bulge": palm_to_model(np.moveaxis(bulge, 1, -1)).swapaxes(1, 2),  # (V, 3, 15)
    }


def write_npz(path: Path, arrays: dict[str, np.ndarray], meta: dict) -> str:
    """Write a deterministic compressed npz (fixed zip timestamps, sorted keys); returns its SHA-256."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        items = dict(arrays)
        items["meta_json"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), dtype=np.uint8)
        for key in sorted(items):
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            array_bytes = io.BytesIO()
            np.lib.format.write_array(array_bytes, np.ascontiguousarray(items[key]), allow_pickle=False)
            zf.writestr(info, array_bytes.getvalue(), compresslevel=9)
    data = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def to_file_arrays(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Storage dtypes: float32 geometry, int32 faces/indices; the sparse regressor and weights stay dense (they
    compress well)."""
    out = {}
    for key, value in arrays.items():
        if key in ("faces", "tip_vertices"):
            out[key] = value.astype(np.int32)
        else:
            out[key] = value.astype(np.float32)
    return out


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    default_out = Path(__file__).resolve().parents[1] / "src" / "eanet" / "hand_model" / "assets" / "open_hand_right.npz"
    parser = argparse.ArgumentParser(description="Build the eanet open hand model (not MANO).")
    parser.add_argument("--out", type=Path, default=default_out, help="output .npz (default: the shipped asset)")
    args = parser.parse_args()
    spec = HandSpec()
    arrays = build(spec)
    meta = {
        "name": NAME,
        "license": LICENSE,
        "generator": "tools/build_open_hand.py",
        "format_version": 1,
        "shape_coefficients": [list(c) for c in SHAPE_COEFFICIENTS],
        "spec": asdict(spec),
    }
    digest = write_npz(args.out, to_file_arrays(arrays), meta)
    logger.info(
        "wrote %s (%d bytes, %d vertices, %d faces)\nsha256 %s",
        args.out, args.out.stat().st_size, len(arrays["v_template"]), len(arrays["faces"]), digest,
    )


if __name__ == "__main__":
    main()
