"""The one check of ``hand_model.kind`` and ``eval.gt_hand_model`` against the data, used by training and evaluation."""

import json
import logging

import pytest

from eanet.config import load_config
from eanet.errors import InvalidInputError
from eanet.hand_model.consistency import check_hand_models, data_hand_model


def _synthetic(root, kind):
    root.mkdir(parents=True, exist_ok=True)
    (root / "synthetic_manifest.json").write_text(json.dumps({"config": {"hand_model": kind}}))
    return root


def test_the_data_says_which_hand_model_its_ground_truth_holds(tmp_path):
    assert data_hand_model(_synthetic(tmp_path / "open", "open")) == ("open", True)
    assert data_hand_model(_synthetic(tmp_path / "mano", "mano")) == ("mano", True)
    assert data_hand_model(tmp_path / "real") == ("mano", False)  # real InterHand2.6M/HIC: MANO
    hic = tmp_path / "open" / "HIC"
    hic.mkdir()
    assert data_hand_model(hic, "hic") == ("open", True)  # `eanet synth --hic`: the manifest one folder up


def test_training_the_open_hand_on_mano_parameters_is_an_error(tmp_path):
    for root in (tmp_path / "real", _synthetic(tmp_path / "mano", "mano")):
        with pytest.raises(InvalidInputError, match=r"hand_model\.kind=open, but .* set hand_model\.kind=mano"):
            check_hand_models(data_root=root, model_kind="open", training=True)
    assert check_hand_models(data_root=tmp_path / "real", model_kind="mano", training=True) == "mano"


def test_training_mano_on_open_hand_data_is_an_error(tmp_path):
    root = _synthetic(tmp_path / "open", "open")
    with pytest.raises(InvalidInputError, match=r"hand_model\.kind=mano, but .*--hand-model open.*hand_model\.kind=open"):
        check_hand_models(data_root=root, model_kind="mano", training=True)
    assert check_hand_models(data_root=root, model_kind="open", gt_hand_model="open", training=True) == "open"


def test_ground_truth_hand_model_must_be_the_data_s(tmp_path):
    with pytest.raises(InvalidInputError, match="--gt-hand-model open"):
        check_hand_models(data_root=_synthetic(tmp_path / "open", "open"), gt_hand_model="mano")
    with pytest.raises(InvalidInputError, match=r"eval\.gt_hand_model=open, but .* eval\.gt_hand_model=mano"):
        check_hand_models(data_root=tmp_path / "real", gt_hand_model="open")


def test_evaluating_a_model_of_another_hand_model_is_allowed_and_logged(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="eanet.hand_model.consistency"):
        assert check_hand_models(data_root=tmp_path / "real", gt_hand_model="mano", model_kind="open") == "mano"
    assert "not comparable" in caplog.text


def test_training_setup_checks_the_model_and_the_ground_truth(tmp_path):
    from eanet.train.build import check_hand_models_for_training

    root = _synthetic(tmp_path / "open", "open")
    cfg = load_config("small-synthetic", [f"data.root={root}"])  # open hand, eval.gt_hand_model=open
    check_hand_models_for_training(cfg)
    bad_gt = load_config("small-synthetic", [f"data.root={root}", "eval.gt_hand_model=mano"])
    with pytest.raises(InvalidInputError, match="--gt-hand-model open"):
        check_hand_models_for_training(bad_gt)
    # No held-out evaluation in the run: eval.gt_hand_model is not used, so not checked.
    check_hand_models_for_training(load_config("small-synthetic", [
        f"data.root={root}", "eval.gt_hand_model=mano", "train.eval_every_epochs=0", "train.eval_before_training=false",
    ]))  # fmt: skip
    with pytest.raises(InvalidInputError, match=r"set hand_model\.kind=mano"):
        check_hand_models_for_training(load_config("small-synthetic", [f"data.root={tmp_path / 'real'}"]))
