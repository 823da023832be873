"""The MANO unpickler refuses every global outside the allow-list before anything from the file runs."""

from __future__ import annotations

import os
import pickle
import pickletools

import pytest

from eanet.errors import InvalidInputError, UnsafeFileError
from eanet.hand_model.mano import ChumpyCh, ChumpySelect, SparseCscStub, load_mano_data, load_mano_pickle


def _touch_payloads(marker) -> dict[str, bytes]:
    """Pickles that would create ``marker`` if any global they name were resolved and called."""
    cmd = f"touch {marker}"
    code = f"open({str(marker)!r}, 'w').close()"

    class ReduceToSystem:  # what an attacker's object with a custom __reduce__ pickles to (posix.system)
        def __reduce__(self):
            return (os.system, (cmd,))

    class ReduceToEval:
        def __reduce__(self):
            return (eval, (code,))

    return {
        # protocol 0, hand-written: GLOBAL os.system, then REDUCE
        "os.system GLOBAL": f"cos\nsystem\n(V{cmd}\ntR.".encode(),
        # protocol 0 INST opcode: resolves and calls in one step
        "os.system INST": f"(V{cmd}\nios\nsystem\n.".encode(),
        # protocol 4 STACK_GLOBAL of builtins.eval
        "builtins.eval": pickle.dumps(ReduceToEval(), protocol=4),
        # __reduce__ payload, protocol 2 (as the MANO files), hidden inside a MANO-like dict
        "__reduce__ in dict": pickle.dumps({"v_template": [1.0], "shapedirs": ReduceToSystem()}, protocol=2),
    }


@pytest.mark.parametrize("payload", ["os.system GLOBAL", "os.system INST", "builtins.eval", "__reduce__ in dict"])
def test_refuses_code_execution(tmp_path, payload):
    marker = tmp_path / "pwned"
    data = _touch_payloads(marker)[payload]
    # The payload really is dangerous: the test would be vacuous if plain pickle did not run it.
    globals_named = [arg for op, arg, _ in pickletools.genops(data) if op.name in ("GLOBAL", "INST")]
    assert globals_named or b"eval" in data
    with pytest.raises(UnsafeFileError) as info:
        load_mano_pickle(data, source="crafted.pkl")
    message = str(info.value)
    assert "crafted.pkl" in message
    assert any(name in message for name in ("os.system", "posix.system", "builtins.eval"))
    assert not marker.exists()


def test_plain_pickle_would_have_run_the_payload(tmp_path):
    """Control: the same bytes do execute under ``pickle.loads`` (so the refusal above is meaningful)."""
    marker = tmp_path / "ran"
    pickle.loads(_touch_payloads(marker)["builtins.eval"])
    assert marker.exists()


def test_refusal_through_the_file_loader(tmp_path):
    marker = tmp_path / "pwned"
    payload = _touch_payloads(marker)["__reduce__ in dict"]
    (tmp_path / "MANO_RIGHT.pkl").write_bytes(payload)
    (tmp_path / "MANO_LEFT.pkl").write_bytes(payload)
    with pytest.raises(UnsafeFileError, match=r"MANO_RIGHT\.pkl.*system"):
        load_mano_data("right", tmp_path, cache=False)
    assert not marker.exists()


@pytest.mark.parametrize(
    "module,name", [("numpy", "load"), ("chumpy.ch", "Select"), ("scipy.sparse", "load_npz"), ("builtins", "getattr")]
)
def test_near_miss_globals_are_refused(module, name):
    data = f"c{module}\n{name}\n.".encode()
    with pytest.raises(UnsafeFileError, match=rf"'{module}\.{name}'"):
        load_mano_pickle(data)


def test_chumpy_and_sparse_become_inert_stubs(mano_like_dir):
    raw = load_mano_pickle((mano_like_dir / "MANO_RIGHT.pkl").read_bytes())
    assert isinstance(raw["shapedirs"], ChumpySelect)
    assert isinstance(raw["shapedirs"].a, ChumpyCh)
    assert isinstance(raw["J_regressor"], SparseCscStub)
    # no chumpy behaviour: the stub has only the pickled attributes
    assert not hasattr(raw["shapedirs"], "r")
    assert set(raw["shapedirs"].a.__dict__) == {"x", "_dirty_vars", "_itr", "_depends_on_deps"}


def test_stub_rejects_non_dict_state():
    # NEWOBJ chumpy.ch.Ch then BUILD with a string state
    data = b"\x80\x02cchumpy.ch\nCh\n)\x81U\x03abcb."
    with pytest.raises(InvalidInputError, match="unexpected state"):
        load_mano_pickle(data)
