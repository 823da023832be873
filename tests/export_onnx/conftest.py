"""Fixtures for the ONNX tests: one tiny checkpoint exported once per session through ``eanet export --check``.

Tracing with the dynamo exporter costs ~25 s of CPU even for the tiny network (torch.export's fake-tensor
tracing dominates), so every test shares the one file.

The tiny model's right hand regresses exactly the identity root rotation (its root-pose layer has zero weights
and the 6D identity as bias), so its root axis-angle is exactly zero: this exercises the Rodrigues epsilon that the
exporter's default optimisation would drop (NaN vertices in ONNX Runtime; see ``eanet.export_onnx.export``).
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import pytest
from onnx_helpers import tiny_model_and_config


@dataclass
class Exported:
    model: object
    cfg: object
    checkpoint: Path
    onnx: Path
    exit_code: int
    stdout: str


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """The tiny checkpoint, exported (with ``--check`` at batch sizes 1 and 3, and ``--benchmark``) by the CLI."""
    import torch

    from eanet.cli import main
    from eanet.model.provenance import TrainingData
    from eanet.run_checkpoint import save_checkpoint

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors on a shared 2-core machine: a second thread mostly spins
    try:
        root = tmp_path_factory.mktemp("onnx")
        model, cfg = tiny_model_and_config()
        checkpoint = root / "tiny.safetensors"
        # recorded as trained on synthetic data: the ONNX file must carry that on
        save_checkpoint(model, cfg, checkpoint, training_data=TrainingData("interhand26m", "/data/synth", True, 5, "test"))
        out = root / "tiny.onnx"
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            code = main(
                ["export", "--checkpoint", str(checkpoint), "--out", str(out), "--check", "--check-batch-sizes", "1,3",
                 "--benchmark", "2"]
            )
    finally:
        torch.set_num_threads(threads)
    return Exported(model, cfg, checkpoint, out, code, buffer.getvalue())
