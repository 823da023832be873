"""A tiny trainer behind ``eanet train`` for the training fault tests: seconds per run, no EANet, no dataset files.

It reuses the stand-in network and dataset of the training-loop tests (``tests/train/tinytrain.py``) and adds a
BatchNorm layer, because poisoned BatchNorm statistics are one of the faults under test. :func:`patch_build_trainer`
makes ``eanet train`` (``eanet.cli.main``) build this trainer, so the command's whole error path (exit code, message)
is exercised. Run as ``python -m faults.tiny_training OUT_DIR`` (from ``tests/``) it trains into ``OUT_DIR`` with a
checkpoint after every step and exits with the command's exit code: the full-disk test runs it on a small tmpfs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from eanet.structures import TwoHandPrediction
from train.tinytrain import _PER_HAND, TinyDataset, TinyTwoHandNet

#: Overrides that make ``eanet train`` run the tiny trainer quickly: 6 steps per epoch, a checkpoint after every step.
TINY_OVERRIDES = [
    "device=cpu",
    "seed=7",
    "data.num_workers=0",
    "train.batch_size=4",
    "train.epochs=3",
    "train.lr=1e-2",
    "train.lr_milestones=[2]",
    "train.backbone_init=null",
    "train.checkpoint_every_steps=1",
    "train.keep_last=2",
    "train.log_every_steps=2",
    "train.progress_bar=false",
    "train.tensorboard=false",
    "train.eval_every_epochs=0",
    "train.best_metric=null",
]


class BatchNormTinyNet(TinyTwoHandNet):
    """:class:`TinyTwoHandNet` with a BatchNorm after its convolution (running statistics are buffers)."""

    def __init__(self, width: int = 4) -> None:
        super().__init__(width=width)
        self.norm = nn.BatchNorm2d(width)

    def forward(self, img: torch.Tensor) -> TwoHandPrediction:
        feat = torch.relu(self.norm(self.conv(img))).flatten(1)  # (B, width * 16)
        out = self.head(feat)  # (B, 2 * _PER_HAND + 3)
        right, left, rel = torch.split(out, [_PER_HAND, _PER_HAND, 3], dim=1)
        return TwoHandPrediction(right=self._hand(right), left=self._hand(left), rel_trans=rel)


def overflow_from_step(first_bad_step: int, factor: float = 1e30) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A batch transform that scales the images by ``factor`` from the ``first_bad_step``-th batch on: the batch
    variance overflows float32, so BatchNorm's running variance becomes infinite while the loss stays finite."""
    calls = [0]

    def transform(batch: dict[str, Any]) -> dict[str, Any]:
        calls[0] += 1
        if calls[0] >= first_bad_step:
            batch["img"] = batch["img"] * factor
        return batch

    return transform


def patch_build_trainer(monkeypatch: Any, batch_transform: Callable | None = None) -> None:
    """Make ``eanet.train.build.train`` (what ``eanet train`` runs) use the tiny trainer; the export of released
    weights at the end (EANet's format) is skipped."""
    monkeypatch.setattr("eanet.train.build.build_trainer", tiny_build_trainer(batch_transform))
    monkeypatch.setattr("eanet.train.build.export_model", _skip_export)


def _skip_export(trainer: Any, cfg: Any, path: str | Path) -> Path:
    return Path(path)


def tiny_build_trainer(batch_transform: Callable | None = None) -> Callable[..., Any]:
    def build(cfg: Any, device: torch.device) -> Any:
        from eanet.train.loop import Trainer

        torch.manual_seed(cfg.seed)
        return Trainer(cfg, device, BatchNormTinyNet(), TinyDataset(24), batch_transform=batch_transform)

    return build


def main(output_dir: str) -> int:
    import eanet.train.build
    from eanet.cli import main as cli_main

    eanet.train.build.build_trainer = tiny_build_trainer()
    eanet.train.build.export_model = _skip_export
    return cli_main(["train", "--config", "eanet", f"output_dir={output_dir}", *TINY_OVERRIDES, "train.keep_last=100"])


if __name__ == "__main__":
    raise SystemExit(main(str(Path(sys.argv[1]))))
