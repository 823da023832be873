"""``eanet synth``: write a synthetic two-hand dataset in the InterHand2.6M v1.0 layout (and optionally HIC's)."""

from __future__ import annotations

import argparse

from eanet.cli import add_renamed_option, image_size

_EPILOG = """\
examples:
  eanet synth --out data/synth_ih26m --num-frames 16 --cameras 3           # a tiny set (3 splits x 48 images)
  eanet synth --out data/synth_big --num-frames 2500 --cameras 4 --workers 2 --hic
  eanet synth --out data/synth_mano --hand-model mano --mano-dir ~/mano     # MANO hands (licensed files)

The output loads like the real release: point data.root at OUT (and, for --hic, the HIC reader at OUT/HIC).
"""


def _weights(text: str) -> dict[str, float]:
    out = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        try:
            out[key.strip()] = float(value) if sep else 1.0
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"expected KIND=WEIGHT pairs such as touch=2,far=0; got {item!r}") from err
    return out


def _split_counts(text: str) -> dict[str, int]:
    out = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError(item)
            out[key.strip()] = int(value)
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"expected SPLIT=FRAMES pairs such as test=160; got {item!r}") from err
    return out


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "synth",
        help="generate a synthetic two-hand dataset in the InterHand2.6M layout",
        description=(
            "Render two hands (the built-in open hand, or MANO) touching, overlapping, interlaced, apart, and single "
            "hands, seen by a calibrated multi-camera rig, and write images/ and annotations/ exactly as the "
            "InterHand2.6M v1.0 release (plus H-subset id lists, a RootNet-style file and optionally a HIC-format "
            "set). Deterministic for a seed."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", required=True, help="dataset root to create")
    parser.add_argument("--num-frames", type=int, default=32, help="time steps per split (default 32)")
    parser.add_argument(
        "--split-frames",
        type=_split_counts,
        default={},
        metavar="SPLIT=N,...",
        help="time steps of particular splits instead of --num-frames, e.g. test=160 (a small held-out split)",
    )
    parser.add_argument("--cameras", type=int, default=4, help="cameras per capture rig; images = frames x cameras")
    parser.add_argument("--splits", default="train,val,test", help="comma-separated splits (default train,val,test)")
    parser.add_argument("--seed", type=int, default=0, help="master seed (same seed: identical files)")
    parser.add_argument("--hand-model", choices=("open", "mano"), default="open", help="hand model (default open)")
    parser.add_argument("--mano-dir", default=None, help="folder with MANO_RIGHT.pkl/MANO_LEFT.pkl (--hand-model mano)")
    parser.add_argument(
        "--image-size",
        type=image_size,
        default=(334, 512),
        metavar="WxH",
        help="image size (default 334x512, as the release)",
    )
    parser.add_argument("--frames-per-sequence", type=int, default=8, help="frames per motion sequence (default 8)")
    parser.add_argument("--sequences-per-capture", type=int, default=6, help="sequences per capture/rig (default 6)")
    parser.add_argument(
        "--kind-weights",
        type=_weights,
        default=None,
        metavar="K=W,...",
        help="share of sequences per kind: touch, overlap, interlaced, far, right, left (default 22/14/12/12/20/20)",
    )
    parser.add_argument(
        "--view-spread",
        type=float,
        default=1.0,
        metavar="S",
        help="0 < S <= 1: narrow the camera directions and hand orientations around a front view by this factor "
        "(default 1: cameras all around, hands in any orientation; small CPU recipes use 0.25, docs/synthetic.md)",
    )
    parser.add_argument("--hic", action="store_true", help="also write a HIC-format set to OUT/HIC")
    parser.add_argument(
        "--hic-frames", type=int, default=None, help="frames of the HIC-format set (default 64; implies --hic)"
    )
    parser.add_argument("--masks", action="store_true", help="also write hand masks (OUT/masks, 0/1/2 = none/R/L)")
    parser.add_argument("--workers", type=int, default=0, help="worker processes (default 0: this process)")
    parser.add_argument("--render-backend", choices=("auto", "pyrender", "torch"), default="auto",
                        help="renderer (default auto: pyrender on EGL when it works, else the pure-torch rasterizer)")  # fmt: skip
    add_renamed_option(parser, "--backend", "--render-backend", example="eanet synth --out DIR --render-backend torch")
    parser.add_argument("--overwrite", action="store_true", help="replace a dataset this command wrote to OUT before")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from eanet.errors import InvalidInputError
    from eanet.synth.config import DEFAULT_KIND_WEIGHTS, SynthConfig
    from eanet.synth.generate import generate_synthetic_dataset

    if args.hand_model == "open" and args.mano_dir:
        raise InvalidInputError("--mano-dir is only used with --hand-model mano; add --hand-model mano or drop it")
    weights = dict(DEFAULT_KIND_WEIGHTS)
    if args.kind_weights:
        unknown = set(args.kind_weights) - set(weights)
        if unknown:
            raise InvalidInputError(f"unknown kinds {sorted(unknown)} in --kind-weights; use {sorted(weights)}")
        weights = {k: args.kind_weights.get(k, 0.0) for k in weights}
    width, height = args.image_size
    cfg = SynthConfig(
        num_frames=args.num_frames,
        split_frames=args.split_frames,
        cameras=args.cameras,
        splits=tuple(s.strip() for s in args.splits.split(",") if s.strip()),
        seed=args.seed,
        hand_model=args.hand_model,
        mano_dir=args.mano_dir,
        width=width,
        height=height,
        frames_per_sequence=args.frames_per_sequence,
        sequences_per_capture=args.sequences_per_capture,
        kind_weights=weights,
        hic_frames=(64 if args.hic_frames is None else args.hic_frames) if args.hic or args.hic_frames else 0,
        masks=args.masks,
        backend=args.render_backend,
        workers=args.workers,
        view_spread=args.view_spread,
    )
    generate_synthetic_dataset(cfg, args.out, overwrite=args.overwrite, progress=not args.no_progress)
    return 0
