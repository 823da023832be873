"""What a checkpoint was trained on: the record's round trip through our files, how a data root is judged synthetic,
the official release, and damaged records."""

import json

import pytest
import torch
from model_helpers import tiny_config

from eanet.config import Config
from eanet.data.config import DataConfig
from eanet.data.synthetic_manifest import MANIFEST_NAME
from eanet.errors import InvalidInputError
from eanet.hand_model.config import HandModelConfig
from eanet.model import build_model
from eanet.model.checkpoint import read_checkpoint, read_training_data
from eanet.model.official import read_official_checkpoint, write_official_checkpoint
from eanet.model.provenance import (
    TrainingData,
    official_training_data,
    training_data_for_run,
)
from eanet.run_checkpoint import save_checkpoint


@pytest.fixture
def tiny(hand_layers):
    torch.manual_seed(0)
    cfg = Config(model=tiny_config(), hand_model=HandModelConfig(kind="open"))
    return build_model(cfg.model, hand_models=hand_layers).eval(), cfg


def _synthetic_root(path):
    path.mkdir(parents=True)
    (path / MANIFEST_NAME).write_text(json.dumps({"config": {"hand_model": "open"}}))
    return path


def test_record_round_trips_through_save_model(tiny, tmp_path):
    model, cfg = tiny
    root = _synthetic_root(tmp_path / "synth")
    record = training_data_for_run(DataConfig(root=str(root)), global_step=7)
    assert record == TrainingData("interhand26m", str(root.resolve()), True, 7, "eanet train")
    path = tmp_path / "model.safetensors"
    save_checkpoint(model, cfg, path, training_data=record)
    assert read_training_data(path) == record
    _, _, metadata = read_checkpoint(path)
    assert json.loads(metadata["training_data"])["synthetic"] is True
    # a file saved without a record: unknown (None), never assumed real
    bare = tmp_path / "bare.safetensors"
    save_checkpoint(model, cfg, bare)
    assert read_training_data(bare) is None


def test_a_root_is_synthetic_only_with_the_manifest(tmp_path):
    real = tmp_path / "InterHand2.6M"
    real.mkdir()
    assert training_data_for_run(DataConfig(root=str(real)), 3).synthetic is False
    synth = _synthetic_root(tmp_path / "synth")
    assert training_data_for_run(DataConfig(root=str(synth)), 3).synthetic is True
    # eanet synth writes its HIC-format set in OUT/HIC, below the manifest
    (synth / "HIC").mkdir()
    hic = training_data_for_run(DataConfig(dataset="hic", root=str(synth / "HIC")), 3)
    assert hic.synthetic is True and hic.dataset == "hic"
    assert training_data_for_run(DataConfig(root=str(synth / "HIC")), 3).synthetic is False  # only HIC looks up


def test_official_release_is_interhand_and_our_exports_keep_their_record(tmp_path):
    release = official_training_data({"epoch": 29}, "snapshot_29.pth.tar")
    assert release is not None and release.dataset == "interhand26m" and release.synthetic is False
    assert "InterHand2.6M (real photos)" in release.describe()
    # Weights of ours written in the official format (a few official keys stand for the whole network): read back,
    # synthetic ones stay synthetic and unrecorded ones stay unknown, never taken for the release.
    state = {"rotation_head.cam.right.bias": torch.zeros(3)}
    ours = TrainingData("interhand26m", "/data/synth", True, 300, "eanet train")
    for record, expected in ((ours.to_json(), ours), (None, None)):
        path = tmp_path / "snapshot.pth.tar"
        write_official_checkpoint(state, path, epoch=3, training_data=record)
        _, meta = read_official_checkpoint(path)
        assert official_training_data(meta, str(path)) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a mapping"),
        ('{"dataset": "interhand26m", "root": "", "synthetic": "yes", "global_step": 3, "origin": "x"}', "synthetic"),
        ('{"dataset": "interhand26m", "root": "", "synthetic": true, "global_step": -1, "origin": "x"}', "global_step"),
    ],
)
def test_a_damaged_record_is_an_error_naming_the_file(tiny, tmp_path, text, expected):
    model, cfg = tiny
    path = tmp_path / "edited.safetensors"
    save_checkpoint(model, cfg, path, extra_metadata={"training_data": text})
    with pytest.raises(InvalidInputError, match=rf"edited\.safetensors.*{expected}.*damaged or edited"):
        read_training_data(path)
