"""Fault matrix, configuration: NaN and infinities are rejected for every number key (docs/fault-matrix.md).

The keys are found by walking the configuration dataclasses, so a float key added later is covered without editing
this file.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Union, get_args, get_origin, get_type_hints

import pytest

from eanet.cli import main
from eanet.config import Config, ConfigError, load_config


def _number_keys(cls: type = Config, prefix: str = "") -> list[tuple[str, object]]:
    """``(dotted key, bad override value)`` for every float-typed key: plain, optional, or a tuple of floats."""
    keys = []
    defaults = cls()
    for f in dataclasses.fields(cls):
        tp = get_type_hints(cls)[f.name]
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(tp):
            keys += _number_keys(tp, key + ".")
            continue
        args = get_args(tp) if get_origin(tp) in (Union, types.UnionType) else (tp,)
        if float in args:
            keys.append((key, None))
        elif get_origin(tp) is tuple and float in get_args(tp):
            # a list of the default's length whose last entry is bad
            keys.append((key, len(getattr(defaults, f.name))))
    return keys


NUMBER_KEYS = _number_keys()


def test_the_walk_finds_the_float_keys_of_every_section():
    sections = {key.split(".")[0] for key, _ in NUMBER_KEYS}
    assert {"model", "data", "train", "inference"} <= sections
    assert ("train.lr", None) in NUMBER_KEYS and ("train.betas", 2) in NUMBER_KEYS
    assert len(NUMBER_KEYS) >= 30


@pytest.mark.parametrize("bad", [".nan", ".inf", "-.inf", "nan", "inf"])
@pytest.mark.parametrize("key, length", NUMBER_KEYS, ids=[k for k, _ in NUMBER_KEYS])
def test_every_float_key_rejects_nan_and_infinity_naming_the_key(key, length, bad):
    value = bad if length is None else "[" + ", ".join(["1.0"] * (length - 1) + [bad]) + "]"
    where = key if length is None else f"{key}[{length - 1}]"
    with pytest.raises(ConfigError) as info:
        load_config(None, [f"{key}={value}"])
    assert str(info.value).startswith(f"{where}: ") and "not a finite number" in str(info.value)


def test_train_lr_nan_on_the_command_line_exits_2_and_writes_nothing(tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["train", "--config", "small-synthetic", "train.lr=nan", f"output_dir={run}"])
    err = capsys.readouterr().err
    assert code == 2
    assert "train.lr: 'nan' is not a finite number" in err and "default: 0.0001" in err
    assert "Traceback" not in err
    assert not run.exists()


def test_nan_in_a_configuration_file_names_the_key(tmp_path, capsys):
    path = tmp_path / "run.yaml"
    path.write_text("_base_: small-synthetic\ntrain:\n  loss_weights:\n    joints_cam: .inf\n")
    before = path.read_bytes()
    code = main(["train", "--config", str(path), f"output_dir={tmp_path / 'run'}"])
    err = capsys.readouterr().err
    assert code == 2
    assert "train.loss_weights.joints_cam: inf is not a finite number" in err
    assert path.read_bytes() == before and not (tmp_path / "run").exists()


def test_finite_numbers_still_load():
    cfg = load_config(None, ["train.lr=2e-4", "train.grad_clip_norm=1", "train.betas=[0.8, 0.99]"])
    assert (cfg.train.lr, cfg.train.grad_clip_norm, cfg.train.betas) == (2e-4, 1.0, (0.8, 0.99))
