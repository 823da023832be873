"""Random-number state for reproducible and exactly resumable training.

Three rules make a resumed run continue bit for bit as an uninterrupted one would:

1. The shuffling order of an epoch depends only on ``(seed, epoch)`` (:class:`eanet.train.sampler.ResumableSampler`).
2. The augmentation of a sample depends only on ``(seed, epoch, index)``: :class:`SeededDataset` seeds Python's,
   NumPy's and torch's generators from them just before the dataset builds the sample, in whichever worker process
   that happens. So it does not matter which worker loads which sample, or that a resumed run starts its workers in
   the middle of an epoch.
3. The main process's generators (dropout and anything else the model draws) are saved in every checkpoint
   (:func:`get_rng_state`) and restored on resume (:func:`set_rng_state`); data loaders get their own
   ``torch.Generator`` so creating one does not advance the global generator.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

__all__ = [
    "seed_everything",
    "derive_seed",
    "sample_seed",
    "process_seed",
    "get_rng_state",
    "set_rng_state",
    "SeededDataset",
    "loader_generator",
]


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (CPU and every CUDA device) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def derive_seed(seed: int, *words: int) -> int:
    """A 63-bit seed that depends only on ``seed`` and the non-negative ``words``, well mixed (``SeedSequence``)."""
    entropy = [seed % 2**32, seed // 2**32, *words]
    state = np.random.SeedSequence(entropy).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1]))


# Independent streams derived from the run's seed.
_SAMPLE, _LOADER, _PROCESS = 0, 1, 2


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of sample ``index`` in ``epoch``: a function of ``(seed, epoch, index)`` only."""
    return derive_seed(seed, _SAMPLE, epoch, index)


def process_seed(seed: int, rank: int, global_step: int = 0) -> int:
    """The seed of a training process's own generators (dropout), distinct per rank."""
    return derive_seed(seed, _PROCESS, rank, global_step)


def loader_generator(seed: int, epoch: int) -> torch.Generator:
    """A private generator for a DataLoader (its workers' base seed), so the global generator is not advanced."""
    return torch.Generator().manual_seed(derive_seed(seed, _LOADER, epoch))


def get_rng_state() -> dict[str, Any]:
    """This process's global generator states, in types ``torch.load(weights_only=True)`` accepts."""
    version, mt_state, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(mt_state), gauss],
        "numpy": {
            "name": np_name,
            "keys": torch.from_numpy(np_keys.astype(np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "gauss": float(np_gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the states saved by :func:`get_rng_state`."""
    version, mt_state, gauss = state["python"]
    random.setstate((version, tuple(mt_state), gauss))
    npst = state["numpy"]
    np.random.set_state(
        (npst["name"], npst["keys"].numpy().astype(np.uint32), npst["pos"], npst["has_gauss"], npst["gauss"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def _cpu_rng_state() -> tuple[Any, Any, torch.Tensor]:
    return random.getstate(), np.random.get_state(), torch.get_rng_state()


class SeededDataset(Dataset):
    """Wrap a map-style dataset so that each sample's randomness depends only on ``(seed, epoch, index)``.

    Indices are ``(epoch, index)`` pairs, as :class:`eanet.train.sampler.ResumableSampler` yields them. In the main
    process (``num_workers=0``) the global generators are restored after the sample is built, so loading data never
    changes the randomness the model sees.

    Args:
        dataset: the dataset; its ``__getitem__(index)`` may use ``random``, ``numpy.random`` or ``torch``'s global
            generators for augmentation.
        seed: the run's seed.
    """

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset = dataset
        self.seed = seed

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> Any:
        # Attributes of the wrapped dataset (counters, metadata) stay reachable.
        if name in ("dataset", "seed"):
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        epoch, index = key
        saved = _cpu_rng_state() if get_worker_info() is None else None
        seed = sample_seed(self.seed, epoch, index)
        random.seed(seed)
        np.random.seed(seed % 2**32)
        # CPU generator only: augmentation runs on the CPU, and CUDA generators belong to the model.
        torch.default_generator.manual_seed(seed)
        set_epoch = getattr(self.dataset, "set_epoch", None)
        if set_epoch is not None:  # datasets that derive their own augmentation generator from the epoch
            set_epoch(epoch)
        try:
            return self.dataset[index]
        finally:
            if saved is not None:
                random.setstate(saved[0])
                np.random.set_state(saved[1])
                torch.set_rng_state(saved[2])
