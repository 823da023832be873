"""One check that the hand models of a run agree with each other and with the data, before any work starts.

Three hand models meet in training and evaluation:

* the **data's**: the model whose parameters the ground truth holds. Real InterHand2.6M (NeuralAnnot fits) and HIC
  are MANO; a dataset written by ``eanet synth`` records its model in ``synthetic_manifest.json``;
* the **model's** (``hand_model.kind``; for evaluation, the checkpoint's): training builds its mesh and joint targets
  by running the data's parameters through it;
* the **ground truth's** at evaluation (``eval.gt_hand_model``): the meshes and joints the predictions are scored
  against are rebuilt with it.

:func:`check_hand_models` is called by training (``eanet.train.build.build_trainer``, before the first step) and by
evaluation (``eanet.eval.runner``, before the first batch), so that a mismatch is one clear error naming the setting
to change, not wrong targets or meaningless numbers.
"""

from __future__ import annotations

import logging
from pathlib import Path

from eanet.data.synthetic_manifest import find_synthetic_manifest, synthetic_hand_model_kind
from eanet.errors import InvalidInputError

__all__ = ["data_hand_model", "check_hand_models"]

logger = logging.getLogger(__name__)


def data_hand_model(data_root: str | Path, dataset: str = "interhand26m") -> tuple[str, bool]:
    """``(kind, synthetic)``: the hand model whose parameters the data at ``data_root`` holds, and whether that was
    read from an ``eanet synth`` manifest (False: real data without a manifest, which is MANO).

    Raises:
        InvalidInputError: a manifest that cannot be read or names no hand model (never guessed).
    """
    # The one reader of the manifest is the module that defines its format.
    manifest = find_synthetic_manifest(data_root, dataset)
    if manifest is None:
        return "mano", False
    kind = synthetic_hand_model_kind(manifest.parent)
    if kind is None:  # the file vanished between the two reads
        raise InvalidInputError(f"{manifest} disappeared while it was read; run again once the data is in place")
    return kind, True


def _describe(kind: str, synthetic: bool, root: str | Path) -> str:
    if synthetic:
        return f"{root} was made by `eanet synth --hand-model {kind}`, so its ground truth holds {kind} parameters"
    return (f"{root} has no synthetic_manifest.json: it is real InterHand2.6M/HIC data, whose ground truth holds MANO "
            "parameters")  # fmt: skip


def check_hand_models(
    *,
    data_root: str | Path,
    dataset: str = "interhand26m",
    model_kind: str | None = None,
    gt_hand_model: str | None = None,
    training: bool = False,
) -> str:
    """Check ``hand_model.kind`` (``model_kind``) and ``eval.gt_hand_model`` against the data and each other.

    Args:
        data_root, dataset: the data (``data.root``, ``data.dataset`` or the evaluation's dataset).
        model_kind: the model's hand model (``hand_model.kind``; the checkpoint's for evaluation); None: not checked.
        gt_hand_model: ``eval.gt_hand_model`` when this run scores against ground truth; None: not checked.
        training: the targets are built with the model's hand model from the data's parameters, so they must be the
            same model. At evaluation a model of another hand model is scored by each model's own joint regressor
            (MPVPE only when the vertex counts match): allowed, and logged as not comparable.

    Returns:
        The data's hand model, ``"open"`` or ``"mano"``.

    Raises:
        InvalidInputError: a mismatch, saying which setting to change.
    """
    kind, synthetic = data_hand_model(data_root, dataset)
    what = _describe(kind, synthetic, data_root)
    if gt_hand_model is not None and gt_hand_model != kind:
        if kind == "open":
            fix = "evaluate it with eval.gt_hand_model=open (`eanet eval --gt-hand-model open`)"
        else:
            fix = (f"eval.gt_hand_model={gt_hand_model} is only for data made by `eanet synth --hand-model "
                   f"{gt_hand_model}`; evaluate it with eval.gt_hand_model=mano and the MANO files (--mano-dir)")  # fmt: skip
        raise InvalidInputError(f"eval.gt_hand_model={gt_hand_model}, but {what}; {fix}")
    if model_kind is not None and model_kind != kind:
        if training:
            if kind == "mano":
                fix = ("set hand_model.kind=mano (with the MANO files: hand_model.mano_dir=DIR or $EANET_MANO_DIR), "
                       "or train on data made by `eanet synth --hand-model open`")  # fmt: skip
            else:
                fix = (f"set hand_model.kind={kind}, or train on data made with the {model_kind} hand model "
                       f"(`eanet synth --hand-model {model_kind}`)")  # fmt: skip
            raise InvalidInputError(
                f"hand_model.kind={model_kind}, but {what}: the training targets would be {model_kind}-hand meshes "
                f"of {kind} parameters, which are wrong meshes; {fix}"
            )
        logger.warning(
            "the model uses the %s hand model but the ground truth is %s: joints are scored with each model's own "
            "regressor, MPVPE only if the vertex counts match, and the numbers are not comparable with %s-model "
            "results", model_kind, kind, kind,
        )  # fmt: skip
    return kind
