"""Pictures of a prediction: both meshes over the input with the predicted camera, a side view, 2D joints.

Each picture carries a small legend naming the right and left hand next to their colours
(:func:`eanet.render.draw.draw_hand_legend`), in the corner that hides the least of the hands; ``legend_corner``
fixes the corner (a video keeps the one of its first frame) or, None, leaves the legend out.

A picture is often shared without its ``prediction.json``, so a prediction with warnings also carries them, short,
in another corner (:func:`picture_warning_lines`, :func:`eanet.render.draw.draw_warning_badge`): "trained on
synthetic images only", "low confidence" and so on. ``warnings_corner`` fixes that corner or, None, leaves it out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eanet.inference.reliability import (
    LOW_CONFIDENCE,
    NO_NETWORK,
    SYNTHETIC_TRAINING_DATA,
    TRAINING_DATA_UNKNOWN,
    UNTRAINED_MODEL,
    warning_codes,
)
from eanet.render import draw_joints_2d, overlay, side_view
from eanet.render.draw import (
    choose_legend_corner,
    choose_warning_badge_corner,
    draw_hand_legend,
    draw_warning_badge,
)
from eanet.render.scene import HAND_COLORS, Mesh

__all__ = [
    "PredictionRenders",
    "prediction_meshes",
    "render_overlay",
    "render_side",
    "render_joints",
    "render_prediction",
    "render_scale",
    "overlay_legend_corner",
    "overlay_warnings_corner",
    "PICTURE_WARNING_LABELS",
    "picture_warning_lines",
]

#: The words a picture shows for each warning code, in this order (the full text is in ``prediction.json``, the
#: command's output and the web page).
PICTURE_WARNING_LABELS: dict[str, str] = {
    UNTRAINED_MODEL: "untrained model",
    SYNTHETIC_TRAINING_DATA: "trained on synthetic data",
    TRAINING_DATA_UNKNOWN: "training data unknown",
    NO_NETWORK: "no network: keypoint fit only",
    LOW_CONFIDENCE: "low confidence",
}


@dataclass
class PredictionRenders:
    """``overlay`` and ``side`` ``(h, w, 3)`` uint8 RGB; ``joints`` the 2D joints drawn on the input; ``scale``
    the factor from original-image pixels to these images' pixels (1 unless the input was larger than the limit)."""

    overlay: np.ndarray
    side: np.ndarray
    joints: np.ndarray
    scale: float


def prediction_meshes(prediction) -> list[Mesh]:
    """The two hands as render meshes in the camera frame (right first), in their overlay colours."""
    return [Mesh(hand.verts_cam, hand.faces, HAND_COLORS[side], 1.0, side) for side, hand in prediction.hands()]


def render_scale(width: int, height: int, max_size: int) -> float:
    """Factor that brings an image's larger side down to ``max_size`` (1 when it already fits)."""
    return min(1.0, float(max_size) / float(max(width, height)))


def _scaled(prediction, image: np.ndarray, max_size: int):
    import cv2

    height, width = image.shape[:2]
    scale = render_scale(width, height, max_size)
    camera = prediction.camera
    if scale < 1.0:
        camera = camera.scaled(scale)
        image = cv2.resize(image, (camera.width, camera.height), interpolation=cv2.INTER_AREA)
    return image, camera, scale


def _projected_vertices(prediction, camera) -> np.ndarray:
    """``(N, 2)`` pixels of both hands' vertices in front of ``camera`` (what the overlay's legend must not hide)."""
    points = np.concatenate([hand.verts_cam for _, hand in prediction.hands()])
    points = points[np.isfinite(points).all(axis=1) & (points[:, 2] > 1e-6)]
    focal, princpt = np.asarray(camera.focal, np.float64), np.asarray(camera.princpt, np.float64)
    return points[:, :2] / points[:, 2:3] * focal + princpt


def picture_warning_lines(prediction) -> list[str]:
    """The prediction's warnings as a picture shows them: one short line per known code
    (:data:`PICTURE_WARNING_LABELS`), then ``+N other warning(s)`` for the rest (detection, box, placement)."""
    codes = warning_codes(prediction.warnings)
    lines = [label for code, label in PICTURE_WARNING_LABELS.items() if code in codes]
    fit = getattr(prediction, "fit", None)
    if LOW_CONFIDENCE in codes and fit is not None and fit.status != "not_fitted":
        # The confidence measures the network; the meshes shown were then fitted to keypoints.
        lines[lines.index(PICTURE_WARNING_LABELS[LOW_CONFIDENCE])] = "low network confidence, then fitted"
    others = sum(code not in PICTURE_WARNING_LABELS for code in codes)
    if others:
        lines.append(f"+{others} other warning{'s' if others > 1 else ''}")
    return lines


def _with_warnings(image: np.ndarray, prediction, corner: str | None, legend_corner: str | None, **avoid) -> np.ndarray:
    if corner is None:
        return image
    return draw_warning_badge(image, picture_warning_lines(prediction), corner, legend_corner=legend_corner, **avoid)[0]


def overlay_warnings_corner(prediction, width: int, height: int, legend_corner: str) -> str:
    """The corner for the warnings badge of a ``width`` x ``height`` overlay whose legend is at ``legend_corner``.

    A video fixes it at its first frame, chosen for that frame's warnings plus "low confidence" (the warning that
    comes and goes from frame to frame), so the badge does not jump around.
    """
    lines = picture_warning_lines(prediction)
    if PICTURE_WARNING_LABELS[LOW_CONFIDENCE] not in lines:
        lines.append(PICTURE_WARNING_LABELS[LOW_CONFIDENCE])
    points = _overlay_vertices(prediction, width, height)
    return choose_warning_badge_corner(width, height, lines, avoid_points=points, legend_corner=legend_corner)


def _overlay_vertices(prediction, width: int, height: int) -> np.ndarray:
    """:func:`_projected_vertices` in a ``width`` x ``height`` render of the overlay."""
    camera = prediction.camera
    if (width, height) != (camera.width, camera.height):
        camera = camera.scaled(width / camera.width)
    return _projected_vertices(prediction, camera)


def overlay_legend_corner(prediction, width: int, height: int) -> str:
    """The legend corner :func:`render_overlay` picks for ``prediction`` in a ``width`` x ``height`` render."""
    return choose_legend_corner(width, height, avoid_points=_overlay_vertices(prediction, width, height))


def render_overlay(prediction, image: np.ndarray, renderer, max_size: int = 1600, alpha: float = 0.85,
                   legend_corner: str | None = "auto", warnings_corner: str | None = "auto") -> np.ndarray:  # fmt: skip
    """Both meshes over ``image`` as the predicted camera sees them (downscaled to ``max_size`` when larger), with
    the right/left legend and the warnings badge (``legend_corner``, ``warnings_corner``: ``auto``, a corner of
    :data:`eanet.render.draw.LEGEND_CORNERS`, or None for none)."""
    image, camera, _ = _scaled(prediction, image, max_size)
    out = overlay(image, prediction_meshes(prediction), camera, renderer=renderer, alpha=alpha)
    points = _projected_vertices(prediction, camera)
    if legend_corner is not None:
        out, legend = draw_hand_legend(out, corner=legend_corner, avoid_points=points)
        legend_corner = legend.corner
    return _with_warnings(out, prediction, warnings_corner, legend_corner, avoid_points=points)


def render_side(prediction, size: int, renderer, angle_deg: float = 90.0, legend_corner: str | None = "auto",
                warnings_corner: str | None = "auto") -> np.ndarray:  # fmt: skip
    """Both meshes turned ``angle_deg`` about the camera's vertical axis, framed, on white (depth order visible),
    with the right/left legend and the warnings badge."""
    rgb = side_view(prediction_meshes(prediction), size, size, angle_deg=angle_deg, renderer=renderer).rgb.copy()
    hands = np.any(rgb < 250, axis=2)  # not the white
    if legend_corner is not None:
        rgb, legend = draw_hand_legend(rgb, corner=legend_corner, avoid_mask=hands)
        legend_corner = legend.corner
    return _with_warnings(rgb, prediction, warnings_corner, legend_corner, avoid_mask=hands)


def render_joints(prediction, image: np.ndarray, max_size: int = 1600, legend_corner: str | None = "auto",
                  warnings_corner: str | None = "auto") -> np.ndarray:  # fmt: skip
    """The 2D joints of both hands drawn on ``image`` (wrists marked with the hand's colour, named in the legend)."""
    import cv2

    image, _, scale = _scaled(prediction, image, max_size)
    out = np.ascontiguousarray(image)
    drawn = []
    for side_name, hand in prediction.hands():
        # Pixel centres sit at integers, so a resize maps u to (u + 0.5) * s - 0.5 (as Camera.scaled).
        uv = (hand.joints_2d + 0.5) * scale - 0.5
        drawn.append(uv)
        out = draw_joints_2d(out, uv)
        if np.all(np.isfinite(uv[0])):
            cv2.circle(out, tuple(int(round(v)) for v in uv[0]), max(2, round(4 * max(out.shape[:2]) / 512)),
                       tuple(int(c * 255) for c in HAND_COLORS[side_name]), -1, cv2.LINE_AA)  # fmt: skip
    points = np.concatenate(drawn)
    if legend_corner is not None:
        # Here only the wrist dots carry the hands' colours (the bones are coloured by finger): the legend says so.
        out, legend = draw_hand_legend(out, corner=legend_corner, avoid_points=points, suffix="wrist")
        legend_corner = legend.corner
    return _with_warnings(out, prediction, warnings_corner, legend_corner, avoid_points=points)


def render_prediction(prediction, image: np.ndarray, renderer, max_size: int = 1600, alpha: float = 0.85,
                      side_angle_deg: float = 90.0) -> PredictionRenders:  # fmt: skip
    """Render the overlay (meshes over ``image`` with the predicted camera), a side view and the 2D joints.

    Args:
        prediction: :class:`~eanet.inference.result.ImagePrediction`.
        image: the original ``(H, W, 3)`` uint8 RGB image.
        renderer: an :class:`eanet.render.Renderer` (kept alive across images by the caller).
        max_size: images larger than this are rendered downscaled (camera scaled alike).
        alpha: mesh opacity over the image.
        side_angle_deg: turn of the side view about the camera's vertical axis.
    """
    over = render_overlay(prediction, image, renderer, max_size, alpha)
    size = max(256, min(over.shape[:2]))
    side = render_side(prediction, size, renderer, side_angle_deg)
    joints = render_joints(prediction, image, max_size)
    scale = render_scale(image.shape[1], image.shape[0], max_size)
    return PredictionRenders(overlay=over, side=side, joints=joints, scale=scale)
