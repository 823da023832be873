"""Configuration of datasets and the training/testing data pipeline (defaults: the official code's).

The crop size and the heatmap shape of the ``_hm`` targets are the model's (``ModelConfig.input_size`` and
``ModelConfig.heatmap_shape``): the builders pass them to the datasets, so they are not repeated here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class DataConfig:
    #: Dataset name in ``eanet.data.DATASETS`` (``interhand26m``, ``hic``).
    dataset: str = "interhand26m"
    #: Root of the dataset in its release layout (InterHand2.6M: the folder with ``images/`` and ``annotations/``;
    #: HIC: the folder with ``HIC.json``).
    root: str = "data/InterHand2.6M"
    #: Split used for training (``train``) and for testing/evaluation (``test``; ``val`` also works).
    train_split: Literal["train", "val", "test"] = "train"
    test_split: Literal["train", "val", "test"] = "test"
    #: InterHand2.6M subset for training / testing: human-annotated ``H``, machine-annotated ``M``, or both ``HM``.
    #: The official code trains and tests on ``HM``; InterWild tests on ``H``. H/M need ``aid_human_annot_<split>.txt``.
    subset: Literal["H", "M", "HM"] = "HM"
    test_subset: Literal["H", "M", "HM"] = "HM"
    #: The release the root holds: the 5 fps (papers) or the 30 fps one (same layout; picks RootNet file names).
    fps: Literal[5, 30] = 5
    #: File or folder with ``aid_human_annot_<split>.txt``; null: look in the root and ``annotations/``.
    human_annot_ids: str | None = None
    #: Test crops: ``gt`` (boxes from the annotated joints, as training) or ``rootnet`` (the RootNet output file's
    #: boxes, verbatim, as the official test).
    bbox_source: Literal["gt", "rootnet"] = "gt"
    #: RootNet output JSON; null: ``rootnet_output/`` or ``annotations/rootnet/`` under the root.
    rootnet_path: str | None = None
    #: Reproduce the official two-hand crop bug (``InterHand26M.py`` line 141: union width from the right box).
    #: It changes what a model sees in training: on to retrain exactly like the released model, off to fix it.
    official_union_bbox_bug: bool = False
    #: Depth range of the heatmap around the wrist, metres (±0.15 m).
    bbox_3d_size: float = 0.3
    #: Per-hand joint box growth, then square box growth (official ``get_bbox`` / ``process_bbox``).
    joint_bbox_extend: float = 1.25
    bbox_extend: float = 1.25
    #: Training augmentation (official ``get_aug_config``): scale 1 ± factor, rotation ±2·factor degrees with
    #: probability ``aug_rot_prob``, colour ×U[1 - f, 1 + f] per channel, horizontal flip (hands swapped).
    augment: bool = True
    aug_scale_factor: float = 0.25
    aug_rot_factor_deg: float = 30.0
    aug_rot_prob: float = 0.6
    aug_color_factor: float = 0.2
    aug_flip_prob: float = 0.5
    #: Shape targets are set to the mean shape when any |beta| exceeds this (official: 3); null keeps them.
    betas_clamp: float | None = 3.0
    #: Data-loader worker processes per GPU/process.
    num_workers: int = 8
    #: Where annotation indexes are kept; null: ``annotations/<split>/.eanet_index`` when writable, else
    #: ``~/.cache/eanet/index``.
    index_cache_dir: str | None = None
    #: A training sample whose image is missing or corrupt is replaced by the next readable one, at most this many
    #: times in a row before the data loader gives up (testing drops such samples instead).
    max_image_retries: int = 32
    #: Training images that are missing, empty or not regular files when the training set opens (every one is
    #: checked with a ``stat``: ~16 s for InterHand2.6M's 1.36 M on a busy 2-core machine): ``error`` stops with
    #: their count and the first few paths; ``warn`` logs the same and trains on, each such sample being replaced by
    #: the next readable one (and reported at the end of each epoch).
    missing_images: Literal["error", "warn"] = "error"
    #: HIC: crop around the hands' GT meshes (``gt``, like InterHand2.6M's GT boxes) or take the whole image
    #: (``full``, InterWild's setting).
    hic_bbox: Literal["gt", "full"] = "gt"

    def __post_init__(self) -> None:
        if self.subset not in ("H", "M", "HM") or self.test_subset not in ("H", "M", "HM"):
            raise ValueError("subset must be H, M or HM")
        if self.bbox_3d_size <= 0:
            raise ValueError("bbox_3d_size must be positive")
