"""``eanet analyze``: the paper's Figure 2 / Figure 8 analyses (t-SNE of input tokens, extract-stage attention maps)
for chosen images, saved as pictures with their numbers."""

from __future__ import annotations

import argparse

from eanet.cli import DEVICE_HELP, add_renamed_option, box_argument

_EPILOG = """\
examples:
  eanet analyze --checkpoint model.safetensors --images photo.png --cropped --out analysis/
  eanet analyze --checkpoint snapshot_29.pth.tar --mano-dir ~/mano --images a.jpg b.jpg --bbox 120,80,300,260 --out an/
  eanet analyze --config eanet --images crops/ --cropped --out an/      # random weights: runs, but not meaningful

per image:  OUT/<name>/panel.png      input crop | t-SNE F_R, F_L | t-SNE SimToken, JoinToken | mean attention map
            OUT/<name>/attention.png  per cross-attention block (head mean), halves marked, share of each hand
            OUT/<name>/attention_heads.png, tsne.png, analysis.json (numbers), tokens.npz (arrays)
always:     OUT/summary.json; exit code 1 when any image failed (the others are still written).
Details: docs/analysis.md.
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "analyze",
        help="attention maps and token t-SNEs of the extract stage for images (paper Figs. 2 and 8)",
        description="Run a model on images with its extract-stage FuseFormer recorded and save, per image, the "
        "cross-attention maps (JoinToken queries x SimToken keys, halves per hand, share of attention per hand) and "
        "t-SNEs of the raw hand features F_R, F_L next to SimToken and JoinToken, as PNG with JSON/NPZ numbers.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    weights = parser.add_mutually_exclusive_group(required=True)
    weights.add_argument("--checkpoint", help="eanet .safetensors checkpoint or official .pth.tar")
    weights.add_argument("--config", help="named configuration or YAML: a randomly initialised model (for checks; "
                         "its maps are not meaningful)")  # fmt: skip
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="configuration overrides for --config, e.g. model.width=64")  # fmt: skip
    parser.add_argument("--images", nargs="+", required=True, metavar="IMAGE",
                        help="image files, folders or glob patterns")  # fmt: skip
    parser.add_argument("--out", required=True, help="output folder")
    crop = parser.add_mutually_exclusive_group()
    crop.add_argument("--cropped", action="store_true", help="images are already cropped to the two hands")
    crop.add_argument("--bbox", type=box_argument, metavar="X,Y,W,H", help="box around both hands, same for every image")
    parser.add_argument("--detector-model", metavar="PATH", help="MediaPipe hand_landmarker.task for images without "
                        "--cropped/--bbox (default: the one `eanet detector fetch` cached)")  # fmt: skip
    parser.add_argument("--mano-dir", help="MANO_RIGHT.pkl/MANO_LEFT.pkl folder for MANO checkpoints ($EANET_MANO_DIR)")
    parser.add_argument("--hand-model", choices=("open", "mano"), help="hand model to load the checkpoint with "
                        "(default: the one it records)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="t-SNE seed (and the initialisation seed with --config)")
    parser.add_argument("--no-heads", action="store_true", help="skip the per-head attention figure")
    parser.add_argument("--recursive", action="store_true", help="look into sub-folders of folder inputs")
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)
    add_renamed_option(parser, "--set", "trailing KEY=VALUE arguments (no flag)",
                       example="eanet analyze --config eanet --images a.png --cropped --out an/ model.width=64")  # fmt: skip
    parser.set_defaults(func=run)


def _predictor_from_config(args: argparse.Namespace):
    """A predictor around a randomly initialised model of ``--config`` (seeded by ``--seed``)."""
    import torch

    from eanet.config import load_config
    from eanet.inference.predictor import Predictor, resolve_device
    from eanet.model import build_model

    cfg = load_config(args.config, list(args.overrides))
    if args.detector_model:
        import dataclasses

        cfg = dataclasses.replace(cfg, inference=dataclasses.replace(cfg.inference, detector_model_path=args.detector_model))
    device = resolve_device(args.device)
    torch.manual_seed(args.seed)
    model = build_model(cfg.model, cfg.hand_model).to(device).eval()
    right, left = model.hand_models["right"], model.hand_models["left"]
    info = {"config": args.config, "source": "random initialisation"}
    predictor = Predictor(model, (right, left), config=cfg.inference, device=device, model_info=info,
                          hand_model_kind=cfg.hand_model.kind)  # fmt: skip
    provenance = {"weights": "random", "trained": False, "config": args.config, "init_seed": args.seed,
                  "description": f"random weights (untrained, config {args.config}): maps NOT meaningful"}  # fmt: skip
    return predictor, provenance


def _predictor_from_checkpoint(args: argparse.Namespace):
    import dataclasses

    from eanet.analysis.runner import checkpoint_provenance
    from eanet.inference.predictor import Predictor

    hand_model_cfg = None
    mano_dir = args.mano_dir
    if args.hand_model is not None:
        from eanet.hand_model.config import HandModelConfig

        hand_model_cfg = HandModelConfig(kind=args.hand_model, mano_dir=mano_dir)
        mano_dir = None
    predictor = Predictor.from_checkpoint(args.checkpoint, device=args.device, mano_dir=mano_dir,
                                          hand_model_cfg=hand_model_cfg)  # fmt: skip
    if args.detector_model:
        predictor.config = dataclasses.replace(predictor.config, detector_model_path=args.detector_model)
    return predictor, checkpoint_provenance(args.checkpoint)


def run(args: argparse.Namespace) -> int:
    import logging

    from eanet.analysis.runner import analyze_images
    from eanet.cli import CommandError, split_overrides
    from eanet.inference.inputs import collect_inputs

    logger = logging.getLogger(__name__)
    # Overrides written right after --images IMAGE ... are read by that list: move them to the overrides.
    args.images, more = split_overrides(args.images)
    args.overrides = [*more, *args.overrides]
    if args.overrides and not args.config:
        raise CommandError("KEY=VALUE overrides apply to --config (a checkpoint records its own configuration); "
                           f"drop {' '.join(args.overrides)}")  # fmt: skip
    if not args.images:
        raise CommandError("no images: give --images IMAGE ... (files, folders or glob patterns)")
    items = collect_inputs(args.images, recursive=args.recursive)
    skipped = [(i.source, i.error) for i in items if i.error is not None]
    skipped += [(i.source, "videos are not analysed; pass images (e.g. frames extracted from the video)")
                for i in items if i.error is None and i.kind == "video"]  # fmt: skip
    for source, reason in skipped:
        logger.error("%s: %s", source, reason)
    images = [i.path for i in items if i.error is None and i.kind != "video"]
    if not images:
        raise CommandError("no images to analyse (see the messages above)")

    predictor, provenance = (_predictor_from_checkpoint if args.checkpoint else _predictor_from_config)(args)
    with predictor:
        reports = analyze_images(predictor, images, args.out, box=args.bbox, cropped=args.cropped, seed=args.seed,
                                 provenance=provenance, heads=not args.no_heads, skipped=skipped)  # fmt: skip
    n_failed = sum(r.error is not None for r in reports)
    logger.info("%d of %d image(s) analysed; results in %s", len(reports) - n_failed, len(reports), args.out)
    return 1 if n_failed else 0
