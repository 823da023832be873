"""``eanet export``: a checkpoint to one ONNX file (image -> parameters, joints, vertices), optionally checked.

    eanet export --checkpoint model.safetensors --out model.onnx --check
"""

from __future__ import annotations

import argparse
import sys

_EPILOG = """\
The ONNX file holds the weights and the hand model (one file, dynamic batch axis). Input: image (batch, 3, H, W)
float32 RGB in [0, 1]. Outputs: right_* / left_* for every HandPrediction field (root_pose_aa, hand_pose_aa,
pose_rotmat, betas, cam, joints_hm, joints_cam, verts_cam, root_model, joints_proj_hm, 6D poses) and rel_trans.
An export made with MANO contains MANO data: do not share it. See docs/onnx.md.

examples:
  eanet export --checkpoint runs/eanet/best.safetensors --out eanet.onnx --check
  eanet export --checkpoint runs/eanet/best.safetensors --out eanet.onnx --force --benchmark 10
  eanet export --checkpoint snapshot_29.pth.tar --mano-dir ~/mano --out eanet_official.onnx
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "export",
        help="export a checkpoint to ONNX (one file, dynamic batch), optionally checked against PyTorch",
        description="Export the network and both hand-model layers to one ONNX file with a dynamic batch axis. "
        "With --check, random images are run through ONNX Runtime and PyTorch and the largest differences are "
        "printed; the command fails when vertices or joints differ by more than --tolerance metres.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--checkpoint", required=True, help="eanet .safetensors checkpoint or official .pth.tar")
    parser.add_argument("--out", required=True, help="output .onnx file")
    parser.add_argument("--opset", type=int, help="ONNX opset (default: the exporter's, 20)")
    parser.add_argument("--mano-dir", help="directory with MANO_RIGHT.pkl / MANO_LEFT.pkl (or $EANET_MANO_DIR)")
    parser.add_argument("--check", action="store_true", help="compare ONNX Runtime with PyTorch on random images")
    parser.add_argument(
        "--check-batch-sizes", default="1,2", help="batch sizes run through the file by --check (default: 1,2)"
    )
    parser.add_argument(
        "--tolerance", type=float, default=1e-4, help="--check fails above this vertex/joint difference (m)"
    )
    parser.add_argument(
        "--benchmark", type=int, default=0, metavar="N",
        help="time PyTorch and ONNX Runtime on the CPU at batch 1, N calls each, and print the medians",
    )  # fmt: skip
    parser.add_argument("--force", action="store_true", help="overwrite the output file if it exists")
    parser.set_defaults(func=run)


def _batch_sizes(text: str) -> tuple[int, ...]:
    from eanet.cli import CommandError

    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise CommandError(f"--check-batch-sizes must be positive integers separated by commas, got {text!r}")
    return sizes


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from eanet.cli import CommandError

    out = Path(args.out)
    if out.suffix != ".onnx":
        raise CommandError(f"the output {out} should end in .onnx")
    if out.exists() and not args.force:
        raise CommandError(f"{out} exists; pass --force to overwrite it")
    sizes = _batch_sizes(args.check_batch_sizes)

    from eanet.run_checkpoint import export_checkpoint

    if args.benchmark < 0:
        raise CommandError(f"--benchmark must be 0 or more calls, got {args.benchmark}")
    metadata, report, latency = export_checkpoint(
        args.checkpoint, out, mano_dir=args.mano_dir, opset=args.opset, check=args.check, check_batch_sizes=sizes,
        benchmark_repeats=args.benchmark,
    )  # fmt: skip
    sys.stdout.write(
        f"{out}: opset {metadata['opset']}, hand model {metadata['hand_model_kind']} "
        f"({metadata['hand_model_fingerprint']}), checkpoint sha256 {metadata['checkpoint_sha256'][:16]}\n"
    )
    if latency is not None:
        sys.stdout.write(latency.line() + "\n")
    if report is not None:
        sys.stdout.write("\n".join(report.lines()) + "\n")
        if not report.passed(args.tolerance):
            raise CommandError(
                f"ONNX Runtime and PyTorch disagree (vertices {report.max_vertex_diff_m:.3g} m, joints "
                f"{report.max_joint_diff_m:.3g} m, tolerance {args.tolerance:g} m"
                + (f"; non-finite: {', '.join(report.non_finite)}" if report.non_finite else "")
                + "); please report this with the printed table"
            )
    return 0
