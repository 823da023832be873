"""``eanet quickstart``: synthetic data -> short CPU training -> evaluation -> predictions, offline, in minutes."""

from __future__ import annotations

import argparse

_EPILOG = """\
examples:
  eanet quickstart --out runs/quickstart                                       # 2-5 minutes on a 2-core CPU
  eanet quickstart --out runs/quickstart --photos my_photos/      # also your cropped two-hand photos
  eanet quickstart --out /tmp/qs --quick                                       # a trimmed smoke run (< 1 min)

Needs no MANO file and no internet: the synthetic data use the built-in open hand model. The model it trains is
tiny and has seen a few hundred synthetic images, so its meshes on real photos are not meaningful; for that, train
on InterHand2.6M with MANO or use the official checkpoint (see the final message and docs/inference.md).
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "quickstart",
        help="run the whole pipeline offline in minutes: synthetic data, training, evaluation, predictions",
        description="Generate a small synthetic dataset, train the synthetic-cpu configuration for minutes on the CPU, evaluate "
        "it before/after, and run `eanet predict` on held-out synthetic images (and on --photos), writing every "
        "output (JSON, OBJ/PLY/GLB meshes, overlays, side views) and printing where they are.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", required=True, help="output folder (new, empty, or an earlier quickstart's, which is "
                        "replaced)")  # fmt: skip
    parser.add_argument("--photos", nargs="*", default=[], metavar="PATH",
                        help="photos already cropped to the two hands (files, folders, globs)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="trimmed sizes for a smoke test")
    parser.add_argument("--train-steps", type=int, help="optimiser steps (default 300; --quick: 2)")
    parser.add_argument("--frames", type=int, help="synthetic training frames (default 600; x cameras = images)")
    parser.add_argument("--test-frames", type=int, help="synthetic held-out frames (default 64)")
    parser.add_argument("--cameras", type=int, help="synthetic cameras per rig (default 2)")
    parser.add_argument("--view-spread", type=float, help="eanet synth --view-spread (default 0.25; 1: cameras all "
                        "around and hands in any orientation, which minutes of CPU training cannot learn)")  # fmt: skip
    parser.add_argument("--eval-samples", type=int, help="held-out images scored (default 128)")
    parser.add_argument("--seed", type=int, help="seed of data and training (default 0)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from eanet.inference.quickstart import run_quickstart, settings_from_args

    settings = settings_from_args(args.quick, args.photos, train_steps=args.train_steps, frames=args.frames,
                                  test_frames=args.test_frames, cameras=args.cameras, eval_samples=args.eval_samples, seed=args.seed,
                                  view_spread=args.view_spread)  # fmt: skip
    from eanet.errors import InvalidInputError

    if min(settings.train_steps, settings.frames, settings.test_frames, settings.cameras) < 1:
        raise InvalidInputError("--train-steps, --frames, --test-frames and --cameras must be at least 1")
    if not 0.0 < settings.view_spread <= 1.0:
        raise InvalidInputError(f"--view-spread must be in (0, 1], got {settings.view_spread}")
    progress = not args.no_progress and sys.stderr.isatty()
    result = run_quickstart(args.out, settings, progress=progress)
    sys.stdout.write("\n".join(result.lines()) + "\n")
    return 1 if result.failed_inputs else 0
