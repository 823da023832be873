"""The resumable sampler deals indices as DistributedSampler does; per-sample seeds make augmentation reproducible."""

import random

import numpy as np
import pytest
import torch
from torch.utils.data import DistributedSampler

from eanet.train.sampler import ResumableSampler
from eanet.train.seeding import SeededDataset, get_rng_state, sample_seed, set_rng_state


@pytest.mark.parametrize("n, world, drop_last", [(10, 1, True), (10, 3, True), (10, 3, False), (7, 2, False)])
def test_same_indices_as_distributed_sampler(n, world, drop_last):
    data = list(range(n))
    for rank in range(world):
        ours = ResumableSampler(data, world, rank, shuffle=True, seed=5, drop_last=drop_last)
        theirs = DistributedSampler(data, world, rank, shuffle=True, seed=5, drop_last=drop_last)
        for epoch in (0, 3):
            ours.set_epoch(epoch)
            theirs.set_epoch(epoch)
            assert [i for e, i in ours] == list(theirs)
            assert all(e == epoch for e, _ in ours)
            assert len(ours) == len(theirs)


def test_start_offset_skips_consumed_samples():
    s = ResumableSampler(20, 2, 1, seed=1)
    s.set_epoch(4)
    full = list(s)
    s.set_epoch(4, start=6)
    assert list(s) == full[6:] and len(s) == len(full) - 6
    with pytest.raises(ValueError):
        s.set_epoch(4, start=11)


class Augmenting(torch.utils.data.Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, i):
        return (i, random.random(), float(np.random.rand()), torch.rand(1).item())


def test_seeded_samples_depend_only_on_seed_epoch_index_and_spare_the_main_generators():
    ds = SeededDataset(Augmenting(), seed=3)
    torch.manual_seed(0)
    before = get_rng_state()
    a = ds[(2, 7)]
    after = get_rng_state()
    assert torch.equal(before["torch"], after["torch"]) and before["python"] == after["python"]
    assert ds[(2, 7)] == a  # same key, same sample
    assert ds[(3, 7)] != a and ds[(2, 6)] != a
    assert sample_seed(3, 2, 7) != sample_seed(4, 2, 7)
    # independent of the worker that loads it
    loader = torch.utils.data.DataLoader(ds, batch_size=None, sampler=[(2, 7), (2, 6)], num_workers=2)
    assert tuple(next(iter(loader))) == a


def test_rng_state_round_trip():
    state = get_rng_state()
    x = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == x
