"""``eanet eval``: evaluate a checkpoint on InterHand2.6M or HIC under a named protocol; print and save the result."""

from __future__ import annotations

import argparse
import shlex
import sys

from eanet.cli import DEVICE_HELP, add_config_arguments, add_renamed_option

PROTOCOLS = ("official", "intaghand", "interwild")

_EPILOG = """\
protocols (docs/eval.md):
  official   exactly what the official EANet evaluator computes, quirks included (Middle_1 root, GT bone-length
             scale, its joint-mask order, 0 mm for hands without a NeuralAnnot fit, per-joint-mean MPJPE, H+M)
  intaghand  the same alignment with the quirks fixed (IntagHand, ACR, EANet paper tables)
  interwild  wrist root, annotated joints, H test subset, MRRPE (InterWild; InterNet-style)

examples:
  eanet eval --checkpoint runs/eanet/best.safetensors --protocol official data.root=/data/InterHand2.6M
  eanet eval --checkpoint snapshot_29.pth.tar --protocol interwild --mano-dir ~/mano data.root=/data/IH26M
  eanet eval --checkpoint best.safetensors --protocol interwild --dataset hic data.root=/data/HIC/data
  torchrun --nproc_per_node 4 -m eanet eval --checkpoint best.safetensors --protocol intaghand data.root=...
  # data made by `eanet synth --hand-model open`: ground truth from the open hand, no MANO files needed
  eanet eval --config small-synthetic --checkpoint model.safetensors --gt-hand-model open --data-root data/synth
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "eval",
        help="evaluate a checkpoint (MPJPE/MPVPE/MRRPE) under a named protocol",
        description="Evaluate a checkpoint on InterHand2.6M or HIC. Every result is printed with its protocol "
        "signature and written as JSON (protocol, subset, checkpoint hash, configuration); per-sequence results "
        "and the Figure 9 analysis (error vs. pose difference between the hands) are included.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--checkpoint", required=True, help="eanet .safetensors checkpoint or official .pth.tar")
    parser.add_argument("--protocol", choices=PROTOCOLS, help="protocol preset (default: eval.protocol, official)")
    parser.add_argument("--dataset", choices=("interhand26m", "hic"), help="default: eval.dataset or data.dataset")
    parser.add_argument("--subset", choices=("preset", "H", "M", "HM"), help="InterHand2.6M test subset")
    parser.add_argument("--data-root", help="dataset root (same as data.root=...)")
    parser.add_argument("--mano-dir", help="directory with MANO_RIGHT.pkl / MANO_LEFT.pkl (or $EANET_MANO_DIR)")
    parser.add_argument(
        "--gt-hand-model",
        choices=("mano", "open"),
        help="hand model of the ground truth (default: eval.gt_hand_model, mano): mano for InterHand2.6M/HIC, open "
        "for data made by `eanet synth --hand-model open` (no MANO files needed); a mismatch with the data is an error",
    )
    parser.add_argument("--out", help="result JSON path (default: <output_dir>/eval/<protocol>-<dataset>-<subset>.json)")
    parser.add_argument("--device", help=DEVICE_HELP + " (same as device=...; default: the configuration's, auto)")
    add_renamed_option(parser, "--output", "--out", example="eanet eval --checkpoint CKPT --out result.json")
    parser.add_argument("--max-samples", type=int, help="evaluate only the first N samples (quick check)")
    parser.add_argument("--batch-size", type=int, help="images per forward pass (default: eval.batch_size)")
    add_config_arguments(parser)
    parser.set_defaults(func=run)


def _flag_overrides(args: argparse.Namespace) -> list[str]:
    mapping = {
        "protocol": "eval.protocol",
        "dataset": "eval.dataset",
        "subset": "eval.subset",
        "data_root": "data.root",
        "mano_dir": "hand_model.mano_dir",
        "gt_hand_model": "eval.gt_hand_model",
        "out": "eval.output",
        "device": "device",
        "max_samples": "eval.max_samples",
        "batch_size": "eval.batch_size",
    }
    out = []
    for attr, key in mapping.items():
        value = getattr(args, attr)
        if value is not None:
            out.append(f"{key}={value}" if not isinstance(value, str) else f"{key}={_yaml_str(value)}")
    return out


def _yaml_str(value: str) -> str:
    # Quote so YAML keeps it a string (paths like "1e3" or "on" would otherwise change type).
    return "'" + value.replace("'", "''") + "'"


def run(args: argparse.Namespace) -> int:
    from eanet.config import load_config
    from eanet.eval.runner import run_eval

    # Flags come last, so they win over positional overrides of the same key.
    cfg = load_config(args.config, [*args.overrides, *_flag_overrides(args)])
    command = "eanet " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else None
    outputs = run_eval(cfg, args.checkpoint, command_line=command)
    if not outputs.is_main:
        return 0  # under torchrun only rank 0 prints
    lines = outputs.result.summary_lines()
    if outputs.json_path is not None:
        lines.append(f"result: {outputs.json_path}")
    if outputs.figure9_path is not None:
        lines.append(f"figure 9: {outputs.figure9_path}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
