import pytest

from eanet.config import Config, ConfigError, config_from_dict, config_to_dict, dump_config, load_config


def test_defaults_round_trip(tmp_path):
    cfg = load_config()
    assert isinstance(cfg, Config)
    path = tmp_path / "cfg.yaml"
    dump_config(cfg, path)
    assert load_config(path) == cfg
    assert config_from_dict(config_to_dict(cfg)) == cfg


def test_dotted_overrides_are_typed():
    cfg = load_config(None, ["train.lr=2e-4", "model.input_size=[128, 128]", "seed=7"])
    assert cfg.train.lr == pytest.approx(2e-4)
    assert cfg.model.input_size == (128, 128)
    assert cfg.seed == 7


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.no_such_key=1", "model.no_such_key"),
        ("no_such_section.x=1", "no_such_section"),
        ("train.lr=fast", "train.lr"),
        ("train.batch_size=1.5", "train.batch_size"),
        ("model.input_size=[1, 2, 3]", "model.input_size"),
        ("hand_model.kind=smpl", "hand_model.kind"),
    ],
)
def test_bad_keys_and_types_are_errors_naming_the_key(override, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_config(None, [override])


@pytest.mark.parametrize("key, advice", [("data.input_size", "model.input_size"),
                                         ("data.heatmap_shape", "model.heatmap_depth")])  # fmt: skip
def test_removed_keys_are_errors_that_say_what_to_set_instead(tmp_path, key, advice):
    section, name = key.split(".")
    path = tmp_path / "old.yaml"
    path.write_text(f"_base_: small-synthetic\n{section}:\n  {name}: [96, 96]\n")
    for spec, overrides in ((path, []), ("small-synthetic", [f"{key}=[96, 96]"])):
        with pytest.raises(ConfigError) as err:
            load_config(spec, overrides)
        message = str(err.value)
        assert f"{key} was removed" in message and advice in message
        assert "keys allowed in" not in message  # the advice, not the list of every data key


def _recorded_dict(**data):
    """What a checkpoint written before data.input_size/heatmap_shape were removed records: a full dump plus them."""
    recorded = config_to_dict(load_config("small-synthetic"))  # model 96 x 96 at stride 32: heatmap (8, 3, 3)
    recorded["data"].update(data)
    return recorded


def test_recorded_configurations_of_older_versions_still_load():
    from eanet.config import config_from_recorded_dict

    expected = load_config("small-synthetic")
    assert config_from_recorded_dict(_recorded_dict(input_size=[96, 96], heatmap_shape=[8, 3, 3])) == expected
    assert config_from_recorded_dict(_recorded_dict(input_size=[96, 96])) == expected
    assert config_from_recorded_dict(_recorded_dict()) == expected  # what this version records
    with pytest.raises(ConfigError, match=r"data\.input_size \[128, 128\] disagrees with the model's \[96, 96\]"):
        config_from_recorded_dict(_recorded_dict(input_size=[128, 128], heatmap_shape=[8, 3, 3]))
    with pytest.raises(ConfigError, match=r"data\.heatmap_shape \[8, 8, 8\] disagrees with the model's \[8, 3, 3\]"):
        config_from_recorded_dict(_recorded_dict(input_size=[96, 96], heatmap_shape=[8, 8, 8]))
    with pytest.raises(ConfigError, match=r"data\.input_size was removed"):  # user input gets no such leniency
        config_from_dict(_recorded_dict(input_size=[96, 96]))


def test_override_syntax_error():
    with pytest.raises(ConfigError, match="section.key=value"):
        load_config(None, ["train.lr"])


def test_base_inheritance_and_cycle(tmp_path):
    (tmp_path / "a.yaml").write_text("train:\n  lr: 0.5\nseed: 3\n")
    (tmp_path / "b.yaml").write_text("_base_: a.yaml\nseed: 4\n")
    cfg = load_config(tmp_path / "b.yaml")
    assert (cfg.train.lr, cfg.seed) == (0.5, 4)
    (tmp_path / "c.yaml").write_text("_base_: d.yaml\n")
    (tmp_path / "d.yaml").write_text("_base_: c.yaml\n")
    with pytest.raises(ConfigError, match="inherits from itself"):
        load_config(tmp_path / "c.yaml")


def test_missing_file_and_unknown_name():
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("nowhere/x.yaml")
    with pytest.raises(ConfigError, match="no configuration named"):
        load_config("no-such-config")
