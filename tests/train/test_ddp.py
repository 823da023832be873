"""Two CPU processes under torchrun (gloo) take the same step as one process on the combined batch."""

import os
import subprocess
import sys
from pathlib import Path

import ddp_worker
import pytest
import torch

HERE = Path(__file__).resolve().parent


def test_two_process_step_equals_one_process_on_the_combined_batch(tmp_path):
    single, double = tmp_path / "single", tmp_path / "double"
    single.mkdir()
    double.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR")}
    env["OMP_NUM_THREADS"] = "1"
    worker = str(HERE / "ddp_worker.py")
    # One process (this one), batch 8 ...
    ddp_worker.run(single, 8)
    # ... and two processes, batch 4 each.
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    result = subprocess.run(
        [*launch, worker, str(double), "4"], env=env, cwd=HERE, timeout=180, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for optimizer in ("adam", "sgd"):
        one = torch.load(single / f"{optimizer}.pt", weights_only=True)
        two = torch.load(double / f"{optimizer}.pt", weights_only=True)
        assert (one["world_size"], two["world_size"]) == (1, 2)
        for name, p in one["params"].items():
            # Gradients are averaged over processes (not summed): Adam alone would hide a factor of 2.
            torch.testing.assert_close(two["grads"][name], one["grads"][name], rtol=1e-5, atol=1e-7)
            assert (two["params"][name] - p).abs().max().item() <= 1e-6, (optimizer, name)
        # both started from the same weights, and the step moved them
        moved = max((one["params"][k] - v).abs().max().item() for k, v in one["init"].items())
        assert moved > 1e-3
        for name, p in one["init"].items():
            assert torch.equal(two["init"][name], p)


@pytest.mark.parametrize("world_size", [2, 3])
def test_sampler_split_matches_the_single_process_batches(world_size):
    from eanet.train.sampler import ResumableSampler

    single = [i for _, i in ResumableSampler(30, 1, 0, seed=3)]
    per_rank = [[i for _, i in ResumableSampler(30, world_size, r, seed=3)] for r in range(world_size)]
    b = 2
    for step in range(len(per_rank[0]) // b):
        together = sorted(i for r in range(world_size) for i in per_rank[r][step * b : (step + 1) * b])
        assert together == sorted(single[step * b * world_size : (step + 1) * b * world_size])
