"""What a renderer draws: meshes with colours, lights, and the result of a render.

Conventions shared by the whole ``eanet.render`` package:
    * Colours are sRGB triples of floats in ``[0, 1]``; a ``uint8`` array is read as ``0..255``.
    * Images are RGB (not OpenCV's BGR), ``(H, W, 3)`` or ``(H, W, 4)`` ``uint8``.
    * Vertices are metres, in the camera's world frame (the OpenCV camera frame when the camera has no
      extrinsics): x right, y down, z forward, as InterHand2.6M's camera coordinates.

Everything here is NumPy; torch tensors are accepted as inputs and copied to NumPy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from eanet.errors import InvalidInputError

__all__ = [
    "SKIN_TONES",
    "HAND_COLORS",
    "Mesh",
    "Light",
    "Lighting",
    "RenderResult",
    "as_rgb",
    "vertex_normals",
    "PreparedScene",
    "RawRender",
    "GAMMA",
    "shade_vertices",
]

#: A range of skin tones (sRGB, [0, 1]) from light to dark, for renders and synthetic data.
SKIN_TONES: dict[str, tuple[float, float, float]] = {
    "porcelain": (0.96, 0.84, 0.76),
    "light": (0.92, 0.76, 0.65),
    "beige": (0.86, 0.68, 0.55),
    "tan": (0.78, 0.58, 0.43),
    "olive": (0.67, 0.50, 0.35),
    "brown": (0.55, 0.38, 0.26),
    "dark": (0.40, 0.27, 0.18),
    "deep": (0.27, 0.18, 0.12),
}

#: Colours that tell the two hands apart in prediction overlays (right: blue-ish, left: orange-ish).
HAND_COLORS: dict[str, tuple[float, float, float]] = {
    "right": (0.45, 0.62, 0.95),
    "left": (0.98, 0.66, 0.38),
}


def _to_numpy(x, name: str) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor; torch itself is not imported here
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except Exception as err:  # noqa: BLE001 - anything unconvertible is a user error
        raise InvalidInputError(f"{name} must be an array-like of numbers, got {type(x).__name__}") from err


def as_rgb(color, name: str = "color", count: int | None = None) -> np.ndarray:
    """Validate a colour (or ``count`` per-vertex colours) and return float32 sRGB in ``[0, 1]``.

    Args:
        color: an RGB triple, or an ``(N, 3)`` array (``N == count``); floats in ``[0, 1]`` or ``uint8``.
        name: the argument's name, for error messages.
        count: the number of rows a per-vertex array must have, or None when only one colour is allowed.

    Returns:
        ``(3,)`` or ``(N, 3)`` float32.
    """
    arr = _to_numpy(color, name)
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    arr = arr.astype(np.float32)
    if arr.shape == (4,) or (arr.ndim == 2 and arr.shape[1] == 4):
        raise InvalidInputError(f"{name} must be RGB; pass the transparency as the mesh's alpha, not a 4th channel")
    ok_shape = arr.shape == (3,) or (count is not None and arr.shape == (count, 3))
    if not ok_shape:
        expected = "(3,)" + (f" or ({count}, 3)" if count is not None else "")
        raise InvalidInputError(f"{name} must have shape {expected}, got {arr.shape}")
    if not np.all(np.isfinite(arr)) or arr.min() < 0.0 or arr.max() > 1.0:
        raise InvalidInputError(
            f"{name} must be RGB floats in [0, 1] (got values in [{arr.min():g}, {arr.max():g}]); "
            "for 0-255 values pass a uint8 array"
        )
    return arr


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (smooth shading), outward for counter-clockwise faces.

    Args:
        verts: ``(V, 3)`` float.
        faces: ``(F, 3)`` int.

    Returns:
        ``(V, 3)`` float32; vertices used by no face get ``(0, 0, 0)``.
    """
    tri = verts[faces]  # (F, 3, 3)
    face_n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # (F, 3), length = 2 * area
    corner_index = faces.reshape(-1)  # (3F,) each face's normal goes to its three corners
    corner_n = np.repeat(face_n, 3, axis=0)  # (3F, 3)
    normals = np.stack(
        [np.bincount(corner_index, weights=corner_n[:, c], minlength=len(verts)) for c in range(3)], axis=1
    )  # (V, 3)
    norm = np.linalg.norm(normals, axis=1, keepdims=True)
    return (normals / np.maximum(norm, 1e-12)).astype(np.float32)


@dataclass
class Mesh:
    """A triangle mesh to render.

    Attributes:
        verts: ``(V, 3)`` vertices in metres (NumPy or torch; stored as float32 NumPy).
        faces: ``(F, 3)`` vertex indices, counter-clockwise seen from outside (that decides which way normals face).
        color: one sRGB colour ``(3,)`` or per-vertex colours ``(V, 3)``, floats in ``[0, 1]`` or ``uint8``.
        alpha: opacity in ``[0, 1]``. The visible (nearest) surface is blended over the background; meshes do not
            show through each other.
        name: optional label (for logs).
    """

    verts: np.ndarray
    faces: np.ndarray
    color: np.ndarray | tuple[float, float, float] = SKIN_TONES["light"]
    alpha: float = 1.0
    name: str = ""

    def __post_init__(self) -> None:
        verts = _to_numpy(self.verts, "Mesh.verts")
        faces = _to_numpy(self.faces, "Mesh.faces")
        if verts.ndim != 2 or verts.shape[1] != 3:
            raise InvalidInputError(f"Mesh.verts must have shape (V, 3), got {verts.shape}")
        if faces.ndim != 2 or faces.shape[1] != 3:
            raise InvalidInputError(f"Mesh.faces must have shape (F, 3), got {faces.shape}")
        if not np.issubdtype(faces.dtype, np.integer):
            raise InvalidInputError(f"Mesh.faces must be integers, got {faces.dtype}")
        if faces.size and (faces.min() < 0 or faces.max() >= len(verts)):
            raise InvalidInputError(
                f"Mesh.faces index vertices in [{faces.min()}, {faces.max()}] but the mesh has {len(verts)} vertices"
            )
        if not np.all(np.isfinite(verts)):
            raise InvalidInputError("Mesh.verts contains NaN or infinite values")
        if not 0.0 <= float(self.alpha) <= 1.0:
            raise InvalidInputError(f"Mesh.alpha must be in [0, 1], got {self.alpha}")
        self.verts = np.ascontiguousarray(verts, dtype=np.float32)
        self.faces = np.ascontiguousarray(faces, dtype=np.int64)
        self.color = as_rgb(self.color, "Mesh.color", count=len(self.verts))
        self.alpha = float(self.alpha)

    @property
    def has_vertex_colors(self) -> bool:
        return self.color.ndim == 2

    def vertex_colors(self) -> np.ndarray:
        """``(V, 3)`` float32 sRGB colours (a single colour repeated when the mesh has one)."""
        if self.has_vertex_colors:
            return self.color
        return np.broadcast_to(self.color, self.verts.shape).astype(np.float32)

    def with_verts(self, verts: np.ndarray) -> Mesh:
        """A copy with other vertices (same faces, colour, alpha, name)."""
        return Mesh(verts, self.faces, self.color, self.alpha, self.name)


@dataclass(frozen=True)
class Light:
    """A directional light fixed to the camera.

    Attributes:
        direction: the direction the light travels, in the camera frame (x right, y down, z forward);
            ``(0, 0, 1)`` is a headlight shining from the camera into the scene.
        intensity: Lambertian strength: a surface facing the light gets ``intensity`` times its colour (before the
            ambient term is added).
        color: sRGB colour of the light, floats in ``[0, 1]``.
    """

    direction: tuple[float, float, float] = (0.0, 0.0, 1.0)
    intensity: float = 1.0
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def unit_direction(self) -> np.ndarray:
        d = np.asarray(self.direction, dtype=np.float64)
        n = float(np.linalg.norm(d))
        if not np.isfinite(n) or n < 1e-9:
            raise InvalidInputError(f"Light.direction must be a non-zero 3-vector, got {self.direction}")
        return (d / n).astype(np.float32)


def _default_lights() -> tuple[Light, ...]:
    # A key light from the camera's upper left, a fill from the lower right and a weak light from just above the
    # camera: knuckles, creases and curled fingers read clearly while no side of the hand goes black (tuned by eye
    # on open-hand and MANO renders).
    return (
        Light(direction=(0.7, 0.8, 0.7), intensity=1.0),
        Light(direction=(-0.9, -0.3, 0.4), intensity=0.35),
        Light(direction=(0.0, -0.3, 1.0), intensity=0.2),
    )


@dataclass(frozen=True)
class Lighting:
    """Lights plus an ambient term (see :func:`shade_vertices` for the shading model).

    Attributes:
        lights: directional lights fixed to the camera.
        ambient: ambient light colour/strength (sRGB-linear multiplier per channel).
    """

    lights: tuple[Light, ...] = field(default_factory=_default_lights)
    ambient: tuple[float, float, float] = (0.12, 0.12, 0.12)

    @classmethod
    def random(cls, rng: np.random.Generator, num_lights: int = 2) -> Lighting:
        """Random lighting for synthetic data: directions from the camera's hemisphere, varied strength and tint."""
        lights = []
        for i in range(num_lights):
            d = rng.normal(size=3)
            d[2] = abs(d[2]) + 0.3  # travel into the scene, so the visible side of the hand gets light
            tint = 1.0 - rng.uniform(0.0, 0.15, size=3)
            strength = rng.uniform(0.6, 1.1) if i == 0 else rng.uniform(0.1, 0.45)
            lights.append(Light(direction=tuple(d), intensity=float(strength), color=tuple(tint)))
        ambient = float(rng.uniform(0.08, 0.35))
        return cls(lights=tuple(lights), ambient=(ambient, ambient, ambient))


@dataclass
class RenderResult:
    """The output of one render.

    Attributes:
        rgba: ``(H, W, 4)`` uint8, RGB. With a background the image is opaque (alpha 255 everywhere); without one,
            alpha is the meshes' coverage times their ``alpha`` (0 where nothing is drawn) and the colour is not
            premultiplied.
        depth: ``(H, W)`` float32, z of the visible surface in the camera frame, metres; 0 where nothing is drawn.
        mesh_ids: ``(H, W)`` int32, index (in the list passed to ``render``) of the visible mesh, -1 for none.
        backend: ``"pyrender"`` or ``"torch"``.
    """

    rgba: np.ndarray
    depth: np.ndarray
    mesh_ids: np.ndarray
    backend: str

    @property
    def rgb(self) -> np.ndarray:
        """``(H, W, 3)`` uint8."""
        return self.rgba[..., :3]

    @property
    def mask(self) -> np.ndarray:
        """``(H, W)`` bool, True where a mesh is drawn (aliased: exactly the pixels whose centre is covered)."""
        return self.mesh_ids >= 0

    def visible_pixels(self, num_meshes: int) -> np.ndarray:
        """``(num_meshes,)`` number of pixels where each mesh is the visible one (for occlusion statistics)."""
        ids = self.mesh_ids[self.mesh_ids >= 0]
        return np.bincount(ids, minlength=num_meshes)[:num_meshes]


def as_mesh_list(meshes: Mesh | Sequence[Mesh]) -> list[Mesh]:
    """Accept one mesh or a sequence of meshes; check the types."""
    items = [meshes] if isinstance(meshes, Mesh) else list(meshes)
    for i, m in enumerate(items):
        if not isinstance(m, Mesh):
            raise InvalidInputError(
                f"meshes[{i}] is a {type(m).__name__}; wrap vertices and faces in eanet.render.Mesh(verts, faces)"
            )
    return items


#: Display gamma: colours are linearised with ``c ** GAMMA`` for lighting and re-encoded with ``c ** (1 / GAMMA)``.
GAMMA = 2.2


def shade_vertices(normals: np.ndarray, colors: np.ndarray, lighting: Lighting) -> np.ndarray:
    """Lambertian shading at the vertices (Gouraud), computed in linear light.

    ``linear(color) * (ambient + sum_i intensity_i * linear(light_color_i) * max(0, n . -direction_i))``, re-encoded
    to sRGB. Both backends interpolate these colours across triangles, so they shade identically.

    Args:
        normals: ``(V, 3)`` unit vertex normals in the camera frame.
        colors: ``(V, 3)`` or ``(3,)`` sRGB colours in ``[0, 1]``.
        lighting: lights fixed to the camera and the ambient term.

    Returns:
        ``(V, 3)`` float32 sRGB in ``[0, 1]``.
    """
    shade = np.broadcast_to(np.asarray(lighting.ambient, np.float32), normals.shape).copy()  # (V, 3)
    for light in lighting.lights:
        radiance = np.asarray(light.color, np.float32) ** GAMMA * light.intensity  # (3,)
        lambert = np.maximum(normals @ -light.unit_direction(), 0.0)  # (V,)
        shade += lambert[:, None] * radiance[None, :]
    linear = np.asarray(colors, np.float32) ** GAMMA * shade  # (V, 3)
    return (np.clip(linear, 0.0, 1.0) ** (1.0 / GAMMA)).astype(np.float32)


@dataclass
class PreparedScene:
    """Meshes in the camera frame with their shaded vertex colours (what both backends consume).

    Attributes:
        verts: list of ``(V_i, 3)`` float32 camera-frame vertices per mesh.
        faces: list of ``(F_i, 3)`` int64 faces per mesh.
        colors: list of ``(V_i, 3)`` float32 shaded sRGB vertex colours (:func:`shade_vertices`).
        alphas: ``(M,)`` float32 mesh opacities.
    """

    verts: list[np.ndarray]
    faces: list[np.ndarray]
    colors: list[np.ndarray]
    alphas: np.ndarray


@dataclass
class RawRender:
    """What a backend returns before compositing.

    Attributes:
        color: ``(H, W, 3)`` uint8 sRGB, premultiplied by ``coverage`` (black where nothing is).
        coverage: ``(H, W)`` uint8, 255 = fully covered (fractional at anti-aliased edges), 0 = nothing.
        depth: ``(H, W)`` float32 metres, 0 where no mesh covers the pixel centre.
        mesh_ids: ``(H, W)`` int32, -1 where no mesh covers the pixel centre.
    """

    color: np.ndarray
    coverage: np.ndarray
    depth: np.ndarray
    mesh_ids: np.ndarray
