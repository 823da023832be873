"""Fault matrix, checkpoints: damaged metadata of released model files and of training runs (docs/fault-matrix.md).

A model checkpoint whose recorded configuration is missing, not JSON or not a valid configuration, and a training
run whose best.json or checkpoint is damaged, must stop with exit code 2 and a message naming the file and what is
wrong with it (not a ``KeyError`` / ``JSONDecodeError`` traceback), and must leave every file as it was.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import save_file

from eanet.cli import main
from eanet.config import Config, config_to_dict
from eanet.model.checkpoint import FORMAT, FORMAT_VERSION

from .tiny_training import TINY_OVERRIDES, patch_build_trainer


def _model_file(path, config_text: str | None):
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, "hand_model_kind": "open"}
    if config_text is not None:
        metadata["config"] = config_text
    save_file({"w": torch.zeros(2)}, str(path), metadata=metadata)
    return path.read_bytes()


def _config_with(**train_changes) -> str:
    data = config_to_dict(Config())
    data["train"].update(train_changes)
    return json.dumps(data)


@pytest.mark.parametrize(
    "config_text, problem",
    [
        ('{"model": {"width": 512', "the recorded configuration is not valid JSON"),
        (None, "records no configuration (metadata key 'config' is missing)"),
        ('["model"]', "the recorded configuration is a JSON list, not a mapping"),
        ('{"modle": {}}', "unknown configuration key(s) modle"),
        (_config_with(lr=math.nan), "train.lr: nan is not a finite number"),
    ],
    ids=["bad-json", "no-config", "not-a-mapping", "unknown-key", "nan-lr"],
)
def test_damaged_model_checkpoint_metadata_names_the_file(tmp_path, capsys, config_text, problem):
    path = tmp_path / "model.safetensors"
    before = _model_file(path, config_text)
    code = main(["eval", "--checkpoint", str(path), f"output_dir={tmp_path / 'out'}"])
    err = capsys.readouterr().err
    assert code == 2
    assert str(path) in err and problem in err
    assert "Traceback" not in err and "KeyError" not in err and "JSONDecodeError" not in err
    assert path.read_bytes() == before
    assert not (tmp_path / "out").exists()


def _tiny_run(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    patch_build_trainer(monkeypatch)
    assert main(["train", f"output_dir={run}", *TINY_OVERRIDES, "train.max_steps=3"]) == 0
    capsys.readouterr()
    return run


def _files(directory):
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    "content, problem",
    [("{not json", "it is not valid JSON"), ('{"metric": "mpjpe_all"}', "it lacks the numeric 'value'")],
    ids=["bad-json", "no-value"],
)
def test_damaged_best_json_stops_the_resume_before_training(tmp_path, monkeypatch, capsys, content, problem):
    run = _tiny_run(tmp_path, monkeypatch, capsys)
    best = run / "checkpoints" / "best.json"
    best.write_text(content)
    before = _files(run / "checkpoints")
    code = main(["train", f"output_dir={run}", *TINY_OVERRIDES, "train.resume=auto"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{best} is damaged: {problem}" in err and "delete it" in err
    assert "Traceback" not in err
    assert _files(run / "checkpoints") == before  # no step trained, nothing saved or pruned


@pytest.mark.parametrize("entry", ["model", "position"])
def test_incomplete_training_checkpoint_names_the_missing_entry(tmp_path, monkeypatch, capsys, entry):
    run = _tiny_run(tmp_path, monkeypatch, capsys)
    newest = run / "checkpoints" / "step_00000003.pt"
    state = torch.load(newest, weights_only=True)
    del state[entry]
    torch.save(state, newest)
    before = _files(run / "checkpoints")
    code = main(["train", f"output_dir={run}", *TINY_OVERRIDES, "train.resume=auto"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{newest} is an incomplete training checkpoint" in err and entry in err
    assert "Traceback" not in err and "KeyError" not in err
    assert _files(run / "checkpoints") == before
