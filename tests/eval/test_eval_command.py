"""``eanet eval`` end to end on a tiny InterHand2.6M-format release, plus the JSON file and the Figure 9 plot.

The model is a tiny EANet with random weights and a random hand model of MANO's shapes (no MANO files needed):
the test checks the wiring (data -> model -> evaluator -> JSON/plot/stdout), not accuracy.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from eanet.cli import main

TESTS = Path(__file__).resolve().parents[1]


def _write_release():
    spec = importlib.util.spec_from_file_location("eanet_tests_release_fixture", TESTS / "data" / "release_fixture.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module.write_release


TINY_MODEL = dict(backbone="resnet18", backbone_weights=None, input_size=(64, 64), width=32, num_heads=2, sa_depth=1,
                  ca_depth=1, sjt_depth=1, sjt_num_heads=2, heatmap_depth=4)  # fmt: skip
#: The same model as ``model.*`` overrides (the configuration the stand-in checkpoint records).
TINY_MODEL_OVERRIDES = [f"model.{k}={list(v) if isinstance(v, tuple) else v}" for k, v in TINY_MODEL.items()
                        if v is not None]  # fmt: skip


@pytest.fixture
def tiny_setup(tmp_path, monkeypatch, make_random_hand_data):
    from eanet.config import load_config
    from eanet.eval import runner
    from eanet.hand_model.layer import HandModelLayer
    from eanet.model import build_model
    from eanet.model.config import ModelConfig

    root = tmp_path / "ih26m"
    _write_release()(root, "test", seed=1, captures=(3,), cameras_per_capture=2)
    hand_data = (make_random_hand_data("right", seed=3), make_random_hand_data("left", seed=3))
    model_cfg = ModelConfig(**TINY_MODEL)
    torch.manual_seed(0)
    model = build_model(model_cfg, hand_models=tuple(HandModelLayer(d) for d in hand_data)).eval()
    checkpoint = tmp_path / "tiny.safetensors"
    checkpoint.write_bytes(b"stand-in checkpoint bytes")  # hashed and recorded; the model comes from the patch

    def fake_load(path, cfg, device):
        return model, load_config(None, TINY_MODEL_OVERRIDES)

    monkeypatch.setattr(runner, "_load_model_for_eval", fake_load)
    monkeypatch.setattr(runner, "load_gt_hand_model_data", lambda hand_model_cfg: hand_data)
    return root, checkpoint, model, hand_data


@pytest.mark.parametrize("protocol", ["official"])
def test_eval_command_writes_json_and_prints_signature(tiny_setup, tmp_path, capsys, protocol):
    from eanet.eval.protocols import get_protocol

    root, checkpoint, _, _ = tiny_setup
    out = tmp_path / "result.json"
    args = ["eval", "--checkpoint", str(checkpoint), "--protocol", protocol, "--data-root", str(root),
            "--out", str(out), "--batch-size", "3", "data.num_workers=0", "eval.crops=gt"]  # fmt: skip
    if protocol == "interwild":
        args += ["--subset", "HM"]  # the tiny release has no aid_human_annot_test.txt
    assert main(args) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == get_protocol(protocol).signature()
    assert any(line.startswith("MPJPE (mm):") for line in printed)

    payload = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert payload["format"] == "eanet-eval"
    assert payload["protocol"]["signature"] == get_protocol(protocol).signature()
    assert payload["protocol"]["name"] == protocol
    assert payload["dataset"] == "interhand26m" and payload["subset"] == "H+M"
    assert payload["checkpoint"]["sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert payload["config"]["eval"]["protocol"] == protocol
    assert payload["config"]["model"]["width"] == 32
    assert payload["num_samples"] == payload["sample_counts"]["all"] > 0
    assert payload["sample_counts"]["single"] + payload["sample_counts"]["interacting"] == payload["num_samples"]
    for metric in ("mpjpe_mm", "mpvpe_mm", "mrrpe_mm", "pa_mpjpe_mm"):
        for cat, value in payload["metrics"][metric].items():
            assert value["value_mm"] is None or value["value_mm"] >= 0, (metric, cat)
            assert value["value_mm"] is not None or value["reason"], (metric, cat)
    assert payload["metrics"]["mpjpe_mm"]["all"]["value_mm"] > 0
    assert payload["per_sequence"] and all("seq_id" in s for s in payload["per_sequence"])
    if protocol == "official":
        assert any("not computed by the official code" in n for n in payload["notes"])
    if payload["figure9"]:
        assert out.with_name("result-figure9.png").stat().st_size > 1000


def test_training_hook_returns_scalars_and_writes_epoch_json(tiny_setup, tmp_path):
    from eanet.config import load_config
    from eanet.eval.runner import make_train_evaluate_fn

    root, _, model, hand_data = tiny_setup
    cfg = load_config(None, [f"data.root={root}", *TINY_MODEL_OVERRIDES, "data.num_workers=0",
                             "eval.protocol=intaghand", "eval.crops=gt", "eval.batch_size=4",
                             f"output_dir={tmp_path / 'run'}"])  # fmt: skip
    evaluate = make_train_evaluate_fn(cfg, torch.device("cpu"), gt_hand_model_data=hand_data)
    metrics = evaluate(model, 0)
    assert metrics["mpjpe_all"] > 0 and "mpvpe_interacting" in metrics
    assert all(isinstance(v, float) for v in metrics.values())
    payload = json.loads((tmp_path / "run" / "eval" / "epoch-1.json").read_text())
    assert payload["protocol"]["name"] == "intaghand"
    assert payload["metrics"]["mpjpe_mm"]["all"]["value_mm"] == pytest.approx(metrics["mpjpe_all"])
    assert evaluate(model, 1)["mpjpe_all"] == pytest.approx(metrics["mpjpe_all"])  # reusable, reset between calls
