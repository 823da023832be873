"""A training process killed with SIGKILL at an arbitrary moment (often inside a checkpoint write) resumes to exactly
the parameters of an uninterrupted run, and never leaves a broken checkpoint behind."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tiny_run
import torch

from eanet.train.checkpoint import CheckpointManager, load_training_checkpoint

HERE = Path(__file__).resolve().parent


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_sigkill_then_resume_reproduces_the_uninterrupted_run(tmp_path):
    reference = tiny_run.make(tmp_path / "reference", 0.0)
    reference.fit()
    expected = {k: v.clone() for k, v in reference.model.state_dict().items()}

    run = tmp_path / "killed"
    # Same thread count as this process (CPU kernels may sum in another order with another count).
    env = dict(os.environ, OMP_NUM_THREADS=str(torch.get_num_threads()))
    proc = subprocess.Popen([sys.executable, str(HERE / "tiny_run.py"), str(run), "0.15"], cwd=HERE, env=env)
    pointer = run / "checkpoints" / "latest.json"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if pointer.is_file():
                try:
                    if json.loads(pointer.read_text())["global_step"] >= 5:
                        break
                except ValueError:
                    pytest.fail("latest.json was observed half-written")
            time.sleep(0.02)
        assert proc.poll() is None, "the run finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    manager = CheckpointManager(run / "checkpoints")
    steps = manager.step_files()
    assert steps and steps[-1][0] < 18  # it really was interrupted
    for _, path in steps:  # every checkpoint under its final name is complete
        load_training_checkpoint(path)
    latest = manager.latest()
    assert latest is not None and load_training_checkpoint(latest)["position"]["global_step"] == steps[-1][0]

    resumed = tiny_run.make(run, 0.0)
    assert resumed.position.global_step == steps[-1][0]
    resumed.fit()
    for k, v in resumed.model.state_dict().items():
        assert torch.equal(v, expected[k]), k
