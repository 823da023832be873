"""Building the datasets, the collation (hand-model targets) and the data loaders from the ``data`` configuration
section and the model's sizes."""

from __future__ import annotations

import logging

from torch.utils.data import DataLoader, Dataset

from eanet.data.augment import AugmentConfig
from eanet.data.collate import Collator, ManoTargetBuilder
from eanet.data.config import DataConfig
from eanet.data.hic import HIC
from eanet.data.interhand26m import InterHand26M
from eanet.data.workers import init_loader_worker
from eanet.errors import InvalidInputError, MissingFileError
from eanet.hand_model.build import load_hand_model_pair
from eanet.hand_model.config import HandModelConfig

__all__ = ["DATASETS", "build_dataset", "build_collator", "build_dataloader"]

logger = logging.getLogger(__name__)

#: Registered dataset names -> "module:class".
DATASETS: dict[str, str] = {"interhand26m": "eanet.data.interhand26m:InterHand26M", "hic": "eanet.data.hic:HIC"}


def build_dataset(
    cfg: DataConfig,
    role: str,
    hand_model_cfg: HandModelConfig | None = None,
    *,
    input_size: tuple[int, int],
    heatmap_shape: tuple[int, int, int],
    hand_model_data: tuple | None = None,
    seed: int = 0,
) -> Dataset:
    """Build the configured dataset for ``role`` = ``"train"`` (augmented) or ``"test"``.

    Args:
        cfg: the ``data`` section.
        role: ``train`` uses ``cfg.train_split``/``cfg.subset`` with augmentation; ``test`` uses
            ``cfg.test_split``/``cfg.test_subset`` without.
        hand_model_cfg: the ``hand_model`` section (InterHand2.6M needs the hand model's root joint); or pass
            ``hand_model_data=(right, left)`` directly.
        input_size: ``(H, W)`` of the crops: the model's (``ModelConfig.input_size``).
        heatmap_shape: ``(D, h, w)`` of the ``_hm`` targets: the model's (``ModelConfig.heatmap_shape``).
        seed: base seed of the augmentation draws.
    """
    if role not in ("train", "test"):
        raise InvalidInputError(f"role must be 'train' or 'test', got {role!r}")
    train = role == "train"
    if cfg.dataset == "hic":
        if train:
            raise InvalidInputError("HIC is a test set only (data.dataset=hic cannot be used for training)")
        return HIC(
            cfg.root,
            input_size=input_size,
            bbox_source=cfg.hic_bbox,
            joint_bbox_extend=cfg.joint_bbox_extend,
            bbox_extend=cfg.bbox_extend,
        )
    if cfg.dataset != "interhand26m":
        raise InvalidInputError(f"unknown dataset {cfg.dataset!r}; known: {', '.join(DATASETS)}")
    if hand_model_data is None:
        if hand_model_cfg is None:
            raise InvalidInputError("InterHand2.6M needs the hand model (pass hand_model_cfg or hand_model_data)")
        hand_model_data = load_hand_model_pair(hand_model_cfg)
    augment = (
        AugmentConfig(
            scale_factor=cfg.aug_scale_factor,
            rot_factor_deg=cfg.aug_rot_factor_deg,
            rot_prob=cfg.aug_rot_prob,
            color_factor=cfg.aug_color_factor,
            flip_prob=cfg.aug_flip_prob,
        )
        if train and cfg.augment
        else None
    )
    dataset = InterHand26M(
        cfg.root,
        cfg.train_split if train else cfg.test_split,
        hand_model_data,
        train=train,
        subset=cfg.subset if train else cfg.test_subset,
        fps=cfg.fps,
        input_size=input_size,
        heatmap_shape=heatmap_shape,
        bbox_3d_size=cfg.bbox_3d_size,
        augment=augment,
        bbox_source="gt" if train else cfg.bbox_source,
        rootnet_path=cfg.rootnet_path,
        human_annot_ids=cfg.human_annot_ids,
        official_union_bbox_bug=cfg.official_union_bbox_bug,
        joint_bbox_extend=cfg.joint_bbox_extend,
        bbox_extend=cfg.bbox_extend,
        betas_clamp=cfg.betas_clamp,
        index_cache_dir=cfg.index_cache_dir,
        max_image_retries=cfg.max_image_retries,
        seed=seed,
    )
    if train:
        _check_training_images(dataset, cfg)
    return dataset


def _check_training_images(dataset, cfg: DataConfig) -> None:
    """Stat every training image now, not when a worker first fails to read one hours into the run."""

    report = dataset.check_image_files()
    logger.info("checked the %s training image files under %s in %.1f s", f"{report.checked:,}", dataset.paths.images,
             report.seconds)  # fmt: skip
    if not report.bad:
        return
    what = f"data.root={cfg.root}: {report.summary()}."
    if cfg.missing_images == "warn":
        logger.warning("%s Training on (data.missing_images=warn): their samples are replaced by readable ones.", what)
        return
    raise MissingFileError(
        f"{what} Restore them (InterHand2.6M comes in parts: every part must be unpacked under "
        f"{dataset.paths.images}), or set data.missing_images=warn to train without them (each such sample is then "
        "replaced by the next readable one and reported at the end of every epoch)."
    )


def build_collator(
    hand_models: tuple | None, data_cfg: DataConfig | None = None, *, input_size=None, heatmap_shape=None,
    bbox_3d_size=None,
):  # fmt: skip
    """A :class:`Collator` whose builder runs ``hand_models = (right_layer, left_layer)`` (None: no builder).

    With hand models, ``input_size`` and ``heatmap_shape`` (the model's: ``ModelConfig.input_size`` and
    ``ModelConfig.heatmap_shape``) are required; ``bbox_3d_size`` defaults to ``data_cfg``'s.
    """
    if hand_models is None:
        return Collator()
    if input_size is None or heatmap_shape is None:
        raise TypeError(
            "build_collator with hand models needs input_size and heatmap_shape: pass the model's "
            "(ModelConfig.input_size and ModelConfig.heatmap_shape)"
        )
    kwargs = dict(input_size=input_size, heatmap_shape=heatmap_shape)
    if data_cfg is not None:
        kwargs["bbox_3d_size"] = data_cfg.bbox_3d_size
    if bbox_3d_size is not None:
        kwargs["bbox_3d_size"] = bbox_3d_size
    return Collator(ManoTargetBuilder(hand_models[0], hand_models[1], **kwargs))


def build_dataloader(
    dataset: Dataset,
    batch_size: int,
    hand_models: tuple | None = None,
    *,
    data_cfg: DataConfig | None = None,
    input_size: tuple[int, int] | None = None,
    heatmap_shape: tuple[int, int, int] | None = None,
    train: bool = True,
    num_workers: int | None = None,
    sampler=None,
    hand_model_targets: str = "worker",
    pin_memory: bool = False,
    drop_last: bool | None = None,
) -> DataLoader:
    """A ``DataLoader`` with the project's collation.

    Args:
        dataset: from :func:`build_dataset`.
        hand_models: ``(right, left)`` :class:`~eanet.hand_model.HandModelLayer` on the CPU, for the batched
            hand-model targets; None for datasets without parameters (HIC).
        data_cfg: supplies ``bbox_3d_size`` and ``num_workers``.
        input_size, heatmap_shape: the model's crop size and heatmap shape, for the hand-model targets (needed with
            ``hand_models`` and ``hand_model_targets="worker"``).
        train: shuffle and drop the last partial batch (official), else keep order.
        sampler: e.g. a ``DistributedSampler`` (then no shuffling here).
        hand_model_targets: ``worker`` (build them in the collate function) or ``device`` (leave them to the caller,
            who runs :class:`~eanet.data.collate.ManoTargetBuilder` on the device batch).
    """

    collator = build_collator(
        hand_models if hand_model_targets == "worker" else None, data_cfg, input_size=input_size,
        heatmap_shape=heatmap_shape,
    )  # fmt: skip
    workers = num_workers if num_workers is not None else (data_cfg.num_workers if data_cfg else 0)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=train and sampler is None,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collator,
        drop_last=train if drop_last is None else drop_last,
        pin_memory=pin_memory,
        worker_init_fn=init_loader_worker if workers > 0 else None,
        persistent_workers=False,
    )
