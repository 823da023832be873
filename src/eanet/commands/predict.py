"""``eanet predict``: both hands' meshes for images and videos (files, folders, globs) into an output folder."""

from __future__ import annotations

import argparse

from eanet.cli import DEVICE_HELP, add_renamed_option, box_argument

_EPILOG = """\
examples:
  eanet predict photo.jpg --checkpoint model.safetensors --out out/            # detect hands (MediaPipe extra)
  eanet predict crops/ --checkpoint model.safetensors --out out/ --cropped     # images already cropped to hands
  eanet predict img.png --checkpoint model.safetensors --out out/ --bbox 120,80,300,260
  eanet predict 'shots/*.jpg' clip.mp4 --checkpoint model.safetensors --out out/ --smoothing 2
  eanet predict photo.jpg --checkpoint snapshot_29.pth.tar --mano-dir ~/mano --out out/   # official weights
  eanet predict photo.jpg --checkpoint model.safetensors --fit keypoints --out out/   # fit meshes to MediaPipe
  eanet predict photo.jpg --fit keypoints --out out/      # no checkpoint: the hand model fitted to MediaPipe alone

per image:  OUT/<name>/prediction.json, right.obj, left.obj, right.ply, left.ply, hands.glb, overlay.png,
            side.png, joints.png
per video:  OUT/<name>/overlay.mp4, frames/frame_<N>.json (smoothed), video.json
always:     OUT/summary.json; exit code 1 when any input failed (the others are still written; each file is
            written whole or not at all, and a failed input's entry lists its complete files), 2 for a bad
            --out, checkpoint or option (checked before any input is read).
Frames: JSON and OBJ/PLY in the image's camera frame (OpenCV: x right, y down, z forward, metres; --mesh-axes yup
flips y and z for viewers); GLB is y-up (glTF). Details: docs/inference.md.
"""


def _numbers(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        values = ()
    if len(values) not in (1, 2, 4) or any(v <= 0 for v in values[:2]):
        raise argparse.ArgumentTypeError(f"expected F, FX,FY or FX,FY,CX,CY in pixels, got {text!r}")
    return values


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "predict",
        help="predict both hands' meshes for images/videos and write JSON, meshes and renders",
        description="Run a checkpoint on images and videos (files, folders, glob patterns). Each input gets a JSON "
        "with both hands' parameters, 3D joints and vertices in the image's camera frame (left hand placed by the "
        "predicted relative translation), 2D joints in image pixels, the crop box and a confidence; OBJ/PLY meshes "
        "per hand, one GLB scene, an overlay, a side view; videos get an overlay video and smoothed per-frame JSON.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image/video files, folders or glob patterns, and "
                        "inference.KEY=VALUE overrides of any inference setting, e.g. inference.max_image_pixels=2e8 "
                        "(a file whose name looks like KEY=VALUE is written ./NAME)")  # fmt: skip
    parser.add_argument("--checkpoint", help="eanet .safetensors checkpoint or official .pth.tar (optional with "
                        "--fit keypoints: the hand model's mean pose is then fitted to MediaPipe's keypoints)")  # fmt: skip
    parser.add_argument("--fit", choices=("none", "keypoints"), help="keypoints: fit each hand's mesh to MediaPipe's "
                        "21 keypoints after the network (needs the MediaPipe extra; docs/inference.md)")  # fmt: skip
    parser.add_argument("--out", required=True, help="output folder")
    crop = parser.add_mutually_exclusive_group()
    crop.add_argument("--cropped", action="store_true", help="inputs are already cropped to the two hands "
                      "(the whole image is the box, as the official demo)")  # fmt: skip
    crop.add_argument("--bbox", type=box_argument, metavar="X,Y,W,H", help="box around both hands, same for every input")
    parser.add_argument("--detector-model", metavar="PATH",
                        help="MediaPipe hand_landmarker.task (default: the one `eanet detector fetch` cached)")  # fmt: skip
    parser.add_argument("--mano-dir", help="MANO_RIGHT.pkl/MANO_LEFT.pkl folder for MANO checkpoints ($EANET_MANO_DIR)")
    parser.add_argument("--hand-model", choices=("open", "mano"), help="hand model to load the checkpoint with "
                        "(default: the one it records; a different one is an error)")  # fmt: skip
    cam = parser.add_mutually_exclusive_group()
    cam.add_argument("--focal", type=float, help="focal length of the inputs' camera in pixels")
    cam.add_argument("--intrinsics", type=_numbers, metavar="FX,FY[,CX,CY]", help="camera intrinsics in pixels")
    cam.add_argument("--fov", type=float, metavar="DEG", help="field of view across the larger side (default 50)")
    parser.add_argument("--smoothing", type=float, metavar="S", help="video One-Euro strength: 0 off, 1 default, "
                        "larger smoother")  # fmt: skip
    parser.add_argument("--mesh-axes", choices=("opencv", "yup"), help="OBJ/PLY frame (default opencv = camera frame)")
    parser.add_argument("--batch-size", type=int, help="crops per forward pass (default 16)")
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)
    parser.add_argument("--backend", choices=("torch", "onnxruntime"), help="inference backend (same as "
                        "inference.speed.backend=...; default torch; onnxruntime: CPU, docs/speed.md)")  # fmt: skip
    parser.add_argument("--render-backend", choices=("auto", "pyrender", "torch"), help="renderer of the overlays "
                        "(default auto: pyrender on EGL when it works, else the pure-torch rasterizer)")  # fmt: skip
    parser.add_argument("--no-render", action="store_true", help="skip overlay/side/joints images and overlay video")
    parser.add_argument("--no-meshes", action="store_true", help="skip OBJ/PLY/GLB files")
    parser.add_argument("--no-json-vertices", action="store_true", help="leave vertices out of the JSON files")
    parser.add_argument("--recursive", action="store_true", help="look into sub-folders of folder inputs")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_renamed_option(parser, "--set", "trailing inference.KEY=VALUE arguments (no flag)",
                       example="eanet predict photo.jpg --out out/ inference.max_image_pixels=200000000")  # fmt: skip
    add_renamed_option(parser, "--detector-model-path", "--detector-model")
    parser.set_defaults(func=run, trailing_overrides_dest="inputs")  # overrides after other options: eanet.cli.main


def inference_config_from_args(args: argparse.Namespace):
    """The ``inference`` section: defaults, then the ``inference.KEY=VALUE`` overrides, then the dedicated flags."""
    from eanet.cli import split_overrides
    from eanet.config import ConfigError, load_config

    args.inputs, overrides = split_overrides(args.inputs)
    for item in overrides:
        if not item.startswith("inference."):
            raise ConfigError(f"eanet predict takes inference.KEY=VALUE overrides (e.g. inference.fov_deg=60), got "
                              f"{item!r}; if it is a file, write it ./{item}")  # fmt: skip
    if not args.inputs:
        raise ConfigError("no inputs: give image/video files, folders or glob patterns before the overrides")
    flags = {
        "inference.detector_model_path": args.detector_model,
        "inference.focal": args.focal,
        "inference.fov_deg": args.fov,
        "inference.smoothing": args.smoothing,
        "inference.mesh_axes": args.mesh_axes,
        "inference.batch_size": args.batch_size,
        "inference.render_backend": args.render_backend,
        "inference.speed.backend": args.backend,
        "inference.fit.method": args.fit,
    }
    for key, value in flags.items():
        if value is not None:
            overrides.append(f"{key}={_yaml(value)}")
    if args.no_json_vertices:
        overrides.append("inference.json_vertices=false")
    return load_config(None, overrides).inference


def _yaml(value) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)


def build_predictor(args: argparse.Namespace, config):
    """The predictor for ``--checkpoint`` with the hand model the flags ask for (no checkpoint: keypoint fitting)."""
    from eanet.inference.predictor import Predictor

    if args.checkpoint is None:
        from eanet.cli import CommandError

        if config.fit.method != "keypoints":
            raise CommandError("pass --checkpoint MODEL, or --fit keypoints to fit the hand model to MediaPipe's "
                               "keypoints without a network")  # fmt: skip
        return Predictor.without_network(hand_model=args.hand_model or "open", mano_dir=args.mano_dir, config=config)

    hand_model_cfg = None
    mano_dir = args.mano_dir
    if args.hand_model is not None:
        from eanet.hand_model.config import HandModelConfig

        hand_model_cfg = HandModelConfig(kind=args.hand_model, mano_dir=mano_dir)
        mano_dir = None
    return Predictor.from_checkpoint(args.checkpoint, config=config, device=args.device, mano_dir=mano_dir,
                                     hand_model_cfg=hand_model_cfg)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from eanet.inference.inputs import collect_inputs
    from eanet.inference.runner import OutputOptions, check_output_dir, predict_inputs
    from eanet.inference.smoothing import SmoothingSettings

    config = inference_config_from_args(args)
    items = collect_inputs(args.inputs, recursive=args.recursive)
    out_existed = Path(args.out).expanduser().exists()
    out_dir = check_output_dir(args.out)  # before the model loads: a bad --out must not cost a minute of loading
    needs_detector = not args.cropped and args.bbox is None and any(it.error is None for it in items)
    try:
        predictor = build_predictor(args, config)
        if needs_detector or not predictor.has_network:  # without a network only the keypoints say anything
            predictor.detector  # noqa: B018 - fail now, once, with the install hint, not once per input
    except BaseException:
        if not out_existed:  # leave no empty folder behind when the checkpoint or detector cannot be used
            try:
                out_dir.rmdir()
            except OSError:
                pass
        raise
    options = OutputOptions(
        cropped=args.cropped,
        bbox=args.bbox,
        intrinsics=args.intrinsics,
        meshes=not args.no_meshes,
        renders=not args.no_render,
        json_vertices=config.json_vertices,
        mesh_axes=config.mesh_axes,
        render_max_size=config.render_max_size,
        render_backend=config.render_backend,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    with predictor:
        summary = predict_inputs(predictor, items, out_dir, options, SmoothingSettings.from_config(config))
    sys.stdout.write("\n".join(summary.lines()) + "\n")
    return 1 if summary.failed or summary.summary_error else 0
