"""Names shared by the exporter and the runtime: the file format tag and the graph's input and output names."""

from __future__ import annotations

from eanet.hand_model.skeleton import HANDS

__all__ = ["FORMAT", "FORMAT_VERSION", "INPUT_NAME", "BATCH_DIM", "HAND_FIELDS", "OUTPUT_NAMES", "output_name"]

#: ``metadata_props`` tag of our ONNX files.
FORMAT = "eanet-onnx"
#: Bumped when the input, the outputs or the metadata keys change meaning.
FORMAT_VERSION = "1"
#: The graph's one input: ``(batch, 3, H, W)`` float32 RGB in ``[0, 1]``, no mean/std normalisation.
INPUT_NAME = "image"
#: Name of the dynamic batch axis in the graph.
BATCH_DIM = "batch"
#: Per-hand outputs, in graph order: every field of :class:`~eanet.structures.HandPrediction`, in its order (shapes
#: there; written out so importing this module does not import torch; a test checks they agree).
HAND_FIELDS: tuple[str, ...] = (
    "root_pose_6d", "hand_pose_6d", "root_pose_aa", "hand_pose_aa", "pose_rotmat", "betas", "cam", "joints_hm",
    "joints_cam", "verts_cam", "root_model", "joints_proj_hm",
)  # fmt: skip


def output_name(side: str, field: str) -> str:
    """Graph output name of one hand's field, e.g. ``right_verts_cam``."""
    return f"{side}_{field}"


#: Graph outputs, in order: the right hand's fields, the left hand's, then ``rel_trans`` ``(batch, 3)``.
OUTPUT_NAMES: tuple[str, ...] = tuple(output_name(s, f) for s in HANDS for f in HAND_FIELDS) + ("rel_trans",)
