"""The model in a separate process with its own environment, driven call by call over a pipe.

Some CPU settings cannot change inside a running process: the OpenMP runtime reads ``OMP_WAIT_POLICY`` once, when
PyTorch loads. To time PyTorch exactly as a user gets it by default (active spin-waiting OpenMP threads) side by side
with the benchmark process (passive waits), the default-environment model runs here, in a child process: the parent
writes ``<k>`` and the child runs the model on image ``k`` and answers with its time in milliseconds. While one
process computes, the other blocks on the pipe, so the interleaved rounds stay fair.

The same child measures memory in a fresh process (:meth:`ChildModel.memory`): its resident set after importing
the libraries, after loading the model, and its peak after the calls.

Protocol (text lines): child prints ``ready``; parent sends ``<k>``, child answers ``<ms>``; ``rss`` answers a JSON
object of resident-set sizes (MB); parent sends ``quit``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["ChildModel"]


class ChildModel:
    """Parent side: a callable that runs the child's model once on the next image.

    Args:
        folder: where the weights, images and configuration are handed over.
        cfg_dict: ``config_to_dict`` of the model's configuration.
        state: the model's state dict.
        images: list of ``(1, 3, H, W)`` images used in rotation.
        threads: intra-op threads of the child.
        env: the child's environment (default: this one).
        onnx_path: run this ONNX file with ONNX Runtime (no spin-waiting) instead of the PyTorch model.
    """

    def __init__(self, folder: Path, cfg_dict: Mapping[str, Any], state: Mapping[str, Any], images: list[Any],
                 threads: int, env: Mapping[str, str] | None = None, onnx_path: Path | None = None) -> None:  # fmt: skip
        import torch

        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / "state.pt").is_file() or onnx_path is None:
            torch.save(dict(state), folder / "state.pt")
        torch.save(list(images), folder / "images.pt")
        (folder / "config.json").write_text(json.dumps(cfg_dict))
        backend = "torch" if onnx_path is None else str(onnx_path)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "eanet.bench.child", str(folder), str(threads), backend],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=dict(env if env is not None else os.environ),
        )  # fmt: skip
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            self.close()
            raise RuntimeError(f"the benchmark child process did not start (said {line!r})")
        self.k = 0

    def __call__(self) -> float:
        """Run the model once in the child; returns the child's own time of the call (ms)."""
        self.k += 1
        self.proc.stdin.write(f"{self.k}\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def memory(self) -> dict[str, float]:
        """The child's resident set (MB): ``imported`` (libraries), ``loaded`` (model), ``peak`` (so far)."""
        self.proc.stdin.write("rss\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()


def _status_mb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _main(folder: str, threads: str, backend: str = "torch") -> None:
    # Imported here, in the child only: its "imported" resident set is measured right after loading the libraries of
    # the backend it runs (the parent imports this module for ChildModel and never needs them from it).
    import torch

    from eanet.config import config_from_dict

    torch.set_num_threads(int(threads))
    root = Path(folder)
    cfg = config_from_dict(json.loads((root / "config.json").read_text()))
    images = torch.load(root / "images.pt", weights_only=True)
    if backend == "torch":
        from eanet.model import build_model

        imported = _status_mb("VmRSS")
        state = torch.load(root / "state.pt", weights_only=True)
        model = build_model(cfg.model, cfg.hand_model, state_dict=state).eval()
        del state
    else:
        import onnxruntime  # noqa: F401 (counted in the "imported" memory)

        from eanet.export_onnx.runtime import OnnxModel
        from eanet.inference.fast import ort_session

        imported = _status_mb("VmRSS")
        model = OnnxModel(backend, num_threads=int(threads))
        model.session = ort_session(Path(backend), int(threads), spin=False)
    loaded = _status_mb("VmRSS")
    with torch.inference_mode():
        model(images[0])  # warm-up: allocations, oneDNN primitives
    print("ready", flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "quit":
            break
        if cmd == "rss":
            print(json.dumps({"imported": imported, "loaded": loaded, "peak": _status_mb("VmHWM")}), flush=True)
            continue
        image = images[int(cmd) % len(images)]
        t0 = time.perf_counter()
        with torch.inference_mode():
            model(image)
        print(f"{(time.perf_counter() - t0) * 1e3:.6f}", flush=True)


if __name__ == "__main__":
    _main(*sys.argv[1:4])
