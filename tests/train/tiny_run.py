"""Train the tiny model with a checkpoint after every step, slowly, so that a test can kill it mid-run.

Usage: ``python tiny_run.py OUT_DIR SECONDS_PER_STEP``. It resumes from ``OUT_DIR`` when a checkpoint is there.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from tinytrain import TinyDataset, TinyTwoHandNet, tiny_config

from eanet.train.loop import Trainer


def slow(delay: float):
    def transform(batch):
        time.sleep(delay)
        return batch

    return transform


def make(out_dir: Path, delay: float) -> Trainer:
    cfg = tiny_config(out_dir, checkpoint_every_steps=1, keep_last=3, resume="auto")
    torch.manual_seed(cfg.seed)
    return Trainer(cfg, torch.device("cpu"), TinyTwoHandNet(dropout=0.1), TinyDataset(24), batch_transform=slow(delay))


if __name__ == "__main__":
    make(Path(sys.argv[1]), float(sys.argv[2])).fit()
