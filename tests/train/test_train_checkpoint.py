"""Atomic writes, retention, the best checkpoint and strict loading."""

import json

import pytest
import torch

from eanet.errors import CheckpointMismatchError, InvalidInputError, MissingFileError
from eanet.train.checkpoint import (
    CHECKPOINT_FORMAT,
    CheckpointManager,
    atomic_write,
    load_model_state,
    load_training_checkpoint,
)


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    path = tmp_path / "latest.pt"
    atomic_write(path, lambda f: f.write(b"old complete file"))

    def dies_halfway(f):
        f.write(b"new but trunc")
        raise KeyboardInterrupt  # stands in for a kill between the first byte and the rename

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, dies_halfway)
    assert path.read_bytes() == b"old complete file"
    assert [p.name for p in tmp_path.iterdir()] == ["latest.pt"]


def state(step):
    return {
        "format": CHECKPOINT_FORMAT,
        "position": {"epoch": 0, "batches_done": step, "global_step": step},
        "model": {"w": torch.full((2,), step)},
        "optimizer": {},
        "scheduler": {},
        "scaler": {},
    }


def test_keep_last_latest_pointer_and_best(tmp_path):
    manager = CheckpointManager(tmp_path, keep_last=2, best_mode="min")
    paths = [manager.save(state(s), s) for s in (10, 20, 30)]
    assert [s for s, _ in manager.step_files()] == [20, 30]
    assert manager.latest() == paths[2]
    assert json.loads((tmp_path / "latest.json").read_text())["global_step"] == 30
    assert manager.update_best(paths[1], "mpjpe_all", 5.0, {"epoch": 2})
    assert not manager.update_best(paths[2], "mpjpe_all", 6.0, {"epoch": 3})  # worse
    manager.save(state(40), 40)
    manager.save(state(50), 50)  # prunes step 20, which best.pt still holds
    assert not (tmp_path / "step_00000020.pt").exists()
    best = load_training_checkpoint(tmp_path / "best.pt")
    assert best["model"]["w"].tolist() == [20, 20]
    assert manager.best() == {"metric": "mpjpe_all", "value": 5.0, "file": "step_00000020.pt", "epoch": 2}
    # a broken pointer falls back to the newest step file
    (tmp_path / "latest.json").write_text("{not json")
    assert manager.latest() == tmp_path / "step_00000050.pt"


def test_loading_errors_are_clear(tmp_path):
    with pytest.raises(MissingFileError, match="does not exist"):
        load_training_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"\x00garbage")
    with pytest.raises(InvalidInputError, match="not a readable training checkpoint"):
        load_training_checkpoint(tmp_path / "junk.pt")
    torch.save({"network": {}}, tmp_path / "official.pth.tar")
    with pytest.raises(InvalidInputError, match="not an eanet training checkpoint"):
        load_training_checkpoint(tmp_path / "official.pth.tar")


def test_model_state_mismatch_lists_keys():
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    sd = model.state_dict()
    sd["9.extra"] = torch.zeros(1)
    del sd["1.bias"]
    sd["0.weight"] = torch.zeros(4, 2)
    with pytest.raises(CheckpointMismatchError) as err:
        load_model_state(model, sd, source="ckpt.pt")
    msg = str(err.value)
    assert "missing keys 1: 1.bias" in msg and "unexpected keys 1: 9.extra" in msg
    assert "wrong shapes 1: 0.weight (4, 2) (expected (3, 2))" in msg
