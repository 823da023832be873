"""``eanet render-hands``: look at the hand model: both hands in several poses, two shapes, a few viewpoints.

Writes one PNG per (pose, shape, view) and a contact sheet to ``--out``. With ``--hand-model mano`` it renders the
user's licensed MANO model instead of the built-in open hand; such renders are derived from MANO, so do not
publish or commit them.
"""

from __future__ import annotations

import argparse

from eanet.cli import add_renamed_option, image_size

DEFAULT_OUT = "outputs/render_hands"


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "render-hands",
        help="render the hand model (both hands, several poses, shapes and views) to PNGs and a contact sheet",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"output directory (default: {DEFAULT_OUT})")
    parser.add_argument(
        "--hand-model",
        choices=("open", "mano"),
        default="open",
        help="open: the built-in open hand (default); mano: your MANO files (see --mano-dir)",
    )
    parser.add_argument(
        "--mano-dir", default=None, help="directory with MANO_RIGHT.pkl and MANO_LEFT.pkl (default: $EANET_MANO_DIR)"
    )
    parser.add_argument(
        "--poses",
        type=_csv,
        default=None,
        help="comma-separated pose names (default: relaxed,fist,point,victory,pinch,spread; see NAMED_POSES)",
    )
    parser.add_argument(
        "--views",
        type=_csv,
        default=["palm", "three_quarter", "side"],
        help="comma-separated views from palm, back, side, three_quarter (default: palm,three_quarter,side)",
    )
    parser.add_argument(
        "--image-size", type=image_size, default=(256, 256), metavar="WxH", help="image size (default: 256x256)"
    )
    parser.add_argument(
        "--render-backend",
        choices=("auto", "pyrender", "torch"),
        default="auto",
        help="renderer; auto: OpenGL (EGL) when it works, else the pure-torch rasterizer (default: auto)",
    )
    add_renamed_option(parser, "--size", "--image-size WxH", example="eanet render-hands --image-size 256x256")
    add_renamed_option(parser, "--backend", "--render-backend", example="eanet render-hands --render-backend torch")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging
    from pathlib import Path

    from eanet.errors import InvalidInputError
    from eanet.hand_model import HandModelLayer, load_hand_model_pair
    from eanet.hand_model.config import HandModelConfig
    from eanet.hand_model.poses import NAMED_POSES
    from eanet.render import Renderer
    from eanet.render.hands import DEFAULT_POSES, VIEWS, render_hand_gallery

    logger = logging.getLogger("eanet.render_hands")
    pose_names = args.poses or list(DEFAULT_POSES)
    unknown = [p for p in pose_names if p not in NAMED_POSES]
    if unknown:
        raise InvalidInputError(f"unknown pose(s) {unknown}; choose from {', '.join(sorted(NAMED_POSES))}")
    bad_views = [v for v in args.views if v not in VIEWS]
    if bad_views:
        raise InvalidInputError(f"unknown view(s) {bad_views}; choose from {', '.join(sorted(VIEWS))}")
    width, height = args.image_size
    if width < 16 or height < 16:
        raise InvalidInputError(f"--image-size must be at least 16x16, got {width}x{height}")
    if args.mano_dir and args.hand_model != "mano":
        raise InvalidInputError("--mano-dir is only used with --hand-model mano")

    hand_model_cfg = HandModelConfig(kind=args.hand_model, mano_dir=args.mano_dir)
    data = load_hand_model_pair(hand_model_cfg, origin="--mano-dir" if args.mano_dir else None)
    # flat_hand_mean=True: NAMED_POSES are absolute joint rotations (zero = flat hand), for either model.
    right, left = (HandModelLayer(d, flat_hand_mean=True) for d in data)
    if right.is_mano:
        logger.warning("rendering MANO: these images are derived from the licensed MANO model; do not publish them")
    out = Path(args.out)
    with Renderer(backend=args.render_backend) as renderer:
        logger.info("rendering %s with the %s backend", right.name, renderer.backend_name)
        gallery = render_hand_gallery(
            right,
            left,
            out,
            {name: NAMED_POSES[name] for name in pose_names},
            views=args.views,
            size=(width, height),
            renderer=renderer,
            prefix=f"{args.hand_model}_hand",
        )
    logger.info("wrote %d images to %s", len(gallery.images), out)
    logger.info("contact sheet: %s", gallery.sheet)
    return 0
