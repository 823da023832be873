"""Section ``data``: the training data pipeline alone, on synthetic release-size JPEGs (334 x 512).

Measures, with one thread per process as training workers run:

* one process: wall and CPU time per training sample (decode, crop, augmentation, targets) and of the batched
  hand-model targets (what a CPU worker adds; on GPUs they run on the device);
* a data loader with ``workers`` processes: samples per second;
* the projection: samples per second the pipeline can deliver on 16 cores (15 workers, one core for the main
  process), from the CPU time per sample.

The full-scale annotation benchmark (index build, memory of workers at 1.36 M annotations, the ``json.load``
comparison) is ``tools/bench_data.py`` (docs/data.md); this section measures what a training step waits for.
"""

from __future__ import annotations

import copy
import logging
import time
from typing import Any

import torch

from eanet.bench.context import BenchContext
from eanet.bench.training import _default_workers
from eanet.bench.workload import data_config, model_sizes
from eanet.data import build_dataset
from eanet.data.collate import Collator, ManoTargetBuilder
from eanet.data.workers import init_loader_worker

__all__ = ["run_data", "PROJECTED_CORES"]

logger = logging.getLogger(__name__)

#: Cores the loader throughput is projected to (a 16-core training node).
PROJECTED_CORES = 16


def run_data(ctx: BenchContext) -> dict[str, Any]:
    import cv2
    from torch.utils.data import DataLoader, RandomSampler

    opts = ctx.options
    dcfg = data_config(ctx.cfg, ctx.synthetic("data"))
    dataset = build_dataset(dcfg, "train", ctx.cfg.hand_model, **model_sizes(ctx.cfg))
    # CPU copies: what a CPU data-loader worker runs (the benchmark's model may sit on the GPU by now).
    hands = {side: copy.deepcopy(layer).to("cpu") for side, layer in ctx.model.hand_models.items()}
    builder = ManoTargetBuilder(hands["right"], hands["left"], **model_sizes(ctx.cfg), bbox_3d_size=dcfg.bbox_3d_size)
    B = 4 if ctx.quick else 32
    n = 2 * B if ctx.quick else 8 * B
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)  # stays 1: no OpenCV pool for forked loader workers to inherit (eanet.data.workers)
    try:
        g = torch.Generator().manual_seed(0)
        order = torch.randint(len(dataset), (n,), generator=g).tolist()
        for i in order[:4]:
            dataset[i]  # warm-up (file cache, lazy imports)
        t, c = time.perf_counter(), time.process_time()
        samples = [dataset[i] for i in order]
        sample_wall = (time.perf_counter() - t) / n
        sample_cpu = (time.process_time() - c) / n
        t, c = time.perf_counter(), time.process_time()
        for k in range(0, n, B):
            Collator(builder)([dict(s) for s in samples[k : k + B]])
        targets_cpu = (time.process_time() - c) / n
        targets_wall = (time.perf_counter() - t) / n
    finally:
        torch.set_num_threads(threads)

    workers = opts.data_workers if opts.data_workers is not None else _default_workers()
    if ctx.quick:
        workers = min(workers, 1)
    batches = 2 if ctx.quick else opts.data_batches
    loader = DataLoader(
        dataset, batch_size=B, sampler=RandomSampler(dataset, replacement=True, num_samples=(batches + 2) * B),
        num_workers=workers, collate_fn=Collator(None), drop_last=True,
        worker_init_fn=init_loader_worker if workers > 0 else None, persistent_workers=False,
    )  # fmt: skip
    it = iter(loader)
    next(it)
    next(it)
    t = time.perf_counter()
    count = sum(1 for _ in it)
    loader_rate = count * B / (time.perf_counter() - t)

    per_sample_gpu = sample_cpu  # GPU training: hand-model targets run on the device
    per_sample_cpu_training = sample_cpu + targets_cpu
    projected = (PROJECTED_CORES - 1) / per_sample_gpu
    result = {
        "images": f"synthetic JPEG {ctx.synthetic('data').name}",
        "input_size": list(ctx.cfg.model.input_size),
        "sample_wall_ms": sample_wall * 1e3,
        "sample_cpu_ms": sample_cpu * 1e3,
        "hand_model_targets_cpu_ms_per_sample": targets_cpu * 1e3,
        "hand_model_targets_wall_ms_per_sample": targets_wall * 1e3,
        "samples_per_cpu_second": 1.0 / per_sample_gpu,
        "samples_per_cpu_second_with_cpu_targets": 1.0 / per_sample_cpu_training,
        "loader_workers": workers,
        "loader_samples_per_s": loader_rate,
        "projected_cores": PROJECTED_CORES,
        "projected_samples_per_s": projected,
    }
    logger.info("data: %.2f ms CPU per sample, loader %.1f samples/s with %d workers, projected %.0f/s on %d cores",
                sample_cpu * 1e3, loader_rate, workers, projected, PROJECTED_CORES)  # fmt: skip
    return result
