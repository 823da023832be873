"""Threads of the data pipeline: one per DataLoader worker, and no OpenCV thread pool inherited across ``fork``.

Every DataLoader of the project passes :func:`init_loader_worker` as its ``worker_init_fn``; a process that used
OpenCV and then forks loader workers calls :func:`single_threaded_opencv` first.
"""

from __future__ import annotations

import cv2
import torch

__all__ = ["init_loader_worker", "single_threaded_opencv"]


def init_loader_worker(worker_id: int) -> None:
    """A DataLoader ``worker_init_fn``: one intra-op thread for torch and OpenCV in the worker.

    The workers are the parallelism: more threads each would oversubscribe the cores, and a thread waiting for a core
    stalls every parallel operator of the worker.
    """
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def single_threaded_opencv() -> None:
    """Shrink this (parent) process's OpenCV thread pool to one thread before any data loader forks workers.

    A process that used OpenCV (e.g. an evaluation or the mean-pose baseline reading images without workers) holds a
    pool of idle OpenCV threads; a forked worker inherits the pool's condition variable but not its threads, and the
    worker's ``cv2.setNumThreads(1)`` (:func:`init_loader_worker`) then waits for them forever in
    ``pthread_cond_destroy`` (observed: ``eanet train`` hung with its worker at 0% CPU). Reconfiguring in the parent,
    where the threads exist, is safe, and the workers' call then changes nothing. Image decoding and warping are the
    workers' job anyway.
    """
    cv2.setNumThreads(1)
