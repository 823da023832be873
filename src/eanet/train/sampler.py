"""A distributed sampler that can start in the middle of an epoch, for exact resume.

It deals out indices exactly as ``torch.utils.data.DistributedSampler`` does (one permutation per epoch from
``seed + epoch``, rank ``r`` takes every ``world_size``-th index from position ``r``), so one process with batch ``2b``
and two processes with batch ``b`` see the same samples in the same step. It yields ``(epoch, index)`` pairs, which
:class:`eanet.train.seeding.SeededDataset` turns into per-sample seeds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized

import torch
from torch.utils.data import Sampler

__all__ = ["ResumableSampler"]


class ResumableSampler(Sampler[tuple[int, int]]):
    """Shuffled (or sequential) indices for one process, resumable at a sample offset.

    Args:
        data: the dataset (only its length is used) or a length.
        num_replicas: number of processes.
        rank: this process's rank.
        shuffle: a new permutation each epoch (training) or the natural order (evaluation).
        seed: the run's seed.
        drop_last: drop the tail that does not divide evenly among processes (training); otherwise the tail is padded
            by repeating indices from the start, as ``DistributedSampler`` does.
    """

    def __init__(
        self,
        data: Sized | int,
        num_replicas: int = 1,
        rank: int = 0,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = True,
    ) -> None:
        self.length = data if isinstance(data, int) else len(data)
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is not in [0, {num_replicas})")
        self.num_replicas, self.rank = num_replicas, rank
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        if drop_last:
            self.num_samples = self.length // num_replicas
        else:
            self.num_samples = -(-self.length // num_replicas)
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch and skip this process's first ``start`` samples of it (those already trained on)."""
        if not 0 <= start <= self.num_samples:
            raise ValueError(f"start {start} is not in [0, {self.num_samples}]")
        self.epoch, self.start = epoch, start

    def indices(self) -> list[int]:
        """This process's indices for the current epoch, before skipping ``start``."""
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.length, generator=g).tolist()
        else:
            order = list(range(self.length))
        total = self.num_samples * self.num_replicas
        if total <= len(order):
            order = order[:total]
        else:
            pad = total - len(order)
            order = order + (order * (pad // max(len(order), 1) + 1))[:pad]
        return order[self.rank : total : self.num_replicas]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for index in self.indices()[self.start :]:
            yield self.epoch, index

    def __len__(self) -> int:
        return self.num_samples - self.start
