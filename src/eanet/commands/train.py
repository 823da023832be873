"""``eanet train``: train EANet from a configuration; one process, or one per GPU under torchrun."""

from __future__ import annotations

import argparse

from eanet.cli import DEVICE_HELP, add_config_arguments, add_renamed_option

_EPILOG = """\
examples:
  eanet train --config eanet --data-root /data/InterHand2.6M --out runs/eanet hand_model.kind=mano  # release schedule
  eanet train --config eanet-paper-schedule --data-root /data/InterHand2.6M hand_model.kind=mano     # paper schedule
  torchrun --nproc_per_node 4 -m eanet train --config eanet --data-root /data/InterHand2.6M hand_model.kind=mano
  eanet train --config eanet --out runs/eanet --resume auto hand_model.kind=mano         # continue a run
  eanet train --config small-synthetic --data-root data/synth --out runs/small --device cpu  # CPU, minutes

InterHand2.6M's ground truth holds MANO parameters: train on it with hand_model.kind=mano (and the MANO files,
hand_model.mano_dir or $EANET_MANO_DIR). Data made by `eanet synth --hand-model open` trains the open hand model.

Every run directory holds config.yaml, log.jsonl, tensorboard/, checkpoints/ (last N + best) and, at the end,
model.safetensors and best.safetensors (load with `eanet eval --checkpoint ...` or eanet.run_checkpoint.load_checkpoint).
Multi-node: torchrun --nnodes N --node_rank R --rdzv_endpoint HOST:PORT --nproc_per_node G -m eanet train ...
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "train",
        help="train a model (single process, or DDP under torchrun)",
        description="Train EANet with a named configuration or YAML file plus section.key=value overrides. "
        "Checkpoints resume exactly (train.resume=auto); logs go to the run directory (JSON lines, TensorBoard).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_arguments(parser, default="eanet")
    parser.add_argument("--data-root", help="dataset root (same as data.root=...)")
    parser.add_argument("--out", help="run directory (same as output_dir=...)")
    parser.add_argument("--device", help=DEVICE_HELP + " (same as device=...; default: the configuration's, auto)")
    parser.add_argument("--resume", nargs="?", const="auto", help="continue a run: a checkpoint path, or 'auto'")
    add_renamed_option(parser, "--output-dir", "--out", example="eanet train --config eanet --out runs/eanet")
    parser.set_defaults(func=run)


def _flag_overrides(args: argparse.Namespace) -> list[str]:
    out = []
    if args.data_root:
        out.append(f"data.root={args.data_root}")
    if args.out:
        out.append(f"output_dir={args.out}")
    if args.device:
        out.append(f"device={args.device}")
    if args.resume:
        out.append(f"train.resume={args.resume}")
    return out


def run(args: argparse.Namespace) -> int:
    from eanet.config import load_config

    cfg = load_config(args.config, [*args.overrides, *_flag_overrides(args)])

    from eanet.train import distributed as dist_utils
    from eanet.train.build import train

    device = dist_utils.local_device(cfg.device)
    info = dist_utils.init_distributed(device)  # the CLI already logs at WARNING on ranks other than 0
    try:
        result = train(cfg, device)
    finally:
        dist_utils.destroy_distributed()
    if info.is_main:
        import sys

        lines = [f"trained {result.global_step} steps ({result.epochs_completed} epochs) in {result.output_dir}"]
        if result.initial_metrics and result.metrics:
            for key in sorted(set(result.initial_metrics) & set(result.metrics)):
                # 3D errors in mm; joints2d_err_px_*: 2D joint error in input-crop pixels (docs/eval.md).
                if key.startswith(("mpjpe", "mpvpe", "joints2d_err_px")):
                    before, after = result.initial_metrics[key], result.metrics[key]
                    lines.append(f"held-out {key}: {before:.2f} -> {after:.2f} ({after / before:.1%} of the start)")
            if result.baseline_metrics:
                shown = ", ".join(
                    f"{k} {v:.2f}"
                    for k, v in sorted(result.baseline_metrics.items())
                    if k.startswith(("mpjpe", "joints2d_err_px"))
                )
                lines.append(
                    "mean-pose baseline (the training set's average hand, and its mean 2D joints, for every image): "
                    + shown
                )
        elif result.metrics:
            shown = ", ".join(f"{k} {v:.2f}" for k, v in sorted(result.metrics.items()) if k.startswith("mpjpe"))
            lines.append(f"held-out: {shown}")
        if result.nonfinite_steps:
            lines.append(f"{result.nonfinite_steps} step(s) skipped for a non-finite loss or gradient")
        sys.stdout.write("\n".join(lines) + "\n")
    return 0
