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
