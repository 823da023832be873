"""Our checkpoint format: safetensors weights + the resolved configuration; hand-model checks on loading."""

import dataclasses

import pytest
import torch
from model_helpers import tiny_config
from safetensors.torch import save_file
from test_eanet import _all_tensors, _perturb_

from eanet.config import Config
from eanet.errors import CheckpointMismatchError, InvalidInputError
from eanet.hand_model import HandModelLayer
from eanet.hand_model.config import HandModelConfig
from eanet.model import build_model
from eanet.model.checkpoint import hand_model_fingerprint, read_checkpoint
from eanet.run_checkpoint import load_checkpoint, save_checkpoint


@pytest.fixture
def saved(hand_layers, tmp_path):
    torch.manual_seed(0)
    cfg = Config(model=tiny_config(interaction="extract_only", sjt_depth=2), hand_model=HandModelConfig(kind="open"))
    model = _perturb_(build_model(cfg.model, hand_models=hand_layers)).eval()
    path = tmp_path / "model.safetensors"
    save_checkpoint(model, cfg, path, extra_metadata={"note": "test"})
    return model, cfg, path


def test_round_trip_rebuilds_the_model_from_the_file_alone(saved, hand_layers):
    model, cfg, path = saved
    loaded, loaded_cfg = load_checkpoint(path, hand_models=hand_layers)
    assert loaded_cfg == cfg
    assert not loaded.training
    assert loaded.interaction.adapt is None  # the architecture came from the stored configuration
    img = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        a, b = _all_tensors(model(img)), _all_tensors(loaded(img))
    assert all(torch.equal(a[k], b[k]) for k in a)
    state, _, metadata = read_checkpoint(path)
    assert metadata["note"] == "test" and metadata["hand_model_kind"] == "open"
    assert metadata["hand_model_fingerprint"] == hand_model_fingerprint(*hand_layers)
    assert not [k for k in state if "hand_model" in k]


def test_a_different_hand_model_is_refused(saved, make_random_hand_data):
    _, _, path = saved
    other = tuple(HandModelLayer(make_random_hand_data(side, seed=99)) for side in ("right", "left"))
    with pytest.raises(CheckpointMismatchError, match="trained with a different hand model: the 'open' hand model"):
        load_checkpoint(path, hand_models=other)
    with pytest.raises(CheckpointMismatchError, match="kind: trained with 'open', given 'mano'.*kind='open'"):
        load_checkpoint(path, hand_model_cfg=HandModelConfig(kind="mano"))
    with pytest.raises(CheckpointMismatchError, match="not MANO"):
        load_checkpoint(path, mano_dir="/somewhere")


def test_damaged_or_foreign_files_are_clear_errors(saved, tmp_path, hand_layers):
    _, _, path = saved
    state, cfg, metadata = read_checkpoint(path)
    del state["rotation_head.cam.left.bias"]
    damaged = tmp_path / "damaged.safetensors"
    save_file(state, str(damaged), metadata=metadata)
    with pytest.raises(CheckpointMismatchError, match=r"missing keys 1: rotation_head\.cam\.left\.bias"):
        load_checkpoint(damaged, hand_models=hand_layers)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(InvalidInputError, match="not an eanet checkpoint"):
        read_checkpoint(foreign)
    not_safetensors = tmp_path / "x.pth.tar"
    torch.save({"network": {}}, not_safetensors)
    with pytest.raises(InvalidInputError, match="convert-official"):
        read_checkpoint(not_safetensors)


def test_saving_with_a_configuration_of_another_architecture_is_refused(saved, tmp_path):
    model, cfg, _ = saved
    wrong = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, width=64))
    with pytest.raises(CheckpointMismatchError, match="do not match model_cfg"):
        save_checkpoint(model, wrong, tmp_path / "wrong.safetensors")


def test_to_official_refuses_other_architectures(saved, tmp_path):
    from eanet.cli import main

    _, _, path = saved
    assert main(["convert-official", str(path), "--out", str(tmp_path / "x.pth.tar"), "--to-official"]) == 2


def test_checkpoints_recording_the_removed_data_sizes_still_load(saved, tmp_path, hand_layers):
    import json

    _, cfg, path = saved
    state, _, metadata = read_checkpoint(path)
    recorded = json.loads(metadata["config"])
    assert cfg.model.input_size == (64, 64) and cfg.model.heatmap_shape == (4, 2, 2)  # the tiny model's

    def write(input_size, heatmap_shape):
        recorded["data"].update(input_size=input_size, heatmap_shape=heatmap_shape)  # as older versions recorded
        old = tmp_path / "old.safetensors"
        save_file(state, str(old), metadata={**metadata, "config": json.dumps(recorded)})
        return old

    _, loaded_cfg = load_checkpoint(write([64, 64], [4, 2, 2]), hand_models=hand_layers)
    assert loaded_cfg == cfg
    with pytest.raises(InvalidInputError, match=r"data\.heatmap_shape \[8, 2, 2\] disagrees with the model's \[4, 2, 2\]"):
        load_checkpoint(write([64, 64], [8, 2, 2]), hand_models=hand_layers)
