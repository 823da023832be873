"""Evaluating in-process and then forking DataLoader workers must not hang (``train.eval_before_training`` with
``eval.num_workers=0``).

In-process test loading starts OpenCV's thread pool; a forked child that then calls ``cv2.setNumThreads`` (as the
training workers' init does) waited forever on threads that do not exist in it. :func:`evaluate_model` now joins the
pool when it finishes. The check forks several children (the hang was intermittent, about one child in three) and
counts those that do not exit; a liveness check, not a timing one.
"""

from __future__ import annotations

import multiprocessing

import cv2
import numpy as np
import torch

CHILD_TIMEOUT_S = 20.0  # a healthy child exits in milliseconds; a hung one never does


class _WarpingDataset(torch.utils.data.Dataset):
    """Warps a large image with OpenCV per sample, as the test crops do (this starts OpenCV's pool)."""

    def __init__(self, n: int = 4) -> None:
        self.n = n
        self.image = np.random.default_rng(0).integers(0, 255, (512, 512, 3), dtype=np.uint8)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        matrix = np.float32([[1.0, 0.1, i], [0.1, 1.0, 0.0]])
        crop = cv2.warpAffine(self.image, matrix, (256, 256))
        return {"img": torch.from_numpy(crop).permute(2, 0, 1).float()}  # (3, H, W)


class _CountingEvaluator:
    def __init__(self) -> None:
        self.seen = 0

    def reset(self) -> None:
        self.seen = 0

    def update(self, prediction, batch) -> None:
        self.seen += int(prediction.shape[0])

    def add_note(self, note: str) -> None:
        pass

    def compute(self) -> int:
        return self.seen


def _child() -> None:
    cv2.setNumThreads(1)  # what eanet.data.workers.init_loader_worker does in each forked worker
    cv2.warpAffine(np.zeros((512, 512, 3), np.uint8), np.float32([[1, 0, 1], [0, 1, 0]]), (256, 256))


def test_workers_forked_after_in_process_evaluation_do_not_hang():
    from eanet.eval.runner import evaluate_model

    if cv2.getNumThreads() < 2:
        cv2.setNumThreads(2)  # the pool (and the hazard) only exists with more than one thread
    loader = torch.utils.data.DataLoader(_WarpingDataset(), batch_size=2, num_workers=0)
    model = torch.nn.Identity()
    context = multiprocessing.get_context("fork")
    hung = 0
    for _ in range(8):
        evaluator = _CountingEvaluator()
        assert evaluate_model(model, loader, evaluator, torch.device("cpu"), log_every_s=1e9) == 4
        children = [context.Process(target=_child) for _ in range(2)]
        for child in children:
            child.start()
        for child in children:
            child.join(CHILD_TIMEOUT_S)
            if child.is_alive():
                hung += 1
                child.kill()
                child.join()
            else:
                assert child.exitcode == 0
    assert hung == 0, f"{hung} of 16 forked workers hung after an in-process evaluation"
    assert cv2.getNumThreads() >= 2  # the thread count itself is left as it was
