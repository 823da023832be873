"""What a model's weights were trained on, recorded in every checkpoint so that predictions can say how far to trust
them (``docs/inference.md``, "Warnings").

A model trained only on ``eanet synth`` images has never seen a real photo: on one it draws roughly the average
hands, with nothing in its outputs to show it. The record makes that visible wherever the model is used.

Where the record lives:

* our ``.safetensors`` files: the metadata key ``training_data`` (JSON of :class:`TrainingData`), written by
  ``eanet train`` (``model.safetensors``, ``best.safetensors``) and by ``eanet convert-official``;
* training checkpoints (``checkpoints/step_*.pt``): the entry ``training_data`` (a dict);
* official-format ``.pth.tar`` files written by ``eanet convert-official --to-official``: the entry
  ``eanet_training_data`` (JSON, or ``unknown``); the official release's files have none and are InterHand2.6M.

Files written before the record existed have none: their training data is *unknown*, never assumed real.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eanet.data.synthetic_manifest import find_synthetic_manifest
from eanet.errors import InvalidInputError

__all__ = [
    "METADATA_KEY",
    "OFFICIAL_METADATA_KEY",
    "TrainingData",
    "training_data_for_run",
    "official_training_data",
]

#: Metadata key of the record in our safetensors files (and entry name in training checkpoints).
METADATA_KEY = "training_data"
#: Entry of the record in official-format files written by ``eanet convert-official --to-official``.
OFFICIAL_METADATA_KEY = "eanet_training_data"
#: Value of :data:`OFFICIAL_METADATA_KEY` when the weights written in the official format had no record.
UNKNOWN = "unknown"

_DATASET_NAMES = {"interhand26m": "InterHand2.6M", "hic": "HIC"}


@dataclass(frozen=True)
class TrainingData:
    """The training data of a model's weights.

    Attributes:
        dataset: the dataset reader used (``interhand26m``, ``hic``), as in ``data.dataset``.
        root: the data root, resolved to an absolute path when the model was trained ("" when not known, e.g. for
            the official release).
        synthetic: True when the root holds ``synthetic_manifest.json`` (written by ``eanet synth``): every training
            image was rendered, none is a photo.
        global_step: optimisation steps the weights had when saved (0: never trained); None when not recorded.
        origin: who wrote the record (``eanet train``, ``official EANet release``).
    """

    dataset: str
    root: str
    synthetic: bool
    global_step: int | None
    origin: str

    def describe(self) -> str:
        """One line for people, e.g. ``synthetic images (eanet synth) in /data/synth, InterHand2.6M layout, 300
        steps``."""
        name = _DATASET_NAMES.get(self.dataset, self.dataset)
        what = f"synthetic images (eanet synth, {name} layout)" if self.synthetic else f"{name} (real photos)"
        where = f" in {self.root}" if self.root else ""
        steps = f", {self.global_step} training steps" if self.global_step is not None else ""
        return f"{what}{where}{steps} ({self.origin})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any, where: str) -> TrainingData:
        """Parse a record; :class:`InvalidInputError` naming ``where`` when it is not one."""
        fields = {"dataset": str, "root": str, "synthetic": bool, "origin": str}
        problem = None
        if not isinstance(data, Mapping):
            problem = f"it is a {type(data).__name__}, not a mapping"
        else:
            wrong = [k for k, tp in fields.items() if not isinstance(data.get(k), tp)]
            step = data.get("global_step")
            if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 0):
                wrong.append("global_step")
            if wrong:
                problem = f"missing or malformed {', '.join(wrong)}"
        if problem is not None:
            raise InvalidInputError(
                f"{where}: the training-data record ({METADATA_KEY}) is not valid ({problem}); the file was damaged "
                "or edited: copy it again from where it came from"
            )
        return cls(
            dataset=data["dataset"], root=data["root"], synthetic=data["synthetic"],
            global_step=data.get("global_step"), origin=data["origin"],
        )  # fmt: skip

    @classmethod
    def from_json(cls, text: str, where: str) -> TrainingData:
        try:
            data = json.loads(text)
        except (TypeError, json.JSONDecodeError) as err:
            raise InvalidInputError(
                f"{where}: the training-data record ({METADATA_KEY}) is not valid JSON ({err}); the file was damaged "
                "or edited: copy it again from where it came from"
            ) from None
        return cls.from_dict(data, where)

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str], where: str) -> TrainingData | None:
        """The record in a safetensors file's metadata, or None when the file has none (training data unknown)."""
        text = metadata.get(METADATA_KEY)
        return None if text is None else cls.from_json(text, where)


def training_data_for_run(data_cfg: Any, global_step: int) -> TrainingData:
    """The record for weights trained by ``eanet train`` with the data section ``data_cfg`` (a ``DataConfig``)."""
    root = Path(data_cfg.root).expanduser()
    return TrainingData(
        dataset=data_cfg.dataset,
        root=str(root.resolve()),
        synthetic=find_synthetic_manifest(root, data_cfg.dataset) is not None,
        global_step=int(global_step),
        origin="eanet train",
    )


def official_training_data(metadata: Mapping[str, Any], where: str) -> TrainingData | None:
    """The training data of an official-format ``.pth.tar`` from its entries (``read_official_checkpoint``'s meta).

    The official release's files carry no record and were trained on InterHand2.6M (the paper's setting, 30
    epochs). A file that ``eanet convert-official --to-official`` wrote carries our record, or ``unknown`` when the
    weights it came from had none: that one is not assumed real (None).
    """
    text = metadata.get(OFFICIAL_METADATA_KEY)
    if text is None:
        return TrainingData(
            dataset="interhand26m", root="", synthetic=False, global_step=None, origin="official EANet release"
        )
    if text == UNKNOWN:
        return None
    return TrainingData.from_json(text, where)
