"""Throughput of the evaluator alone (no network, no data loading): ``python -m eanet.eval.benchmark``.

Feeds random predictions and ground truth of MANO's shapes (random regressors, no MANO files needed) through
:class:`~eanet.eval.evaluator.Evaluator` and reports samples per second for ``update`` and the time of ``compute``
over a simulated full InterHand2.6M test set (849,160 samples by default), naming the device it ran on.

:func:`run_benchmark` returns the numbers (a :class:`BenchmarkResult`); :func:`main` is the command line, which
writes :meth:`BenchmarkResult.lines` to a stream (stdout by default).
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from dataclasses import dataclass
from typing import TextIO

import torch

from eanet.eval.evaluator import Evaluator, HandRegressors
from eanet.eval.metrics import joint_regressor_21
from eanet.hand_model.skeleton import MANO_TIP_VERTICES_EVAL
from eanet.structures import HandPrediction, TwoHandPrediction


def _regressors(num_verts: int = 778) -> HandRegressors:
    g = torch.Generator().manual_seed(0)
    regs = []
    for _ in range(2):
        j16 = torch.rand(16, num_verts, generator=g, dtype=torch.float64) ** 8
        j16 = j16 / j16.sum(1, keepdim=True)
        regs.append(joint_regressor_21(j16, MANO_TIP_VERTICES_EVAL))
    return HandRegressors(joints=torch.stack(regs), hands_mean=torch.zeros(2, 45, dtype=torch.float64), name="random")


def _batch(b: int, device: torch.device, num_seq: int = 200) -> tuple[TwoHandPrediction, dict]:
    g = torch.Generator(device="cpu").manual_seed(b)
    gt = (torch.randn(b, 2, 778, 3, generator=g) * 0.03 + torch.tensor([0.0, 0.0, 0.6])).to(device)
    pred = gt - gt[:, :, :1] + 0.003 * torch.randn(b, 2, 778, 3, generator=g).to(device)
    z = torch.zeros(b, 3, device=device)

    def hand(h: int) -> HandPrediction:
        return HandPrediction(z, z, z, z, z, z, z, z, pred[:, h, :21], pred[:, h], z, z)

    batch = {
        "hand_type": torch.randint(0, 3, (b,), generator=g).to(device),
        "annot_id": torch.arange(b, device=device),
        "seq_id": torch.randint(0, num_seq, (b,), generator=g).to(device),
        "mano_verts_cam": gt,
        "mano_valid": (torch.rand(b, 2, generator=g) > 0.05).float().to(device),
        "joints_cam": (pred[:, :, :21] * 1.0).reshape(b, 42, 3),
        "joints_valid": torch.ones(b, 42, device=device),
        "joints_valid_2d_ih26m": (torch.rand(b, 42, generator=g) > 0.1).float().to(device),
        "rel_trans": torch.randn(b, 3, generator=g).to(device) * 0.1,
        "rel_trans_valid": torch.ones(b, device=device),
        "mano_pose_aa": torch.randn(b, 2, 48, generator=g).to(device) * 0.3,
    }
    return TwoHandPrediction(hand(0), hand(1), z), batch


@dataclass(frozen=True)
class BenchmarkResult:
    """Timings of one benchmark run.

    Attributes:
        device: the device's name (GPU model, or ``CPU (<processor>)``).
        torch_version, threads: the torch build and its intra-op threads.
        protocol, precision, batch_size: what was run.
        samples: samples fed through ``update``.
        update_s, compute_s: seconds of all ``update`` calls and of ``compute``.
        sequences: sequences in the result.
        mpjpe_mm: MPJPE of the random data (a sanity value, not a result).
    """

    device: str
    torch_version: str
    threads: int
    protocol: str
    precision: str
    batch_size: int
    samples: int
    update_s: float
    compute_s: float
    sequences: int
    mpjpe_mm: float

    def lines(self) -> list[str]:
        """The printed report."""
        return [
            f"device: {self.device}; torch {self.torch_version}; threads {self.threads}",
            f"protocol {self.protocol}, {self.precision}, batch {self.batch_size}, {self.samples} samples",
            f"update: {self.update_s:.2f} s ({self.samples / self.update_s:,.0f} samples/s); "
            f"compute: {self.compute_s:.2f} s ({self.sequences} sequences)",
            f"MPJPE all {self.mpjpe_mm:.3f} mm (random data; a sanity value, not a result)",
        ]


def run_benchmark(
    device: torch.device | str = "cpu",
    *,
    batch_size: int = 256,
    samples: int = 849_160,
    protocol: str = "official",
    precision: str = "float64",
) -> BenchmarkResult:
    """Time ``Evaluator.update`` over ``samples`` random samples and one ``compute``.

    Raises:
        RuntimeError: the evaluator produced a non-finite MPJPE on the random data (a bug).
    """
    device = torch.device(device)
    dtype = torch.float64 if precision == "float64" else torch.float32
    ev = Evaluator(protocol, _regressors(), dtype=dtype, sequence_names=[f"seq{i}" for i in range(200)])
    pred, batch = _batch(batch_size, device)
    ev.update(pred, batch)  # warm-up
    ev.reset()
    steps = max(1, samples // batch_size)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(steps):
        batch["annot_id"] = torch.arange(i * batch_size, (i + 1) * batch_size, device=device)
        ev.update(pred, batch)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t_update = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = ev.compute()
    t_compute = time.perf_counter() - t0
    mpjpe = result.value("mpjpe_mm")
    if mpjpe is None or not math.isfinite(mpjpe):
        raise RuntimeError(f"the evaluator gave MPJPE {mpjpe} on random data; this is a bug")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({platform.processor() or 'cpu'})"
    return BenchmarkResult(
        device=name,
        torch_version=torch.__version__,
        threads=torch.get_num_threads(),
        protocol=protocol,
        precision=precision,
        batch_size=batch_size,
        samples=steps * batch_size,
        update_s=t_update,
        compute_s=t_compute,
        sequences=len(result.per_sequence),
        mpjpe_mm=mpjpe,
    )


def main(argv: list[str] | None = None, stream: TextIO | None = None) -> int:
    """Command line: run the benchmark and write its report to ``stream`` (default ``sys.stdout``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--samples", type=int, default=849_160, help="total samples (default: IH2.6M test H+M)")
    parser.add_argument("--protocol", default="official")
    parser.add_argument("--precision", choices=("float64", "float32"), default="float64")
    args = parser.parse_args(argv)
    result = run_benchmark(
        args.device,
        batch_size=args.batch_size,
        samples=args.samples,
        protocol=args.protocol,
        precision=args.precision,
    )
    out = stream if stream is not None else sys.stdout
    out.write("\n".join(result.lines()) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
