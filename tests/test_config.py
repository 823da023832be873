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
