"""Held-out error against training steps of an `eanet train` run, beside the image-blind baselines (docs/train.md).

Reads ``<run>/log.jsonl`` (its ``eval`` records: the evaluation before training and after each epoch) and
``<run>/eval/mean_baseline.json`` (the training set's mean pose and mean 2D joints predicted for every held-out image),
and draws two panels: MPJPE (mm) and the 2D joint error of the heatmap branch (px in the input crop), each with its
baseline and, when given, the bound a recipe must beat (``--bound-3d 0.6`` draws 0.6 x the mean-pose MPJPE). Prints the
numbers of every evaluation as a table. Example::

    .venv/bin/python tools/plot_learning_curve.py runs/synthetic-cpu --out docs/images/synthetic_cpu_curve.png \
        --bound-3d 0.6 --bound-2d 0.5
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

MPJPE_KEY = "mpjpe_all"
JOINTS2D_KEY = "joints2d_err_px_all"


def read_run(run_dir: Path) -> tuple[list[dict], dict]:
    """``(eval records in step order, baseline metrics or {})`` of a run directory."""
    log = run_dir / "log.jsonl"
    if not log.is_file():
        raise SystemExit(f"{log} does not exist: pass the output_dir of an `eanet train` run")
    evals = []
    for line in log.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("kind") == "eval" and MPJPE_KEY in record:
            evals.append(record)
    if not evals:
        raise SystemExit(f"{log} holds no evaluation: train with train.eval_every_epochs > 0")
    baseline_path = run_dir / "eval" / "mean_baseline.json"
    baseline = json.loads(baseline_path.read_text(encoding="utf-8"))["metrics"] if baseline_path.is_file() else {}
    return sorted(evals, key=lambda r: r["global_step"]), baseline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="output_dir of an `eanet train` run")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    parser.add_argument("--bound-3d", type=float, default=None, help="draw this factor x the mean-pose MPJPE")
    parser.add_argument("--bound-2d", type=float, default=None, help="draw this factor x the mean 2D joints' error")
    parser.add_argument("--title", default=None)
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    evals, baseline = read_run(args.run)
    steps = [r["global_step"] for r in evals]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=110)
    panels = ((MPJPE_KEY, "MPJPE (mm)", args.bound_3d, "mean pose"), (JOINTS2D_KEY, "2D joint error (px)",
                                                                          args.bound_2d, "mean 2D joints"))
    for ax, (key, label, bound, base_name) in zip(axes, panels, strict=True):
        values = [r.get(key, float("nan")) for r in evals]
        ax.plot(steps, values, "o-", color="#1f77b4", label="trained model (held-out)")
        if key in baseline:
            ax.axhline(baseline[key], color="#7f7f7f", ls="--", label=f"{base_name} of the training set ({baseline[key]:.1f})")
            if bound is not None:
                ax.axhline(bound * baseline[key], color="#d62728", ls=":",
                           label=f"{bound:g} x {base_name} ({bound * baseline[key]:.1f})")  # fmt: skip
        ax.set_xlabel("training step")
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(args.title or f"held-out error of {args.run.name}", fontsize=11)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    out = sys.stdout
    out.write(f"{'step':>6s} {'epoch':>5s} {MPJPE_KEY:>10s} {JOINTS2D_KEY:>20s}\n")
    for r in evals:
        out.write(f"{r['global_step']:6d} {r.get('epoch', 0):5d} {r[MPJPE_KEY]:10.2f} {r.get(JOINTS2D_KEY, float('nan')):20.2f}\n")
    if baseline:
        out.write(f"{'mean':>6s} {'':>5s} {baseline.get(MPJPE_KEY, float('nan')):10.2f} "
                  f"{baseline.get(JOINTS2D_KEY, float('nan')):20.2f}\n")  # fmt: skip
    out.write(f"wrote {args.out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
