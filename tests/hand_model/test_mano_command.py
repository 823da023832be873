"""``eanet mano check`` and ``eanet mano clear-cache``."""

from __future__ import annotations

from eanet.cli import main
from eanet.fileio import file_sha256
from eanet.hand_model.mano import mano_cache_dir


def test_check_reports_checksums_fix_and_writes_cache(mano_like_dir, capsys):
    assert main(["mano", "check", "--mano-dir", str(mano_like_dir)]) == 0
    out = capsys.readouterr().out
    assert file_sha256(mano_like_dir / "MANO_RIGHT.pkl") in out
    assert file_sha256(mano_like_dir / "MANO_LEFT.pkl") in out
    assert "shapedirs fix (smplx#48): applied" in out
    assert "forward pass OK" in out
    assert len(list(mano_cache_dir().glob("mano_*.npz"))) >= 2
    assert main(["mano", "clear-cache"]) == 0
    assert not list(mano_cache_dir().glob("mano_*.npz"))


def test_check_without_cache_writes_nothing(mano_like_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EANET_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["mano", "check", "--mano-dir", str(mano_like_dir), "--no-cache"]) == 0
    assert "cache: not written" in capsys.readouterr().out
    assert not (tmp_path / "cache").exists()


def test_check_missing_files_is_a_clear_error(tmp_path, capsys):
    assert main(["mano", "check", "--mano-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "MANO_RIGHT.pkl" in err and "https://mano.is.tue.mpg.de" in err and "Traceback" not in err


def test_check_uses_environment_variable(mano_like_dir, monkeypatch, capsys):
    monkeypatch.setenv("EANET_MANO_DIR", str(mano_like_dir))
    assert main(["mano", "check", "--no-cache"]) == 0
    assert "$EANET_MANO_DIR" in capsys.readouterr().out


def test_check_refuses_crafted_file(tmp_path, capsys):
    payload = b"cos\nsystem\n(Vtouch " + str(tmp_path / "pwned").encode() + b"\ntR."
    (tmp_path / "MANO_RIGHT.pkl").write_bytes(payload)
    (tmp_path / "MANO_LEFT.pkl").write_bytes(payload)
    assert main(["mano", "check", "--mano-dir", str(tmp_path), "--no-cache"]) == 2
    assert "os.system" in capsys.readouterr().err
    assert not (tmp_path / "pwned").exists()
