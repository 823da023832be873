"""Fault matrix, training: a poisoned model, a full disk and an unusable run directory (docs/fault-matrix.md).

Each case runs ``eanet train`` through :func:`eanet.cli.main` (exit code and message) on the tiny trainer of
:mod:`faults.tiny_training`, then checks what is on disk: the good checkpoints are all still there and complete.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from eanet.cli import main
from eanet.train.checkpoint import CheckpointManager, load_training_checkpoint

from .tiny_training import TINY_OVERRIDES, overflow_from_step, patch_build_trainer

TESTS_DIR = Path(__file__).resolve().parents[1]


def _finite_checkpoint(path: Path) -> dict:
    state = load_training_checkpoint(path)
    for name, tensor in state["model"].items():
        if tensor.is_floating_point():
            assert torch.isfinite(tensor).all(), f"{path.name}: {name} is not finite"
    return state


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


# ---- 2: non-finite model: never saved, never pruned; the message names the last finite checkpoint


def test_poisoned_batchnorm_is_never_saved_and_the_message_names_the_last_finite_checkpoint(
    tmp_path, monkeypatch, capsys
):
    run = tmp_path / "run"
    # Steps 1-3 are fine; from step 4 on the images overflow BatchNorm's running variance to inf while the loss stays
    # finite (so the run of non-finite *steps* never starts: only the model check can stop it).
    patch_build_trainer(monkeypatch, overflow_from_step(4))
    code = main(["train", f"output_dir={run}", *TINY_OVERRIDES])
    err = capsys.readouterr().err

    assert code == 2
    assert "norm.running_var" in err and "NaN or infinite" in err
    last_good = run / "checkpoints" / "step_00000003.pt"
    assert f"train.resume={last_good}" in err
    assert "Traceback" not in err
    manager = CheckpointManager(run / "checkpoints")
    # keep_last=2: exactly the two newest finite checkpoints; nothing of step 4 or later was written.
    assert [step for step, _ in manager.step_files()] == [2, 3]
    assert manager.latest() == last_good
    for _, path in manager.step_files():
        _finite_checkpoint(path)
    assert not list((run / "checkpoints").glob(".*.tmp"))


def test_resuming_from_a_poisoned_checkpoint_is_refused_and_names_the_others(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    patch_build_trainer(monkeypatch)
    assert main(["train", f"output_dir={run}", *TINY_OVERRIDES, "train.max_steps=3"]) == 0
    capsys.readouterr()
    # A poisoned file as older versions wrote them: inf BatchNorm statistics in the newest checkpoint.
    newest = run / "checkpoints" / "step_00000003.pt"
    state = torch.load(newest, weights_only=True)
    state["model"]["norm.running_var"] = torch.full_like(state["model"]["norm.running_var"], float("inf"))
    torch.save(state, newest)
    before = _snapshot(run / "checkpoints")

    code = main(["train", f"output_dir={run}", *TINY_OVERRIDES, "train.resume=auto"])
    err = capsys.readouterr().err
    assert code == 2
    assert str(newest) in err and "norm.running_var" in err and "step_00000002.pt" in err
    assert _snapshot(run / "checkpoints") == before  # nothing written, nothing pruned


# ---- 6: a full disk during training


def _full_disk_save(fail_from_call: int):
    """``torch.save`` that behaves like a full disk from its ``fail_from_call``-th call on: a few bytes go out,
    then the write fails with ENOSPC."""
    real_save = torch.save
    calls = [0]

    def save(obj, f, *args, **kwargs):
        calls[0] += 1
        if calls[0] >= fail_from_call:
            f.write(b"PK\x03\x04 partial")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(obj, f, *args, **kwargs)

    return save


def test_disk_full_during_a_checkpoint_says_so_and_keeps_every_good_checkpoint(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    patch_build_trainer(monkeypatch)
    monkeypatch.setattr(torch, "save", _full_disk_save(fail_from_call=4))
    code = main(["train", f"output_dir={run}", *TINY_OVERRIDES])
    err = capsys.readouterr().err

    assert code == 2
    assert "the disk is full" in err and str(run / "checkpoints" / "step_00000004.pt") in err
    assert f"newest complete one is still {run / 'checkpoints' / 'step_00000003.pt'}" in err
    assert "train.resume=auto" in err and "Traceback" not in err
    manager = CheckpointManager(run / "checkpoints")
    assert [step for step, _ in manager.step_files()] == [2, 3]  # nothing pruned for the failed save
    assert manager.latest() == run / "checkpoints" / "step_00000003.pt"
    for _, path in manager.step_files():
        assert load_training_checkpoint(path)["position"]["global_step"] in (2, 3)
    assert not list((run / "checkpoints").glob(".*.tmp"))  # the partial file is gone


def _unshare_available() -> bool:
    if sys.platform != "linux" or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /tmp"], capture_output=True, timeout=30
    )
    return probe.returncode == 0


needs_unshare = pytest.mark.skipif(
    not _unshare_available(), reason="needs unprivileged user and mount namespaces (unshare -rm) to mount a tmpfs"
)


@needs_unshare
def test_disk_full_on_a_real_small_tmpfs(tmp_path):
    mount = tmp_path / "small_disk"
    mount.mkdir()
    # 1.5 MiB: the configuration, the log and three or four checkpoints of the tiny model (~0.37 MB each, keep_last
    # 100) fit, the next one does not.
    script = (
        f"mount -t tmpfs -o size=1536k tmpfs {mount} && "
        f"{sys.executable} -m faults.tiny_training {mount / 'run'}; code=$?; "
        f"cp -r {mount / 'run'} {tmp_path / 'copy'}; exit $code"
    )
    result = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script], cwd=TESTS_DIR, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "the disk is full" in result.stderr and "No space left on device" in result.stderr
    assert "Traceback" not in result.stderr
    checkpoints = tmp_path / "copy" / "checkpoints"
    manager = CheckpointManager(checkpoints)
    steps = manager.step_files()
    assert len(steps) >= 2, "the tmpfs should hold a few checkpoints before it fills up"
    for _, path in steps:  # every file under its final name is complete
        load_training_checkpoint(path)
    latest = json.loads((checkpoints / "latest.json").read_text())
    assert latest["global_step"] == steps[-1][0] and f"step_{steps[-1][0]:08d}.pt" in result.stderr


# ---- 7: output_dir unusable: an error before the model and the data are built


@pytest.fixture
def no_model_build(monkeypatch):
    """Fail loudly if the model is built: the run directory must be checked first."""

    def refuse(*args, **kwargs):
        raise AssertionError("the model was built before output_dir was checked")

    monkeypatch.setattr("eanet.train.build.build_model", refuse)  # where build_trainer looks it up


def test_output_dir_that_is_a_file_is_an_error_before_the_model_is_built(tmp_path, no_model_build, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("my notes\n")
    code = main(["train", "--config", "small-synthetic", f"output_dir={target}", f"data.root={tmp_path / 'none'}"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"output_dir={target} is an existing file" in err and "Traceback" not in err
    assert target.read_text() == "my notes\n"


def test_output_dir_below_a_file_is_an_error(tmp_path, no_model_build, capsys):
    blocker = tmp_path / "runs"
    blocker.write_text("not a directory\n")
    code = main(["train", "--config", "small-synthetic", f"output_dir={blocker / 'a' / 'b'}"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{blocker} is a file" in err
    assert blocker.read_text() == "not a directory\n"


@needs_unshare
@pytest.mark.parametrize("existing", [False, True])
def test_output_dir_on_a_read_only_file_system(tmp_path, existing):
    mount = tmp_path / "ro"
    mount.mkdir()
    setup = f"mount -t tmpfs -o size=64k tmpfs {mount} && mkdir {mount / 'run'} && " if existing else ""
    remount = f"mount -o remount,ro {mount}" if existing else f"mount -t tmpfs -o ro,size=64k tmpfs {mount}"
    command = (
        f"{setup}{remount} && {sys.executable} -m eanet train --config small-synthetic "
        f"output_dir={mount / 'run'} data.root={tmp_path / 'none'}"
    )
    result = subprocess.run(["unshare", "-rm", "sh", "-c", command], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr[-3000:]
    expected = "is not writable" if existing else "cannot be created"
    assert f"output_dir={mount / 'run'} {expected}" in result.stderr and "Read-only file system" in result.stderr
    assert "Traceback" not in result.stderr
    # Nothing else ran: the data root (which does not exist) was never looked at.
    assert "InterHand2.6M" not in result.stderr
