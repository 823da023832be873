"""HIC (Tzionas et al., IJCV 2016) hand-hand test set, in InterWild's converted format (its ``data/HIC/HIC.py``).

``HIC.json`` is COCO-style: ``images`` (``id``, ``file_name`` relative to the folder of ``HIC.json``, ``width``,
``height``) and ``annotations`` (``id``, ``image_id``, ``hand_type``, ``right_mano_path``/``left_mano_path``: PLY
meshes of the hand model, camera frame, metres, or null). The camera is fixed: focal (525, 525), principal point
(319.5, 239.5). There are no 3D joints: the evaluator regresses wrists and joints from the meshes (MPVPE, MRRPE).

Crops: ``gt`` (default) projects each hand's mesh, takes the official per-hand joint box of the projected vertices,
their union for two hands, then ``process_bbox`` (the same recipe as InterHand2.6M's GT boxes); ``full`` uses the
whole image as InterWild does (InterWild detects the hands itself; EANet needs a hand crop).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from eanet.data.augment import AugmentParams, crop_image, joints_bbox, process_bbox, scale_colors, union_bbox
from eanet.data.images import ImageReadError, read_image
from eanet.data.release import HAND_TYPE_CODES
from eanet.data.sample import SkippedSample
from eanet.errors import InvalidInputError, MissingFileError

__all__ = ["HIC", "HIC_FOCAL", "HIC_PRINCPT", "load_ply_vertices"]

HIC_FOCAL = (525.0, 525.0)
HIC_PRINCPT = (319.5, 239.5)


def load_ply_vertices(path: str | Path) -> np.ndarray:
    """``(V, 3)`` float32 vertices of a PLY mesh."""
    from plyfile import PlyData

    try:
        ply = PlyData.read(str(path))
        v = ply["vertex"]
        return np.stack([v["x"], v["y"], v["z"]], axis=1).astype(np.float32)
    except FileNotFoundError:
        raise MissingFileError(f"HIC mesh {path} does not exist") from None
    except Exception as err:  # plyfile raises several types for damaged files
        raise InvalidInputError(f"{path}: not a readable PLY mesh ({err})") from None


class HIC(torch.utils.data.Dataset):
    """HIC test set (test only); samples follow :data:`eanet.data.sample.HIC_SAMPLE_KEYS`.

    Args:
        root: folder with ``HIC.json`` (or its parent ``data/``).
        input_size: crop ``(height, width)``.
        bbox_source: ``gt`` (hand meshes) or ``full`` (whole image).
        joint_bbox_extend, bbox_extend: box growth factors.
        num_verts: vertices per hand mesh: the hand model's the ground truth is scored with (its ``num_verts``);
            None: read from the first mesh ``HIC.json`` lists (the real HIC's are MANO's; ``eanet synth --hic``
            writes its hand model's). Check them against a hand model with :meth:`check_hand_model`.
        hand_model_name: the hand model ``num_verts`` comes from, named in the mismatch error.

    Raises:
        InvalidInputError: the meshes do not have ``num_verts`` vertices (meshes of another hand model).
    """

    def __init__(
        self,
        root: str | Path,
        *,
        input_size: tuple[int, int] = (256, 256),
        bbox_source: str = "gt",
        joint_bbox_extend: float = 1.25,
        bbox_extend: float = 1.25,
        num_verts: int | None = None,
        hand_model_name: str | None = None,
    ) -> None:
        root = Path(root)
        if not (root / "HIC.json").is_file() and (root / "data" / "HIC.json").is_file():
            root = root / "data"
        self.root = root
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.bbox_source = bbox_source
        self.joint_bbox_extend = joint_bbox_extend
        self.bbox_extend = bbox_extend
        path = root / "HIC.json"
        if not path.is_file():
            raise MissingFileError(f"{path} does not exist; set data.root to the folder holding HIC.json")
        try:
            db = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise InvalidInputError(f"{path}: line {err.lineno}, column {err.colno}: {err.msg}") from None
        where = "images"
        try:
            images = {im["id"]: im for im in db["images"]}
            self.items = []
            for i, ann in enumerate(db["annotations"]):
                where = f"annotations[{i}]"
                im = images[ann["image_id"]]
                self.items.append(
                    {
                        "annot_id": int(ann["id"]),
                        "image_id": int(ann["image_id"]),
                        "file_name": im["file_name"],
                        "width": int(im["width"]),
                        "height": int(im["height"]),
                        "hand_type": HAND_TYPE_CODES[ann["hand_type"]],
                        "meshes": (ann.get("right_mano_path"), ann.get("left_mano_path")),
                    }
                )
        except (KeyError, TypeError) as err:
            raise InvalidInputError(f"{path}: {where}: missing or bad {err} (expected InterWild's HIC.json format)") from None
        self.focal = np.array(HIC_FOCAL, dtype=np.float32)
        self.princpt = np.array(HIC_PRINCPT, dtype=np.float32)
        first = next((rel for item in self.items for rel in item["meshes"] if rel), None)
        #: Vertices per mesh, from the first mesh listed (0 when no annotation has a mesh).
        self.num_verts = 0 if first is None else int(load_ply_vertices(root / first).shape[0])
        self._first_mesh = first
        if num_verts is not None:
            self.check_hand_model(num_verts, hand_model_name)

    def check_hand_model(self, num_verts: int, name: str | None = None) -> None:
        """Raise unless the meshes have the vertex count of the hand model the ground truth is scored with.

        Args:
            num_verts: the hand model's vertices per hand (``HandModelLayer.num_verts``, ``v_template.shape[0]``).
            name: the hand model's name, for the message.

        Raises:
            InvalidInputError: the counts differ: the meshes were made with another hand model.
        """
        if self._first_mesh is None or self.num_verts == num_verts:
            return
        model = f"the hand model in use ({name}, {num_verts} vertices)" if name else f"{num_verts} vertices"
        raise InvalidInputError(
            f"{self.root / self._first_mesh}: HIC meshes with {self.num_verts} vertices cannot be scored against "
            f"{model}: they were made with another hand model (the real HIC's meshes are MANO's, 778 vertices; "
            "`eanet synth --hic` writes its --hand-model's). Evaluate them with the hand model that made them "
            "(eval.gt_hand_model) or point data.root at the matching HIC set."
        )

    def __len__(self) -> int:
        return len(self.items)

    def _bbox(self, item: dict, meshes: np.ndarray, valid: np.ndarray) -> np.ndarray:
        w, h = item["width"], item["height"]
        if self.bbox_source == "full" or not valid.any():
            box = np.array([[0.0, 0.0, w, h]])
            return process_bbox(box, w, h, aspect_ratio=self.input_size[1] / self.input_size[0], extend=1.0)[0][0]
        boxes = {}
        for k in np.nonzero(valid)[0]:
            xy = meshes[k, :, :2] / meshes[k, :, 2:] * self.focal + self.princpt  # (V, 2)
            boxes[k] = joints_bbox(xy[None], np.ones((1, xy.shape[0])), self.joint_bbox_extend)[0]
        box = union_bbox(boxes[0], boxes[1]) if len(boxes) == 2 else next(iter(boxes.values()))
        out, ok = process_bbox(box, w, h, aspect_ratio=self.input_size[1] / self.input_size[0], extend=self.bbox_extend)
        if not ok[0]:
            return process_bbox(np.array([[0.0, 0.0, w, h]]), w, h, extend=1.0)[0][0]
        return out[0]

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = self.items[i]
        meshes = np.zeros((2, self.num_verts, 3), dtype=np.float32)
        valid = np.zeros(2, dtype=np.float32)
        for k, rel in enumerate(item["meshes"]):
            if rel:
                verts = load_ply_vertices(self.root / rel)
                if verts.shape != (self.num_verts, 3):
                    raise InvalidInputError(
                        f"{self.root / rel}: {verts.shape[0]} vertices, but {self.root / self._first_mesh} has "
                        f"{self.num_verts}: every HIC mesh must come from the same hand model"
                    )
                meshes[k], valid[k] = verts, 1.0
        bbox = self._bbox(item, meshes, valid > 0).astype(np.float32)
        path = self.root / item["file_name"]
        try:
            img = read_image(path)
        except ImageReadError as err:
            return {"_skipped": [SkippedSample(index=i, path=err.path, reason=err.reason)]}
        crop, img2bb, bb2img = crop_image(img, bbox, self.input_size, AugmentParams())
        return {
            "img": scale_colors(crop),
            "mano_verts_cam": meshes,
            "mano_valid": valid,
            "hand_type": np.int64(item["hand_type"]),
            "hand_type_valid": np.float32(1.0),
            "index": np.int64(i),
            "annot_id": np.int64(item["annot_id"]),
            "image_id": np.int64(item["image_id"]),
            "bbox": bbox,
            "img2bb_trans": img2bb,
            "bb2img_trans": bb2img,
            "do_flip": np.bool_(False),
            "rot_deg": np.float32(0.0),
            "scale": np.float32(1.0),
            "color_scale": np.ones(3, dtype=np.float32),
            "focal": self.focal.copy(),
            "princpt": self.princpt.copy(),
            "img_shape": np.array(img.shape[:2], dtype=np.int64),
            "_skipped": [],
        }
