import json

import numpy as np
import pytest
from analysis_helpers import TINY_OVERRIDES
from PIL import Image

from eanet.cli import main

N, C, BLOCKS, HEADS = 6, 16, 2, 2  # 3x2 grid of the tiny model


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "two hands.png"
    Image.fromarray(rng.integers(0, 255, (90, 70, 3), dtype=np.uint8)).save(path)
    return path


def _overrides():
    return list(TINY_OVERRIDES)


def test_random_weights_write_every_file_and_warn(photo, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["analyze", "--config", "eanet", *_overrides(), "--images", str(photo), str(tmp_path / "missing.png"),
                 "--cropped", "--out", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1  # the missing image failed, the other was still analysed
    assert "untrained" in err and "not meaningful" in err
    assert "missing.png" in err
    folder = out / "two_hands"
    for name in ("panel.png", "attention.png", "attention_heads.png", "tsne.png"):
        with Image.open(folder / name) as im:
            assert im.format == "PNG" and im.width > 300 and im.height > 200
    arrays = np.load(folder / "tokens.npz")
    assert arrays["features_right"].shape == arrays["features_left"].shape == (N, C)
    assert arrays["sim_token"].shape == (2 * N + 1, C) and arrays["join_token"].shape == (N, C)
    assert arrays["attention"].shape == (BLOCKS, HEADS, N, 2 * N + 1)
    np.testing.assert_allclose(arrays["attention"].sum(-1), 1.0, atol=1e-5)
    assert arrays["tsne_hand_features"].shape == (2 * N, 2)
    assert arrays["tsne_fused_tokens"].shape == (3 * N + 1, 2)
    np.testing.assert_allclose(arrays["share_right"] + arrays["share_left"] + arrays["share_cls"], 1.0, atol=1e-5)

    doc = json.loads((folder / "analysis.json").read_text())
    assert doc["model"]["trained"] is False and "NOT meaningful" in doc["model"]["description"]
    assert doc["grid_hw"] == [3, 2]
    assert [(k["label"], k["start"], k["stop"]) for k in doc["attention"]["keys"]] == [
        ("cls", 0, 1), ("right", 1, 1 + N), ("left", 1 + N, 1 + 2 * N)]  # fmt: skip
    assert "F_R" in doc["attention"]["keys"][1]["source"] and "F_L" in doc["attention"]["keys"][2]["source"]
    share = doc["attention"]["share"]
    assert len(share["per_block"]) == BLOCKS and len(share["per_block_head"][0]) == HEADS
    assert sum(share["mean"].values()) == pytest.approx(1.0, abs=1e-5)
    assert share["mean"]["right"] == pytest.approx(float(arrays["share_right"].mean()), abs=1e-6)
    sets = doc["tsne"]["sets"]
    assert sets["hand_features"]["group_sizes"] == [N, N]
    assert sets["fused_tokens"]["groups"] == ["sim_cls", "sim_right", "sim_left", "join"]
    assert sets["fused_tokens"]["perplexity"] < 3 * N + 1
    assert doc["tsne"]["seed"] == 0

    summary = json.loads((out / "summary.json").read_text())
    assert [i["error"] is None for i in summary["images"]] == [True, False]

    # Deterministic: a second run gives the same numbers.
    out2 = tmp_path / "out2"
    assert main(["analyze", "--config", "eanet", *_overrides(), "--images", str(photo), "--cropped",
                 "--out", str(out2), "--no-heads"]) == 0  # fmt: skip
    again = np.load(out2 / "two_hands" / "tokens.npz")
    for key in ("attention", "tsne_hand_features", "tsne_fused_tokens"):
        np.testing.assert_array_equal(again[key], arrays[key])
    assert not (out2 / "two_hands" / "attention_heads.png").exists()


def test_checkpoint_with_box(photo, tmp_path, capsys):
    import torch

    from eanet.config import load_config
    from eanet.model import build_model
    from eanet.run_checkpoint import save_checkpoint

    cfg = load_config("eanet", TINY_OVERRIDES)
    torch.manual_seed(0)
    ckpt = tmp_path / "tiny.safetensors"
    save_checkpoint(build_model(cfg.model, cfg.hand_model), cfg, ckpt, extra_metadata={"global_step": "7"})
    out = tmp_path / "out"
    code = main(["analyze", "--checkpoint", str(ckpt), "--images", str(photo), "--bbox", "5,5,50,60",
                 "--out", str(out), "--device", "cpu"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0
    assert "untrained" not in err
    doc = json.loads((out / "two_hands" / "analysis.json").read_text())
    assert doc["model"]["global_step"] == 7 and doc["model"]["trained"] is True
    assert "trained 7 steps" in doc["model"]["description"]


def test_bad_arguments_are_clear_errors(photo, tmp_path, capsys):
    assert main(["analyze", "--checkpoint", str(tmp_path / "nope.safetensors"), "--images", str(photo),
                 "--cropped", "--out", str(tmp_path / "o")]) == 2  # fmt: skip
    assert "does not exist" in capsys.readouterr().err
    assert main(["analyze", "--config", "eanet", "--images", str(tmp_path / "none.png"), "--cropped",
                 "--out", str(tmp_path / "o")]) == 2  # fmt: skip
    assert "no images to analyse" in capsys.readouterr().err
    assert main(["analyze", "--config", "eanet", *_overrides(), "model.interaction=ca_transformer",
                 "--images", str(photo), "--cropped", "--out", str(tmp_path / "o")]) == 2  # fmt: skip
    assert "no extract-stage FuseFormer" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["analyze", "--config", "eanet", "--checkpoint", "x", "--images", str(photo), "--out", "o"])


def test_provenance_names_synthetic_training_data_and_official_weights(tmp_path):
    import dataclasses

    import torch

    from eanet.analysis.runner import checkpoint_provenance
    from eanet.config import load_config
    from eanet.model import build_model
    from eanet.run_checkpoint import save_checkpoint

    data = tmp_path / "synth"
    data.mkdir()
    (data / "synthetic_manifest.json").write_text("{}")
    cfg = load_config("eanet", TINY_OVERRIDES)
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, root=str(data)))
    torch.manual_seed(0)
    model = build_model(cfg.model, cfg.hand_model)
    save_checkpoint(model, cfg, tmp_path / "a.safetensors", extra_metadata={"global_step": "80"})
    info = checkpoint_provenance(tmp_path / "a.safetensors")
    assert info["trained"] is True and info["global_step"] == 80
    assert "synthetic" in info["description"] and str(data) in info["train_data"]
    save_checkpoint(model, cfg, tmp_path / "b.safetensors")
    assert checkpoint_provenance(tmp_path / "b.safetensors")["trained"] is None
    save_checkpoint(model, cfg, tmp_path / "c.safetensors", extra_metadata={"source": "official:snapshot_29.pth.tar"})
    assert checkpoint_provenance(tmp_path / "c.safetensors")["weights"] == "official"
    assert checkpoint_provenance(tmp_path / "snapshot_29.pth.tar")["trained"] is True
