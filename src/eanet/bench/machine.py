"""The machine and software a benchmark ran on: CPU model and flags, cores, load, memory, GPU, library versions."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["machine_info", "machine_lines", "cpu_flags", "has_native_bf16"]

#: CPU flags that decide which CPU fast paths can pay off (bf16/int8 matrix units, vector widths).
_FLAGS_OF_INTEREST = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8")


def _cpuinfo() -> tuple[str, set[str]]:
    model, flags = "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model == "unknown CPU":
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        model = platform.processor() or model
    return model, flags


def cpu_flags() -> list[str]:
    """The flags of :data:`_FLAGS_OF_INTEREST` this CPU has."""
    return [f for f in _FLAGS_OF_INTEREST if f in _cpuinfo()[1]]


def has_native_bf16() -> bool:
    """Whether the CPU has bf16 matrix instructions (AVX512-BF16 or AMX); without them bf16 is emulated (slow)."""
    return bool({"avx512_bf16", "amx_bf16"} & _cpuinfo()[1])


def _version(module: str) -> str | None:
    try:
        mod = __import__(module)
    except ImportError:
        return None
    return str(getattr(mod, "__version__", "?"))


def _gpu_driver() -> str | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


def machine_info(device: Any = None) -> dict[str, Any]:
    """A JSON-able description of this machine and the libraries in use (``device``: the torch device measured)."""
    import torch

    model, flags = _cpuinfo()
    info: dict[str, Any] = {
        "cpu": model,
        "cpu_cores": os.cpu_count(),
        "cpu_cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_flags": [f for f in _FLAGS_OF_INTEREST if f in flags],
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "torchvision": _version("torchvision"),
        "onnxruntime": _version("onnxruntime"),
        "numpy": _version("numpy"),
        "eanet": _version("eanet"),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        info["memory_gib"] = round(kb / 1024**2, 1)
    except (OSError, ValueError, IndexError):
        pass
    if device is not None and torch.device(device).type == "cuda" and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(torch.device(device))
        info["gpu"] = props.name
        info["gpu_memory_gib"] = round(props.total_memory / 1024**3, 1)
        info["gpu_capability"] = f"{props.major}.{props.minor}"
        info["gpu_multiprocessors"] = props.multi_processor_count
        info["gpu_driver"] = _gpu_driver()
        info["cudnn_benchmark"] = bool(torch.backends.cudnn.benchmark)
    return info


def machine_lines(info: dict[str, Any]) -> list[str]:
    """Two or three human-readable lines naming the machine and the versions."""
    lines = [
        f"CPU: {info['cpu']}, {info['cpu_cores_usable']} usable cores, flags {' '.join(info['cpu_flags']) or '-'}"
        + (f", load average {info['load_average'][0]}" if "load_average" in info else "")
        + (f", {info['memory_gib']} GiB" if "memory_gib" in info else "")
        + f", OMP_WAIT_POLICY={info.get('omp_wait_policy') or 'unset'}"
    ]
    if "gpu" in info:
        lines.append(
            f"GPU: {info['gpu']} ({info['gpu_memory_gib']} GiB, sm {info['gpu_capability']}), driver "
            f"{info.get('gpu_driver') or '?'}"
        )
    lines.append(
        f"torch {info['torch']} (CUDA {info['torch_cuda'] or '-'}, cuDNN {info['cudnn'] or '-'}), torchvision "
        f"{info['torchvision'] or '-'}, onnxruntime {info['onnxruntime'] or '-'}, numpy {info['numpy']}, python "
        f"{info['python']}, eanet {info['eanet']}"
    )
    return lines
