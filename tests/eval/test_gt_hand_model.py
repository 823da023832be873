"""Which hand model rebuilds the ground truth (``eval.gt_hand_model``), and ``eanet eval`` on open-hand synthetic data
without MANO files.

Data made by ``eanet synth --hand-model open`` holds open-hand parameters; real InterHand2.6M/HIC is MANO. The choice
is explicit, recorded in the result, and contradicting the data's ``synthetic_manifest.json`` is an error.
"""

from __future__ import annotations

import json

import pytest
import torch

from eanet.cli import main
from eanet.errors import InvalidInputError


def _cfg(root, choice, dataset="interhand26m"):
    from eanet.config import load_config

    return load_config(None, [f"data.root={root}", f"eval.gt_hand_model={choice}", f"eval.dataset={dataset}"])


def _manifest(folder, kind):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "synthetic_manifest.json").write_text(json.dumps({"config": {"hand_model": kind}}))


@pytest.fixture
def no_mano(monkeypatch, tmp_path):
    """MANO files unavailable: loading them would raise."""
    monkeypatch.setenv("EANET_MANO_DIR", str(tmp_path / "no-mano-here"))


def test_open_hand_synthetic_data_uses_the_open_hand_without_mano(tmp_path, no_mano):
    from eanet.eval.runner import resolve_eval_data, resolve_gt_hand_model

    _manifest(tmp_path / "synth", "open")
    cfg = _cfg(tmp_path / "synth", "open")
    kind, (right, left) = resolve_gt_hand_model(cfg, resolve_eval_data(cfg))
    assert kind == "open"
    assert not right.is_mano and not left.is_mano and (right.side, left.side) == ("right", "left")


def test_open_hand_synthetic_data_scored_against_mano_is_an_error(tmp_path, no_mano):
    from eanet.eval.runner import resolve_eval_data, resolve_gt_hand_model

    _manifest(tmp_path / "synth", "open")
    cfg = _cfg(tmp_path / "synth", "mano")
    with pytest.raises(InvalidInputError, match="gt-hand-model open"):
        resolve_gt_hand_model(cfg, resolve_eval_data(cfg))


@pytest.mark.parametrize("manifest", [None, "mano"], ids=["real-data", "mano-synthetic"])
def test_open_hand_asked_for_on_mano_data_is_an_error(tmp_path, manifest):
    from eanet.eval.runner import resolve_eval_data, resolve_gt_hand_model

    root = tmp_path / "data"
    root.mkdir()
    if manifest:
        _manifest(root, manifest)
    cfg = _cfg(root, "open")
    with pytest.raises(InvalidInputError, match="gt_hand_model=mano"):
        resolve_gt_hand_model(cfg, resolve_eval_data(cfg))


def test_mano_stays_the_default_for_real_data(tmp_path, monkeypatch):
    from eanet.config import load_config
    from eanet.eval import runner

    assert load_config(None, []).eval.gt_hand_model == "mano"
    sentinel = (object(), object())
    monkeypatch.setattr(runner, "load_gt_hand_model_data", lambda hand_model_cfg: sentinel)
    cfg = _cfg(tmp_path, "mano")
    assert runner.resolve_gt_hand_model(cfg, runner.resolve_eval_data(cfg)) == ("mano", sentinel)


def test_hic_set_inside_a_synthetic_dataset_finds_its_manifest(tmp_path, no_mano):
    from eanet.eval.runner import resolve_eval_data, resolve_gt_hand_model

    _manifest(tmp_path / "synth", "open")  # `eanet synth --hic` writes OUT/HIC/HIC.json next to OUT's manifest
    (tmp_path / "synth" / "HIC").mkdir()
    cfg = _cfg(tmp_path / "synth" / "HIC", "open", dataset="hic")
    assert resolve_gt_hand_model(cfg, resolve_eval_data(cfg))[0] == "open"
    cfg = _cfg(tmp_path / "synth" / "HIC", "mano", dataset="hic")
    with pytest.raises(InvalidInputError, match="gt-hand-model open"):
        resolve_gt_hand_model(cfg, resolve_eval_data(cfg))


@pytest.fixture(scope="module")
def open_synthetic_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "data"
    args = ["synth", "--out", str(root), "--num-frames", "4", "--cameras", "1", "--splits", "test",
            "--image-size", "96x96", "--render-backend", "torch", "--no-progress", "--hand-model", "open"]  # fmt: skip
    assert main(args) == 0
    return root


@pytest.fixture
def open_hand_checkpoint(tmp_path, monkeypatch):
    """A tiny random EANet on the open hand, served by a patched checkpoint loader (the wiring is under test)."""
    from eanet.config import load_config
    from eanet.eval import runner
    from eanet.hand_model import build_hand_models
    from eanet.hand_model.config import HandModelConfig
    from eanet.model import build_model
    from eanet.model.config import ModelConfig

    tiny = dict(backbone="resnet18", backbone_weights=None, input_size=(64, 64), width=32, num_heads=2, sa_depth=1,
                ca_depth=1, sjt_depth=1, sjt_num_heads=2, heatmap_depth=4)  # fmt: skip
    torch.manual_seed(0)
    model = build_model(ModelConfig(**tiny), hand_models=build_hand_models(HandModelConfig(kind="open"))).eval()
    checkpoint = tmp_path / "tiny.safetensors"
    checkpoint.write_bytes(b"stand-in checkpoint bytes")
    overrides = [f"model.{k}={list(v) if isinstance(v, tuple) else v}" for k, v in tiny.items() if v is not None]

    def fake_load(path, cfg, device):
        return model, load_config(None, overrides)

    monkeypatch.setattr(runner, "_load_model_for_eval", fake_load)
    return checkpoint


def test_eval_command_on_open_hand_synthetic_data_needs_no_mano(
    open_synthetic_root, open_hand_checkpoint, tmp_path, no_mano, capsys
):
    out = tmp_path / "result.json"
    base = ["eval", "--checkpoint", str(open_hand_checkpoint), "--protocol", "intaghand", "--data-root",
            str(open_synthetic_root), "--out", str(out), "--batch-size", "4", "eval.num_workers=0",
            "eval.figure9_plot=false"]  # fmt: skip
    # The default (MANO ground truth) contradicts the data: a clear error (exit 2), no result written.
    assert main(base) == 2
    assert "--gt-hand-model open" in capsys.readouterr().err
    assert not out.exists()

    assert main([*base, "--gt-hand-model", "open"]) == 0
    printed = capsys.readouterr().out
    assert "gt_hand_model=open" in printed
    payload = json.loads(out.read_text())
    assert payload["gt_hand_model"] == "open" and payload["run"]["gt_hand_model"] == "open"
    assert payload["config"]["eval"]["gt_hand_model"] == "open"
    assert payload["num_samples"] > 0 and payload["metrics"]["mpjpe_mm"]["all"]["value_mm"] > 0
    assert payload["metrics"]["joints2d_err_px"]["all"]["value_px"] > 0  # heatmap grid taken from the checkpoint


def test_small_synthetic_config_scores_open_hand_data_without_the_flag(
    open_synthetic_root, open_hand_checkpoint, tmp_path, no_mano, capsys
):
    from eanet.config import load_config

    assert load_config("small-synthetic", []).eval.gt_hand_model == "open"
    out = tmp_path / "result.json"
    args = ["eval", "--config", "small-synthetic", "--checkpoint", str(open_hand_checkpoint), "--data-root",
            str(open_synthetic_root), "--out", str(out), "--batch-size", "4", "eval.num_workers=0"]  # fmt: skip
    assert main(args) == 0
    assert json.loads(out.read_text())["gt_hand_model"] == "open"


def test_corrupt_manifest_is_an_error_naming_the_file(tmp_path, no_mano):
    from eanet.eval.runner import resolve_eval_data, resolve_gt_hand_model

    root = tmp_path / "synth"
    root.mkdir()
    (root / "synthetic_manifest.json").write_text('{"config": {"hand_model": ')  # truncated write
    for choice in ("mano", "open"):
        cfg = _cfg(root, choice)
        with pytest.raises(InvalidInputError, match="synthetic_manifest.json"):
            resolve_gt_hand_model(cfg, resolve_eval_data(cfg))
