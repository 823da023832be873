"""Options of a benchmark run and the shared state its sections use (model, device, data, reference outputs)."""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from eanet.bench.ceilings import model_gflop
from eanet.bench.workload import (
    QUICK_OVERRIDES,
    agreement_images,
    load_batches,
    load_bench_model,
    synthetic_root,
    train_briefly,
)
from eanet.config import load_config
from eanet.data.workers import single_threaded_opencv
from eanet.errors import UserError

if TYPE_CHECKING:
    from eanet.config import Config
    from eanet.model.eanet import EANet

__all__ = ["SECTIONS", "BenchOptions", "BenchContext", "not_measured"]

logger = logging.getLogger(__name__)

#: Sections in the order they run.
SECTIONS: tuple[str, ...] = ("inference", "train-step", "data", "cpu-latency", "memory")


@dataclass
class BenchOptions:
    """What ``eanet bench`` measures and how (defaults: every section, on the full model)."""

    #: Sections to run (see :data:`SECTIONS`).
    sections: tuple[str, ...] = SECTIONS
    #: Named configuration or YAML file of the model, and ``section.key=value`` overrides.
    config: str = "eanet"
    overrides: tuple[str, ...] = ()
    #: A trained ``.safetensors`` checkpoint; None: the configuration's random initialisation, trained briefly.
    checkpoint: str | None = None
    #: ``auto`` (CUDA when available), ``cuda``, ``cuda:N`` or ``cpu``: where inference and training are measured.
    device: str = "auto"
    #: Inference batch sizes.
    batch_sizes: tuple[int, ...] = (1, 32, 128)
    #: Training-step batch size (per GPU).
    train_batch_size: int = 32
    #: Warm-up calls and timed calls per measurement (GPU sections).
    warmup: int = 5
    repeats: int = 20
    #: Rounds of the interleaved CPU latency comparison (each round runs every variant once).
    cpu_repeats: int = 7
    #: CPU thread counts measured by ``cpu-latency`` (None: 1 and all usable cores).
    cpu_threads: tuple[int, ...] | None = None
    #: Optimiser steps on synthetic data before measuring (ignored with a checkpoint): agreement needs trained,
    #: not random, weights.
    train_steps: int = 20
    #: Synthetic test crops the agreement of every path is computed on.
    agreement_samples: int = 16
    #: ``torch.compile`` mode of the compiled GPU variants.
    compile_mode: str = "max-autotune-no-cudagraphs"
    #: Also measure ``torch.compile`` on the CPU (compilation takes minutes for the full network).
    cpu_compile: bool = False
    #: Also measure bf16 autocast on a CPU without bf16 matrix instructions (emulated, very slow).
    cpu_bf16: bool = False
    #: Measure the ONNX Runtime paths on the CPU (exporting the full network takes about a minute; cached).
    onnx: bool = True
    #: Data-loader workers of the data and real-pipeline measurements (None: usable cores - 1, at most 16).
    data_workers: int | None = None
    #: Batches timed by the data-loader and real-pipeline measurements.
    data_batches: int = 20
    #: Cache for synthetic data and ONNX exports (None: a temporary folder removed at the end).
    work_dir: str | None = None
    #: Write the results here as JSON.
    json_path: str | None = None
    #: Tiny network and few repeats: checks that every code path runs, in seconds (tests); numbers mean nothing.
    quick: bool = False

    def __post_init__(self) -> None:
        unknown = [s for s in self.sections if s not in SECTIONS]
        if unknown:
            raise ValueError(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")
        if not self.batch_sizes or min(self.batch_sizes) < 1 or self.train_batch_size < 1:
            raise ValueError("batch sizes must be positive")
        if self.repeats < 1 or self.cpu_repeats < 1 or self.warmup < 0:
            raise ValueError("repeats must be at least 1 and warmup at least 0")
        if self.cpu_threads is not None and (not self.cpu_threads or min(self.cpu_threads) < 1):
            raise ValueError("cpu_threads must be positive thread counts")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def not_measured(reason: str) -> str:
    return f"not measured: {reason}"


@dataclass
class BenchContext:
    """State shared by the sections."""

    options: BenchOptions
    cfg: Config
    model: EANet
    weights: str
    device: torch.device
    work_dir: Path
    results: dict[str, Any] = field(default_factory=dict)
    _synth: dict[str, Path] = field(default_factory=dict)
    _images: torch.Tensor | None = None
    _tmp: Any = None

    @property
    def quick(self) -> bool:
        return self.options.quick

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def synthetic(self, purpose: str = "model") -> Path:
        """Synthetic data: ``model`` (agreement crops, brief training) or ``data`` (release-size JPEGs)."""
        if purpose not in self._synth:
            if self.quick:
                spec = (2, 2, (96, 128))
            elif purpose == "data":
                spec = (16, 4, (334, 512))  # 64 train images of the release's size: realistic decode cost
            else:
                spec = (8, 2, (334, 512))
            self._synth[purpose] = synthetic_root(self.work_dir, *spec)
        return self._synth[purpose]

    def model_gflop(self) -> float:
        """GFLOP of one image through the full model (counted once)."""
        if "model_gflop" not in self.results:
            self.results["model_gflop"] = model_gflop(self.model, tuple(self.model.input_size))
        return self.results["model_gflop"]

    def agreement_images(self) -> torch.Tensor:
        """``(N, 3, H, W)`` synthetic test crops (CPU) every path's agreement is computed on."""
        if self._images is None:
            self._images = agreement_images(self.cfg, self.synthetic(), self.options.agreement_samples)
        return self._images

    @classmethod
    def create(cls, options: BenchOptions) -> BenchContext:
        overrides = (*QUICK_OVERRIDES, *options.overrides) if options.quick else tuple(options.overrides)
        cfg = load_config(options.config, list(overrides))
        if options.device == "auto":
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        else:
            device = torch.device(options.device)
            if device.type == "cuda" and not torch.cuda.is_available():
                raise UserError(f"--device {options.device}: no CUDA device is available here; use --device cpu")
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        if device.type == "cuda":
            # Fixed input shapes: let cuDNN time its convolution algorithms once (as `eanet train` does on GPUs).
            torch.backends.cudnn.benchmark = True
        # OpenCV's worker-thread pool does not survive fork: one thread before any loader forks workers.
        single_threaded_opencv()
        if options.quick:
            torch.set_num_threads(1)  # tiny tensors: extra threads only add synchronisation (and contention)
        tmp = None
        if options.work_dir is None:
            tmp = tempfile.TemporaryDirectory(prefix="eanet-bench-")
            work_dir = Path(tmp.name)
        else:
            work_dir = Path(options.work_dir)
            work_dir.mkdir(parents=True, exist_ok=True)
        model, cfg, weights = load_bench_model(cfg, options.checkpoint)
        ctx = cls(options, cfg, model, weights, device, work_dir, _tmp=tmp)
        if options.checkpoint is None and options.train_steps > 0:
            ctx._train_briefly()
        return ctx

    def _train_briefly(self) -> None:
        steps = self.options.train_steps
        batch = 4 if self.quick or not self.cuda else 16
        hands = (self.model.hand_models["right"], self.model.hand_models["left"])
        batches = load_batches(self.cfg, self.synthetic(), "train", batch, min(steps, 8), hands)
        train_briefly(self.model, batches, steps, self.device)
        self.model.to("cpu").eval()
        self.weights += f" + {steps} Adam steps (batch {batch}, lr 1e-3) on synthetic data"

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
