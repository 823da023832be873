"""InterHand2.6M (v1.0, 5 fps or 30 fps) as a training/testing dataset: the official EANet pipeline.

Reading goes through the memory-mapped annotation index (:mod:`eanet.data.index`), built on first use; the list of
usable samples and their ground-truth crop boxes is computed once per configuration, vectorised, and cached next to
the index, so opening the dataset takes well under a second and a worker's memory does not grow with the dataset.

Per sample (:meth:`InterHand26M.__getitem__`), following the official ``InterHand26M.__getitem__``:

1. Read the image (RGB); crop the box with one affine warp that also applies the augmentation drawn for this
   sample (scale, rotation, horizontal flip); scale colours per channel; ``[0, 1]``.
2. Joints: world (mm) -> camera (m) with the release's camera; project; flip (hands swapped); rotate
   the 3D joints about the optical axis by ``-rot``; heatmap units; validity masks ANDed with the wrist.
3. Hand-model parameters: world -> camera exactly (:mod:`eanet.data.mano_params`), mirrored and swapped under a
   flip, root rotated by the 3D augmentation; the geometry inputs for the batched hand-model pass
   (:class:`eanet.data.collate.ManoTargetBuilder`).

Filters (the official loader's): annotations whose data-JSON validity or 3D validity is empty after the wrist AND,
whose frame has no 3D joints or camera, or whose box is empty, are left out; their counts are logged once when the
sample list is built and kept in :attr:`InterHand26M.filter_counts`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from eanet.data.augment import (
    AugmentConfig,
    AugmentParams,
    crop_image,
    draw_augmentation,
    joints_bbox,
    process_bbox,
    scale_colors,
    union_bbox,
)
from eanet.data.images import ImageFileCheck, ImageReadError, check_image_files, read_image
from eanet.data.index import SCHEMA_VERSION, AnnotationIndex, open_index, source_fingerprint
from eanet.data.jsonstream import JSONFormatError, iter_json_items
from eanet.data.mano_params import RootPivot, mirror_pose, rotate_root_pose, rotz, world_to_camera
from eanet.data.release import (
    IH26M_ROOTS,
    and_with_root_ih26m,
    camera_extrinsics,
    find_human_annot_ids,
    find_rootnet_file,
    joints_to_ours,
    release_paths,
)
from eanet.data.sample import SkippedSample
from eanet.errors import InvalidInputError, UserError
from eanet.hand_model.base import HandModelData

__all__ = ["InterHand26M"]

logger = logging.getLogger(__name__)

_SWAP_HANDS_42 = np.concatenate([np.arange(21, 42), np.arange(0, 21)])
_RIGHT, _LEFT = np.arange(0, 21), np.arange(21, 42)
_SAMPLE_LIST_VERSION = 1


class InterHand26M(torch.utils.data.Dataset):
    """One split of InterHand2.6M, returning the per-sample dicts of :mod:`eanet.data.sample`.

    Args:
        root: release folder (``images/``, ``annotations/``).
        split: ``train``, ``val`` or ``test``.
        hand_model_data: ``(right, left)`` hand-model data; its root joint places the hand-model parameters in the
            camera frame (the same models must run the :class:`~eanet.data.collate.ManoTargetBuilder`).
        train: True: augmentation, and unreadable images are replaced by the next readable sample; False: no
            augmentation, unreadable images are dropped from the batch (evaluation must not see duplicates).
        subset: ``H``, ``M`` or ``HM`` (through ``aid_human_annot_<split>.txt``).
        fps: 5 or 30 (which release the root holds; picks the RootNet file name).
        input_size: crop ``(height, width)``.
        heatmap_shape: ``(D, h, w)`` of the ``_hm`` targets.
        bbox_3d_size: metres of depth the heatmap covers around the wrist.
        augment: augmentation ranges (used when ``train``); None disables augmentation.
        bbox_source: ``gt`` or ``rootnet`` (test crops from the RootNet output, unprocessed, as the official test).
        rootnet_path, human_annot_ids: explicit files (else looked up under the root).
        official_union_bbox_bug: reproduce the official two-hand crop bug (``InterHand26M.py`` line 141).
        joint_bbox_extend, bbox_extend: official box growth factors.
        betas_clamp: shape targets with any ``|beta|`` above this become the mean shape (None: never).
        index_dir, index_cache_dir: where the annotation index lives (see :func:`eanet.data.index.open_index`).
        max_image_retries: consecutive unreadable images tolerated in training before giving up.
        seed: base seed of the per-sample augmentation generator (combined with the epoch and the index).
    """

    def __init__(
        self,
        root: str | Path,
        split: str,
        hand_model_data: tuple[HandModelData, HandModelData],
        *,
        train: bool = False,
        subset: str = "HM",
        fps: int = 5,
        input_size: tuple[int, int] = (256, 256),
        heatmap_shape: tuple[int, int, int] = (8, 8, 8),
        bbox_3d_size: float = 0.3,
        augment: AugmentConfig | None = None,
        bbox_source: str = "gt",
        rootnet_path: str | None = None,
        human_annot_ids: str | None = None,
        official_union_bbox_bug: bool = False,
        joint_bbox_extend: float = 1.25,
        bbox_extend: float = 1.25,
        betas_clamp: float | None = 3.0,
        index_dir: str | Path | None = None,
        index_cache_dir: str | Path | None = None,
        max_image_retries: int = 32,
        seed: int = 0,
    ) -> None:
        if subset not in ("H", "M", "HM"):
            raise InvalidInputError(f"subset must be H, M or HM, got {subset!r}")
        if bbox_source not in ("gt", "rootnet"):
            raise InvalidInputError(f"bbox_source must be gt or rootnet, got {bbox_source!r}")
        self.root = Path(root)
        self.split = split
        self.train = bool(train)
        self.subset = subset
        self.fps = int(fps)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.heatmap_shape = tuple(int(x) for x in heatmap_shape)
        self.bbox_3d_size = float(bbox_3d_size)
        self.augment = augment if train else None
        self.bbox_source = bbox_source
        self.official_union_bbox_bug = bool(official_union_bbox_bug)
        self.joint_bbox_extend = float(joint_bbox_extend)
        self.bbox_extend = float(bbox_extend)
        self.betas_clamp = betas_clamp
        self.max_image_retries = int(max_image_retries)
        self.seed = int(seed)
        self.epoch = 0
        #: ``path -> (H, W, 3) uint8 RGB``; raises :class:`~eanet.data.images.ImageReadError` (replaceable, e.g. by
        #: benchmarks that have annotations but no images).
        self.read_image = read_image
        self.pivots = (RootPivot.from_data(hand_model_data[0]), RootPivot.from_data(hand_model_data[1]))

        self.paths = release_paths(self.root, split)
        self.index: AnnotationIndex = open_index(self.paths, index_dir, cache_dir=index_cache_dir)
        self.seq_names: list[str] = self.index.strings  # seq_id / camera_id index this table
        self.camera_names: list[str] = self.index.strings
        ids_path = find_human_annot_ids(self.root, split, human_annot_ids) if subset != "HM" else None
        rootnet = find_rootnet_file(self.root, split, self.fps, rootnet_path) if bbox_source == "rootnet" else None
        self.rows, self.bboxes, self.filter_counts = self._sample_list(ids_path, rootnet)

    # ------------------------------------------------------------------------------------------------------------
    # the sample list

    def _sample_list_key(self, ids_path: Path | None, rootnet: Path | None) -> str:
        cols = self.index.header["columns"]
        key = {
            "version": _SAMPLE_LIST_VERSION,
            "schema": SCHEMA_VERSION,
            "index": [cols[c]["crc32"] for c in ("annotations/id", "annotations/joint_valid", "joints/world_coord")],
            "subset": self.subset,
            "ids": source_fingerprint(ids_path) if ids_path else None,
            "rootnet": source_fingerprint(rootnet) if rootnet else None,
            "bug": self.official_union_bbox_bug,
            "aspect": self.input_size[1] / self.input_size[0],
            "extend": [self.joint_bbox_extend, self.bbox_extend],
        }
        for fp in (key["ids"], key["rootnet"]):
            if fp:
                fp.pop("mtime_ns")
        return hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]

    def __getstate__(self) -> dict:
        # Spawned workers re-open the memory maps instead of receiving copies of the sample list.
        state = dict(self.__dict__)
        state["rows"] = state["bboxes"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.rows = np.load(self._sample_dir / "rows.npy", mmap_mode="r")
        self.bboxes = np.load(self._sample_dir / "bboxes.npy", mmap_mode="r")

    def _sample_list(self, ids_path: Path | None, rootnet: Path | None) -> tuple[np.ndarray, np.ndarray, dict]:
        directory = self.index.derived_dir() / f"samples-{self._sample_list_key(ids_path, rootnet)}"
        self._sample_dir = directory
        try:
            rows = np.load(directory / "rows.npy", mmap_mode="r")
            bboxes = np.load(directory / "bboxes.npy", mmap_mode="r")
            counts = json.loads((directory / "counts.json").read_text())
            if rows.shape[0] == bboxes.shape[0] == counts["kept"]:
                return rows, bboxes, counts
        except (OSError, ValueError, KeyError):
            pass
        rows, bboxes, counts = self._compute_sample_list(ids_path, rootnet)
        tmp = directory.with_name(f"{directory.name}.tmp-{os.getpid()}")
        tmp.mkdir(parents=True, exist_ok=True)
        np.save(tmp / "rows.npy", rows)
        np.save(tmp / "bboxes.npy", bboxes)
        (tmp / "counts.json").write_text(json.dumps(counts, indent=1))
        try:
            tmp.rename(directory)
        except OSError:  # another process (e.g. another rank) wrote it first
            shutil.rmtree(tmp, ignore_errors=True)
        return np.load(directory / "rows.npy", mmap_mode="r"), np.load(directory / "bboxes.npy", mmap_mode="r"), counts

    def _compute_sample_list(self, ids_path: Path | None, rootnet: Path | None) -> tuple[np.ndarray, np.ndarray, dict]:
        idx = self.index
        ann, jts = idx.annotations, idx.joints
        n = idx.num_annotations
        counts = {"annotations": n}
        keep_rows, keep_boxes = [], []
        human = _read_ids(ids_path) if ids_path else None
        rn_ids, rn_boxes = _read_rootnet(rootnet) if rootnet else (None, None)
        reasons = dict.fromkeys(
            ["subset", "no_2d_valid_joint", "no_3d_joints", "no_camera", "no_3d_valid_joint", "unknown_hand_type",
             "empty_bbox", "no_rootnet_bbox"], 0)  # fmt: skip
        step = 1 << 17
        for start in range(0, n, step):
            rows = np.arange(start, min(n, start + step))
            ok = np.ones(rows.shape, dtype=bool)
            ann_ids = np.asarray(ann["id"][start : start + step])
            if human is not None:
                in_h = np.isin(ann_ids, human)
                sel = in_h if self.subset == "H" else ~in_h
                reasons["subset"] += int((~sel).sum())
                ok &= sel
            v2 = and_with_root_ih26m(np.asarray(ann["joint_valid"][start : start + step]))
            bad = ok & (v2.sum(1) == 0)
            reasons["no_2d_valid_joint"] += int(bad.sum())
            ok &= ~bad
            jrow = np.asarray(ann["joints_row"][start : start + step])
            crow = np.asarray(ann["camera_row"][start : start + step])
            bad = ok & (jrow < 0)
            reasons["no_3d_joints"] += int(bad.sum())
            ok &= ~bad
            bad = ok & (crow < 0)
            reasons["no_camera"] += int(bad.sum())
            ok &= ~bad
            hand_type = np.asarray(ann["hand_type"][start : start + step])
            bad = ok & (hand_type > 2)
            reasons["unknown_hand_type"] += int(bad.sum())
            ok &= ~bad
            sel = np.nonzero(ok)[0]
            if sel.size == 0:
                continue
            v3 = and_with_root_ih26m(np.asarray(jts["joint_valid"][jrow[sel]]))
            bad = v3.sum(1) == 0
            reasons["no_3d_valid_joint"] += int(bad.sum())
            sel, v3 = sel[~bad], v3[~bad]
            if sel.size == 0:
                continue
            if rn_ids is not None:
                pos = np.clip(np.searchsorted(rn_ids, ann_ids[sel]), 0, len(rn_ids) - 1)
                found = rn_ids[pos] == ann_ids[sel]
                reasons["no_rootnet_bbox"] += int((~found).sum())
                sel, boxes = sel[found], rn_boxes[pos[found]]
            else:
                boxes, good = self._gt_boxes(
                    world_mm=np.asarray(jts["world_coord"][jrow[sel]], dtype=np.float64),
                    valid3=v3,
                    cam_row=crow[sel],
                    hand_type=hand_type[sel],
                    image_row=np.asarray(ann["image_row"][start : start + step])[sel],
                )
                reasons["empty_bbox"] += int((~good).sum())
                sel, boxes = sel[good], boxes[good]
            keep_rows.append(rows[sel])
            keep_boxes.append(boxes.astype(np.float32))
        rows = np.concatenate(keep_rows) if keep_rows else np.zeros(0, np.int64)
        bboxes = np.concatenate(keep_boxes) if keep_boxes else np.zeros((0, 4), np.float32)
        counts.update({f"skipped_{k}": v for k, v in reasons.items() if v})
        counts["kept"] = int(rows.shape[0])
        dropped = {k: v for k, v in reasons.items() if v and k != "subset"}
        logger.info("InterHand2.6M %s (%s): %d of %d annotations usable%s", self.split, self.subset, counts["kept"], n,
                    f"; left out: {dropped}" if dropped else "")  # fmt: skip
        return rows.astype(np.int64), bboxes, counts

    def _gt_boxes(self, world_mm, valid3, cam_row, hand_type, image_row) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised official GT crop boxes (``InterHand26M.py`` lines 126-143) for a block of annotations."""
        cams = self.index.cameras
        cam_rot, cam_trans = camera_extrinsics(np.asarray(cams["campos"][cam_row]), np.asarray(cams["camrot"][cam_row]))
        x_cam = np.einsum("nij,nkj->nki", cam_rot, world_mm * 1e-3) + cam_trans[:, None]  # (n, 42, 3) m
        z = np.where(valid3 > 0, x_cam[..., 2], 1.0)
        focal = np.asarray(cams["focal"][cam_row], dtype=np.float64)[:, None]  # (n, 1, 2)
        princpt = np.asarray(cams["princpt"][cam_row], dtype=np.float64)[:, None]
        xy = x_cam[..., :2] / (z[..., None] + 1e-8) * focal + princpt  # (n, 42, 2)
        ext = self.joint_bbox_extend
        right, ok_r = joints_bbox(xy[:, _RIGHT], valid3[:, _RIGHT], ext)
        left, ok_l = joints_bbox(xy[:, _LEFT], valid3[:, _LEFT], ext)
        # Interacting: a hand without valid joints borrows the other hand's box (official lines 131-138).
        r2 = np.where(ok_r[:, None], right, left)
        l2 = np.where(ok_l[:, None], left, right)
        inter = union_bbox(r2, l2, official_bug=self.official_union_bbox_bug)
        box = np.where((hand_type == 0)[:, None], right, np.where((hand_type == 1)[:, None], left, inter))
        ok = np.where(hand_type == 0, ok_r, np.where(hand_type == 1, ok_l, ok_r | ok_l))
        images = self.index.images
        width = np.asarray(images["width"][image_row], dtype=np.float64)
        height = np.asarray(images["height"][image_row], dtype=np.float64)
        aspect = self.input_size[1] / self.input_size[0]
        box, ok2 = process_bbox(box, width, height, aspect_ratio=aspect, extend=self.bbox_extend)
        return box, ok & ok2

    # ------------------------------------------------------------------------------------------------------------
    # samples

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def set_epoch(self, epoch: int) -> None:
        """Make the augmentation draws depend on the epoch (call before each epoch's loader iterator is created)."""
        self.epoch = int(epoch)

    def image_files(self) -> list[str]:
        """Paths of the distinct image files the samples read, in index order."""
        images = self.index.images
        image_rows = np.unique(np.asarray(self.index.annotations["image_row"])[np.asarray(self.rows)])
        offsets = np.asarray(images["file_offsets"])
        starts, ends = offsets[image_rows].tolist(), offsets[image_rows + 1].tolist()
        raw = bytes(np.asarray(images["file_blob"]))  # ~60 MB for the 1.36 M names of InterHand2.6M's train split
        prefix = str(self.paths.images) + os.sep
        if raw.isascii():  # byte offsets are character offsets: slicing one str is ~2x faster than decoding each name
            text = raw.decode("ascii")
            return [prefix + text[a:b] for a, b in zip(starts, ends, strict=True)]
        return [prefix + raw[a:b].decode("utf-8") for a, b in zip(starts, ends, strict=True)]

    def check_image_files(self, max_examples: int = 10) -> ImageFileCheck:
        """Stat every image file the samples read (see :func:`eanet.data.images.check_image_files`)."""
        return check_image_files(self.image_files(), max_examples)

    def image_path(self, i: int) -> Path:
        row = int(self.rows[i])
        return self.paths.images / self.index.file_name(int(self.index.annotations["image_row"][row]))

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not 0 <= i < len(self):
            raise IndexError(i)
        skipped: list[SkippedSample] = []
        attempts = self.max_image_retries + 1 if self.train else 1
        for attempt in range(attempts):
            j = (i + attempt) % len(self)
            try:
                sample = self.load_sample(j)
            except ImageReadError as err:
                skipped.append(SkippedSample(index=j, path=err.path, reason=err.reason))
                continue
            sample["_skipped"] = skipped
            return sample
        if not self.train:
            return {"_skipped": skipped}
        raise UserError(
            f"{attempts} consecutive images from sample {i} on could not be read (first: {skipped[0].path}, "
            f"{skipped[0].reason}). Check that data.root={self.root} holds the images of the release."
        )

    def augmentation(self, i: int) -> AugmentParams:
        if self.augment is None:
            return AugmentParams()
        rng = np.random.default_rng([self.seed, self.epoch, i])
        return draw_augmentation(rng, self.augment)

    def load_sample(self, i: int, aug: AugmentParams | None = None) -> dict[str, Any]:
        """Sample ``i`` as a dict (:mod:`eanet.data.sample`); ``aug`` overrides the drawn augmentation (tests).

        Raises:
            ImageReadError: the image is missing, truncated or corrupt.
        """
        idx = self.index
        ann, images, jts, cams = idx.annotations, idx.images, idx.joints, idx.cameras
        row = int(self.rows[i])
        bbox = np.array(self.bboxes[i], dtype=np.float32)  # a copy: the cache is a read-only memory map
        image_row = int(ann["image_row"][row])
        jrow, crow, mrow = int(ann["joints_row"][row]), int(ann["camera_row"][row]), int(ann["mano_row"][row])
        aug = self.augmentation(i) if aug is None else aug

        img = self.read_image(self.paths.images / idx.file_name(image_row))
        img_h, img_w = img.shape[:2]
        crop, img2bb, bb2img = crop_image(img, bbox, self.input_size, aug)
        img_t = scale_colors(crop, aug.color_scale)  # (3, H, W)

        # camera (the one conversion of the release's camera convention: mm camera centre -> m translation)
        cam_rot, cam_trans = camera_extrinsics(np.asarray(cams["campos"][crow]), np.asarray(cams["camrot"][crow]))
        focal = np.asarray(cams["focal"][crow], dtype=np.float64)
        princpt = np.asarray(cams["princpt"][crow], dtype=np.float64)

        # IH2.6M joints, release order, camera frame (m)
        valid3 = and_with_root_ih26m(np.asarray(jts["joint_valid"][jrow]))  # (42,)
        valid2 = and_with_root_ih26m(np.asarray(ann["joint_valid"][row]))  # (42,)
        x_cam = np.asarray(jts["world_coord"][jrow], dtype=np.float64) * 1e-3 @ cam_rot.T + cam_trans  # (42, 3)
        x_cam[valid3 == 0] = 1e-3  # official placeholder (1 mm) for invalid joints: finite, always masked
        uv = x_cam[:, :2] / (x_cam[:, 2:] + 1e-8) * focal + princpt  # (42, 2) original image px
        if aug.do_flip:
            uv[:, 0] = img_w - 1 - uv[:, 0]
        uv = uv @ img2bb[:, :2].T.astype(np.float64) + img2bb[:, 2]  # (42, 2) crop px

        flip = np.diag([-1.0, 1.0, 1.0]) if aug.do_flip else np.eye(3)
        aug_rot = rotz(-aug.rot_deg) @ flip  # release camera frame -> augmented frame
        x_aug = x_cam @ aug_rot.T  # (42, 3)
        if aug.do_flip:  # the mirrored left hand is the new right hand
            x_aug, uv, valid3, valid2 = x_aug[_SWAP_HANDS_42], uv[_SWAP_HANDS_42], valid3[_SWAP_HANDS_42], valid2[
                _SWAP_HANDS_42]  # fmt: skip
        roots = x_aug[list(IH26M_ROOTS)]  # (2, 3)
        rel = x_aug - np.repeat(roots, 21, axis=0)  # (42, 3) wrist-relative
        joints_hm = self._to_heatmap(uv, rel[:, 2])
        trunc = valid3 * self._inside(joints_hm)

        hand_type = int(ann["hand_type"][row])
        if aug.do_flip and hand_type < 2:
            hand_type = 1 - hand_type

        sample: dict[str, Any] = {
            "img": img_t,
            "joints_hm": joints_to_ours(joints_hm).astype(np.float32),
            "joints_cam": joints_to_ours(rel).astype(np.float32),
            "joints_root_cam": roots.astype(np.float32),
            "joints_gt_cam": joints_to_ours(x_aug).astype(np.float32),
            "rel_trans": (roots[1] - roots[0]).astype(np.float32),
            "joints_valid": joints_to_ours(valid3).astype(np.float32),
            "joints_trunc": joints_to_ours(trunc).astype(np.float32),
            "joints_valid_2d": joints_to_ours(valid2).astype(np.float32),
            "joints_valid_2d_ih26m": valid2.astype(np.float32),
            "rel_trans_valid": np.float32(valid3[IH26M_ROOTS[0]] * valid3[IH26M_ROOTS[1]]),
        }
        sample.update(self._mano(mrow, cam_rot, cam_trans, aug))
        sample.update(
            {
                "aug_rotmat": aug_rot.astype(np.float32),
                "is_3d": np.float32(1.0),
                "hand_type": np.int64(hand_type),
                "hand_type_valid": np.float32(ann["hand_type_valid"][row]),
                "index": np.int64(i),
                "annot_id": np.int64(ann["id"][row]),
                "image_id": np.int64(ann["image_id"][row]),
                "capture": np.int64(images["capture"][image_row]),
                "frame_idx": np.int64(images["frame_idx"][image_row]),
                "seq_id": np.int64(images["seq"][image_row]),
                "camera_id": np.int64(images["camera"][image_row]),
                "bbox": bbox,
                "img2bb_trans": img2bb.astype(np.float32),
                "bb2img_trans": bb2img.astype(np.float32),
                "do_flip": np.bool_(aug.do_flip),
                "rot_deg": np.float32(aug.rot_deg),
                "scale": np.float32(aug.scale),
                "color_scale": np.asarray(aug.color_scale, dtype=np.float32),
                "focal": focal.astype(np.float32),
                "princpt": princpt.astype(np.float32),
                "cam_rot": cam_rot.astype(np.float32),
                "cam_trans": cam_trans.astype(np.float32),
                "img_shape": np.array([img_h, img_w], dtype=np.int64),
            }
        )
        return sample

    def _to_heatmap(self, uv_crop: np.ndarray, z_rel: np.ndarray) -> np.ndarray:
        depth, hm_h, hm_w = self.heatmap_shape
        out = np.empty((uv_crop.shape[0], 3))
        out[:, 0] = uv_crop[:, 0] / self.input_size[1] * hm_w
        out[:, 1] = uv_crop[:, 1] / self.input_size[0] * hm_h
        out[:, 2] = (z_rel / (self.bbox_3d_size / 2) + 1) / 2.0 * depth
        return out

    def _inside(self, hm: np.ndarray) -> np.ndarray:
        depth, hm_h, hm_w = self.heatmap_shape
        return (
            (hm[:, 0] >= 0) & (hm[:, 0] < hm_w) & (hm[:, 1] >= 0) & (hm[:, 1] < hm_h) & (hm[:, 2] >= 0)
            & (hm[:, 2] < depth)
        ).astype(np.float64)  # fmt: skip

    def _mano(self, mrow: int, cam_rot: np.ndarray, cam_trans: np.ndarray, aug: AugmentParams) -> dict[str, Any]:
        """Hand-model parameter targets and geometry inputs for both slots."""
        mano = self.index.mano
        valid = np.zeros(2)
        pose_cam = np.zeros((2, 48))
        trans_cam = np.zeros((2, 3))
        betas = np.zeros((2, 10))
        if mrow >= 0:
            present = np.asarray(mano["valid"][mrow])
            poses, shapes, trans = (np.asarray(mano[k][mrow], dtype=np.float64) for k in ("pose", "shape", "trans"))
            for h in (0, 1):
                if present[h]:
                    valid[h] = 1.0
                    betas[h] = shapes[h]
                    pose_cam[h], trans_cam[h] = world_to_camera(poses[h], shapes[h], trans[h], cam_rot, cam_trans,
                                                                self.pivots[h])  # fmt: skip
        src = np.array([1, 0]) if aug.do_flip else np.array([0, 1])  # the source hand of each slot
        rot_aug = rotz(-aug.rot_deg)
        pose_t = pose_cam[src].copy()
        betas_t = betas[src].copy()
        for s in (0, 1):
            if not valid[src[s]]:
                continue
            if aug.do_flip:
                pose_t[s] = mirror_pose(pose_t[s])
            pose_t[s, :3] = rotate_root_pose(rot_aug, pose_t[s, :3])
            if self.betas_clamp is not None and np.abs(betas_t[s]).max() > self.betas_clamp:
                betas_t[s] = 0.0  # official: mean shape, still marked valid
        slot_valid = valid[src].astype(np.float32)
        return {
            "mano_pose_aa": pose_t.astype(np.float32),
            "mano_betas": betas_t.astype(np.float32),
            "mano_valid": slot_valid,
            "mano_pose_valid": slot_valid.copy(),
            "mano_betas_valid": slot_valid.copy(),
            "mano_geom_pose_aa": pose_cam[src].astype(np.float32),
            "mano_geom_betas": betas[src].astype(np.float32),
            "mano_geom_trans_cam": trans_cam[src].astype(np.float32),
            "mano_geom_side": src.astype(np.int64),
        }

    # ------------------------------------------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """Settings and counts, for logs and run directories."""
        return {
            "dataset": "interhand26m",
            "root": str(self.root),
            "split": self.split,
            "subset": self.subset,
            "fps": self.fps,
            "train": self.train,
            "bbox_source": self.bbox_source,
            "official_union_bbox_bug": self.official_union_bbox_bug,
            "augment": asdict(self.augment) if self.augment else None,
            "index": str(self.index.directory),
            "counts": dict(self.filter_counts),
        }


def _read_ids(path: Path) -> np.ndarray:
    ids = []
    with path.open() as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                ids.append(int(line))
            except ValueError:
                raise InvalidInputError(f"{path}: line {n} is not an annotation id: {line[:40]!r}") from None
    return np.unique(np.asarray(ids, dtype=np.int64))


def _read_rootnet(path: Path) -> tuple[np.ndarray, np.ndarray]:
    ids, boxes = [], []
    for (i,), item in iter_json_items(path, 1):
        try:
            ids.append(int(item["annot_id"]))
            box = item["bbox"]
            if len(box) != 4:
                raise ValueError(f"bbox has {len(box)} numbers, expected 4")
            boxes.append(box)
        except (KeyError, TypeError, ValueError) as err:
            raise JSONFormatError(f"{path}: item {i}: {err} (expected {{'annot_id', 'bbox', 'abs_depth'}})") from None
    ids_arr = np.asarray(ids, dtype=np.int64)
    order = np.argsort(ids_arr, kind="stable")
    return ids_arr[order], np.asarray(boxes, dtype=np.float32).reshape(-1, 4)[order]
