import subprocess
import sys

from eanet.cli import main


def test_help_lists_commands(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "configs" in out


def test_python_m_eanet_runs():
    result = subprocess.run([sys.executable, "-m", "eanet", "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("eanet ")


def test_bad_override_exits_2_with_message(capsys):
    assert main(["configs", "eanet", "model.nope=1"]) == 2
    assert "model.nope" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------------
# One spelling per option across commands; the old spellings stop with the new one named.

import argparse  # noqa: E402

import pytest  # noqa: E402

from eanet.cli import build_parser, image_size  # noqa: E402

RENAMED = [
    (["train", "--output-dir", "runs/x"], "--output-dir was renamed: use --out"),
    (["train", "--output-dir=runs/x"], "--output-dir was renamed: use --out"),
    (["eval", "--checkpoint", "m.safetensors", "--output", "r.json"], "--output was renamed: use --out"),
    (["bench", "--json", "b.json"], "--json was renamed: use --out"),
    (["bench", "--work-dir", "w"], "--work-dir was renamed: use --cache-dir"),
    (["predict", "a.jpg", "--out", "o", "--set", "inference.fov_deg=60"], "--set was renamed: use trailing"),
    (["predict", "a.jpg", "--out", "o", "--detector-model-path", "m"], "was renamed: use --detector-model"),
    (["analyze", "--config", "eanet", "--set", "model.width=8", "--images", "a.png", "--out", "o"],
     "--set was renamed: use trailing KEY=VALUE"),
    (["convert-official", "a.pth.tar", "b.safetensors"], "(the output file) was renamed: use --out"),
    (["detector", "fetch", "--model-path", "m.task"], "--model-path was renamed: use --out"),
    (["detector", "check", "--model-path", "m.task"], "--model-path was renamed: use --detector-model"),
    (["render-hands", "--size", "64", "48"], "--size was renamed: use --image-size"),
    (["render-hands", "--backend", "torch"], "--backend was renamed: use --render-backend"),
    (["synth", "--out", "d", "--backend", "torch"], "--backend was renamed: use --render-backend"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "message"), RENAMED, ids=[" ".join(a[:2]) + " " + m.split()[0] for a, m in RENAMED])
def test_old_spellings_stop_naming_the_new_one(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written: the error comes while the command line is parsed
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "unrecognized arguments" not in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def _subparsers(parser: argparse.ArgumentParser, prefix: str = "eanet"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{prefix} {name}", sub
                yield from _subparsers(sub, f"{prefix} {name}")


def _visible(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: a for a in parser._actions if a.help != argparse.SUPPRESS for s in a.option_strings}


def test_every_command_uses_one_spelling_per_option():
    commands = dict(_subparsers(build_parser()))
    assert len(commands) > 15
    old = {"--output-dir", "--output", "--json", "--work-dir", "--set", "--size", "--model-path",
           "--detector-model-path", "--overrides"}  # fmt: skip
    for name, parser in commands.items():
        options = _visible(parser)
        assert not old & set(options), (name, old & set(options))
        if "--render-backend" in options:
            assert options["--render-backend"].choices == ("auto", "pyrender", "torch"), name
        if "--backend" in options:  # the inference backend (inference.speed.backend), never the renderer
            assert options["--backend"].choices == ("torch", "onnxruntime"), name
        if "--image-size" in options:
            assert options["--image-size"].type is image_size, name
        positionals = [a.dest for a in parser._actions if not a.option_strings and a.help != argparse.SUPPRESS]
        assert "output" not in positionals, name
    # Every command that takes a configuration takes its overrides as trailing KEY=VALUE arguments.
    for name in ("eanet train", "eanet eval", "eanet bench", "eanet configs", "eanet analyze"):
        assert "overrides" in [a.dest for a in commands[name]._actions], name
    for name in ("eanet train", "eanet eval", "eanet predict", "eanet analyze", "eanet serve", "eanet bench"):
        assert "--device" in _visible(commands[name]), name
    for name in ("eanet predict", "eanet serve", "eanet synth", "eanet render-hands"):
        assert "--render-backend" in _visible(commands[name]), name
    for name in ("eanet train", "eanet eval", "eanet bench", "eanet predict", "eanet analyze", "eanet export",
                 "eanet convert-official", "eanet synth", "eanet render-hands", "eanet quickstart",
                 "eanet detector fetch"):  # fmt: skip
        assert "--out" in _visible(commands[name]), name


def test_renamed_options_are_hidden_from_help(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert "--out" in out and "--device" in out and "--output-dir" not in out


def test_image_size_reads_width_x_height():
    assert image_size("334x512") == (334, 512)
    for bad in ("334", "0x5", "ax5", "3x4x5"):
        with pytest.raises(argparse.ArgumentTypeError, match="WIDTHxHEIGHT"):
            image_size(bad)


class _Stop(Exception):
    pass


def test_train_out_and_device_set_the_configuration_keys(tmp_path, monkeypatch):
    seen = {}

    def fake_train(cfg, device):
        seen.update(output_dir=cfg.output_dir, device=cfg.device, lr=cfg.train.lr, torch_device=str(device))
        raise _Stop

    monkeypatch.setattr("eanet.train.build.train", fake_train)
    with pytest.raises(_Stop):
        main(["train", "--config", "small-synthetic", "--out", str(tmp_path / "run"), "--device", "cpu",
              "train.lr=0.5"])  # fmt: skip
    assert seen == {"output_dir": str(tmp_path / "run"), "device": "cpu", "lr": 0.5, "torch_device": "cpu"}


def test_eval_out_and_device_set_the_configuration_keys(tmp_path, monkeypatch):
    seen = {}

    def fake_run_eval(cfg, checkpoint, **kwargs):
        seen.update(output=cfg.eval.output, device=cfg.device, checkpoint=str(checkpoint), bs=cfg.eval.batch_size)
        raise _Stop

    monkeypatch.setattr("eanet.eval.runner.run_eval", fake_run_eval)
    with pytest.raises(_Stop):
        main(["eval", "--checkpoint", "m.safetensors", "--out", str(tmp_path / "r.json"), "--device", "cpu",
              "eval.batch_size=3"])  # fmt: skip
    assert seen == {"output": str(tmp_path / "r.json"), "device": "cpu", "checkpoint": "m.safetensors", "bs": 3}


def test_predict_takes_trailing_inference_overrides():
    from eanet.commands.predict import inference_config_from_args
    from eanet.config import ConfigError

    parser = build_parser()
    args = parser.parse_args(["predict", "a.jpg", "inference.fov_deg=60", "--out", "o", "--backend", "onnxruntime"])
    config = inference_config_from_args(args)
    assert args.inputs == ["a.jpg"] and config.fov_deg == 60 and config.speed.backend == "onnxruntime"
    args = parser.parse_args(["predict", "./a=b.jpg", "--out", "o"])  # a file named like an override
    inference_config_from_args(args)
    assert args.inputs == ["./a=b.jpg"]
    with pytest.raises(ConfigError, match=r"inference\.KEY=VALUE.*model\.width=3.*\./model\.width=3"):
        inference_config_from_args(parser.parse_args(["predict", "a.jpg", "model.width=3", "--out", "o"]))
    with pytest.raises(ConfigError, match="no inputs"):
        inference_config_from_args(parser.parse_args(["predict", "inference.fov_deg=60", "--out", "o"]))


def test_overrides_may_follow_other_options(tmp_path, monkeypatch):
    seen = {}

    def fake_train(cfg, device):
        seen.update(lr=cfg.train.lr, epochs=cfg.train.epochs, device=cfg.device)
        raise _Stop

    monkeypatch.setattr("eanet.train.build.train", fake_train)
    with pytest.raises(_Stop):
        main(["train", "--config", "small-synthetic", "train.lr=0.5", "--device", "cpu", "train.epochs=3"])
    assert seen == {"lr": 0.5, "epochs": 3, "device": "cpu"}


def test_arguments_that_are_not_overrides_are_still_unrecognized(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--config", "small-synthetic", "train.lr=0.5", "--device", "cpu", "stray"])
    assert "unrecognized arguments: stray" in capsys.readouterr().err
