"""build_hand_model(s) / load_hand_model_data: config translation, both kinds, errors, cheap package import."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from eanet.errors import InvalidInputError, MissingFileError, UserError
from eanet.hand_model import HandModelLayer, build_hand_model, build_hand_models, load_hand_model_data
from eanet.hand_model.config import HandModelConfig


def test_build_mano_pair_from_config(mano_like_dir):
    cfg = HandModelConfig(kind="mano", mano_dir=str(mano_like_dir), flat_hand_mean=True, mano_cache=False)
    right, left = build_hand_models(cfg)
    assert isinstance(right, HandModelLayer) and isinstance(left, HandModelLayer)
    assert (right.side, left.side) == ("right", "left")
    assert right.name == "MANO" and right.is_mano and right.flat_hand_mean
    single = build_hand_model(cfg, "left")
    torch.testing.assert_close(single.shapedirs, left.shapedirs)  # same fix whichever way the left hand is built


def test_config_fingertips(mano_like_dir):
    cfg = HandModelConfig(kind="mano", mano_dir=str(mano_like_dir), fingertip_vertices=(1, 2, 3, 4, 5))
    layer = build_hand_model(cfg, "right")
    assert layer.tip_vertices == (1, 2, 3, 4, 5)
    assert layer.tip_vertices_eval == (745, 317, 444, 556, 673)


def test_missing_mano_dir_from_config_names_the_key(tmp_path):
    cfg = HandModelConfig(kind="mano", mano_dir=str(tmp_path / "absent"))
    with pytest.raises(MissingFileError, match=r"hand_model\.mano_dir"):
        build_hand_models(cfg)


def test_open_hand_or_clear_error():
    try:
        right, left = build_hand_models(HandModelConfig(kind="open"))
    except UserError as err:  # until eanet.hand_model.open_hand lands
        assert "open hand model is not available" in str(err)
        return
    assert not right.is_mano and "MANO" not in right.name.replace("not MANO", "")
    assert (right.side, left.side) == ("right", "left")
    out = right(torch.zeros(2, 3), torch.zeros(2, 45), torch.zeros(2, 10))
    assert out.joints.shape == (2, 21, 3) and torch.isfinite(out.verts).all()


def test_unknown_kind_and_side():
    with pytest.raises(InvalidInputError, match="kind must be one of"):
        load_hand_model_data("smpl", "right")
    with pytest.raises(InvalidInputError, match="side must be"):
        load_hand_model_data("mano", "both")


def test_importing_the_package_stays_light():
    code = "import sys, eanet.config, eanet.hand_model; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
