"""Two real processes (gloo, CPU): the evaluator's default all-gather plus de-duplication equals one process."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from eval_builders import make_batch, make_prediction, onehot_regressors, random_gt_verts


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _shard(rank: int):
    gt = random_gt_verts(6, seed=11)
    noise = 0.004 * torch.randn(gt.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    # a DistributedSampler of 5 samples on 2 ranks pads rank 1 with sample 0 again
    idx = [[0, 2, 4], [1, 3, 0]][rank] if rank >= 0 else [0, 1, 2, 3, 4]
    batch = make_batch(gt, [0, 1, 2, 2, 2, 2], annot_id=[50, 51, 52, 53, 54, 55])
    return make_prediction((gt + noise)[idx]), {k: v[idx] for k, v in batch.items()}


def _worker(rank: int, port: int, out_dir: str) -> None:
    import torch.distributed as dist

    from eanet.eval.evaluator import Evaluator

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        ev = Evaluator("official", onehot_regressors())
        ev.update(*_shard(rank))
        result = ev.compute()
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps(result.to_dict()))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # two spawned interpreters import torch: ~10 s of CPU, longer on a loaded machine
@pytest.mark.timeout(300)
def test_two_process_gather_matches_single_process(tmp_path):
    from eanet.eval.evaluator import Evaluator

    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=2, join=True)
    single = Evaluator("official", onehot_regressors())
    single.update(*_shard(-1))
    expected = single.compute().to_dict()
    for rank in (0, 1):
        got = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert got["num_samples"] == 5 and got["num_duplicates_dropped"] == 1
        assert got["metrics"] == expected["metrics"]
