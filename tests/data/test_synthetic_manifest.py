"""The synthetic-dataset manifest reader: which hand model made a generated dataset's ground truth, and clear errors
for a manifest that cannot be read (never a silent fall back to MANO)."""

from __future__ import annotations

import json
import re

import pytest


def test_written_manifest_reads_back(tmp_path):
    from eanet.data.synthetic_manifest import (
        MANIFEST_NAME,
        STATUS_COMPLETE,
        read_synthetic_manifest,
        write_synthetic_manifest,
    )

    assert read_synthetic_manifest(tmp_path) is None  # real data: no manifest
    manifest = {"status": STATUS_COMPLETE, "config": {"hand_model": "open", "splits": ["train"]}}
    write_synthetic_manifest(tmp_path, manifest)
    assert (tmp_path / MANIFEST_NAME).is_file()
    assert read_synthetic_manifest(tmp_path) == manifest


def test_manifest_hand_model_kind_and_data(tmp_path):
    from eanet.data.synthetic_manifest import MANIFEST_NAME, synthetic_gt_hand_model_data, synthetic_hand_model_kind

    assert synthetic_hand_model_kind(tmp_path) is None  # real data: no manifest
    assert synthetic_gt_hand_model_data(tmp_path) is None
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({"status": "complete", "config": {"hand_model": "mano"}}))
    assert synthetic_hand_model_kind(tmp_path) == "mano"
    assert synthetic_gt_hand_model_data(tmp_path) is None  # the caller loads MANO
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({"config": {"hand_model": "open"}}))
    assert synthetic_hand_model_kind(tmp_path) == "open"
    right, left = synthetic_gt_hand_model_data(tmp_path)
    assert (right.side, left.side) == ("right", "left") and not right.is_mano


@pytest.mark.parametrize(
    "text",
    ["{not json", "[]", json.dumps({"status": "complete"}), json.dumps({"config": {"hand_model": "smplx"}})],
    ids=["corrupt", "not-an-object", "no-hand-model", "unknown-hand-model"],
)
def test_unreadable_manifest_is_a_clear_error_not_mano(tmp_path, text):
    from eanet.data.synthetic_manifest import MANIFEST_NAME, synthetic_gt_hand_model_data, synthetic_hand_model_kind
    from eanet.errors import InvalidInputError

    path = tmp_path / MANIFEST_NAME
    path.write_text(text)
    for reader in (synthetic_hand_model_kind, synthetic_gt_hand_model_data):
        with pytest.raises(InvalidInputError, match=re.escape(str(path))) as info:
            reader(tmp_path)
        assert "eanet synth" in str(info.value)  # says what to do


def test_training_and_evaluation_read_the_manifest_without_the_generator():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import eanet.train.build, eanet.eval.runner, eanet.model.provenance, eanet.data.synthetic_manifest\n"
        "print(sorted(m for m in sys.modules if m == 'eanet.synth' or m.startswith('eanet.synth.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
