"""``eanet serve``: the local web demo (Gradio) on 127.0.0.1.

    eanet serve --checkpoint model.safetensors            # then open http://127.0.0.1:7860
    eanet serve --onnx model.onnx --port 8080
"""

from __future__ import annotations

import argparse

from eanet.cli import DEVICE_HELP

_EPILOG = """\
The demo binds to 127.0.0.1 (this machine only) and sends no usage analytics. There is no share link. Uploads are
limited by size, type (JPEG, PNG, WebP, BMP, judged by content) and pixel count, decoded in memory, and results are
written to a private temporary folder that is deleted when the server stops. See docs/web.md.

examples:
  eanet serve --checkpoint runs/quickstart/run/model.safetensors
  eanet serve --checkpoint snapshot_29.pth.tar --mano-dir ~/mano --device cuda
  eanet serve --onnx eanet.onnx --max-upload-mb 10
  eanet serve --checkpoint model.safetensors --fit keypoints   # "fit to keypoints" ticked (MediaPipe extra)
  eanet serve --fit keypoints                                  # no checkpoint: the hand model fitted to MediaPipe
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "serve",
        help="local web demo: upload a photo, see the meshes, turn them in 3D, download JSON/GLB",
        description="Start the Gradio web demo on this machine.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--checkpoint", help="eanet .safetensors checkpoint or official .pth.tar")
    source.add_argument("--onnx", help="an ONNX file from `eanet export` (run by ONNX Runtime)")
    parser.add_argument("--mano-dir", help="directory with MANO_RIGHT.pkl / MANO_LEFT.pkl (or $EANET_MANO_DIR)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1, this machine)")
    parser.add_argument("--port", type=int, default=7860, help="TCP port (default: 7860)")
    parser.add_argument("--device", default="auto", help=DEVICE_HELP + " (PyTorch checkpoints)")
    parser.add_argument("--render-backend", choices=("auto", "pyrender", "torch"), help="renderer of the overlays "
                        "(default auto: pyrender on EGL when it works, else the pure-torch rasterizer)")  # fmt: skip
    parser.add_argument("--max-upload-mb", type=float, default=20.0, help="largest upload in MB (default: 20)")
    parser.add_argument("--max-megapixels", type=float, default=40.0, help="largest image in megapixels (default: 40)")
    parser.add_argument("--detector-model", help="MediaPipe hand_landmarker.task (enables the detection option)")
    parser.add_argument("--fit", choices=("none", "keypoints"), default="none", help="keypoints: tick \"fit the "
                        "meshes to MediaPipe's keypoints\" by default; without --checkpoint/--onnx it is the only mode")
    parser.add_argument("--hand-model", choices=("open", "mano"), default="open", help="hand model without a "
                        "checkpoint (--fit keypoints alone; mano needs --mano-dir)")  # fmt: skip
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from eanet.cli import CommandError

    if not 0 < args.port < 65536:
        raise CommandError(f"--port must be between 1 and 65535, got {args.port}")
    if args.max_upload_mb <= 0 or args.max_megapixels <= 0:
        raise CommandError("--max-upload-mb and --max-megapixels must be positive")
    if not args.checkpoint and not args.onnx and args.fit != "keypoints":
        raise CommandError("pass --checkpoint MODEL or --onnx MODEL, or --fit keypoints to fit the hand model to "
                           "MediaPipe's keypoints without a network")  # fmt: skip
    # Gradio must be importable before the model is loaded (a missing extra should fail in a second).
    import importlib.util

    if importlib.util.find_spec("gradio") is None:
        raise CommandError("the web demo needs Gradio: pip install 'eanet[web]'")
    import os
    import shutil
    import tempfile

    # Gradio stores uploads in its own cache folder (shared /tmp/gradio by default); give it a private one that
    # is removed when the server stops. Set before Gradio is imported, which reads it at import time.
    gradio_tmp = None
    if not os.environ.get("GRADIO_TEMP_DIR"):
        gradio_tmp = tempfile.mkdtemp(prefix="eanet-gradio-")
        os.environ["GRADIO_TEMP_DIR"] = gradio_tmp
    try:
        return _serve(args)
    finally:
        if gradio_tmp is not None:
            os.environ.pop("GRADIO_TEMP_DIR", None)
            shutil.rmtree(gradio_tmp, ignore_errors=True)


def _serve(args: argparse.Namespace) -> int:
    import dataclasses

    from eanet.web.app import DemoSettings, build_app, launch_app
    from eanet.web.uploads import UploadLimits

    if args.onnx:
        from eanet.inference.onnx_predictor import predictor_from_onnx

        predictor = predictor_from_onnx(args.onnx, mano_dir=args.mano_dir)
    elif not args.checkpoint:
        from eanet.inference.predictor import Predictor

        predictor = Predictor.without_network(hand_model=args.hand_model, mano_dir=args.mano_dir)
    else:
        from eanet.inference.predictor import Predictor

        predictor = Predictor.from_checkpoint(args.checkpoint, device=args.device, mano_dir=args.mano_dir)
    if args.detector_model:
        predictor.config = dataclasses.replace(predictor.config, detector_model_path=args.detector_model)
    if args.render_backend:
        predictor.config = dataclasses.replace(predictor.config, render_backend=args.render_backend)
    limits = UploadLimits(max_bytes=int(args.max_upload_mb * 1024 * 1024), max_pixels=int(args.max_megapixels * 1e6))
    settings = DemoSettings(limits=limits, fit=args.fit == "keypoints")
    app = build_app(predictor, settings)
    import signal
    import threading

    def _stop(signum, frame):  # SIGTERM (service managers, `kill`) stops the server like Ctrl-C: files cleaned up
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
    try:
        launch_app(app, args.host, args.port, block=True, settings=settings)
    finally:
        app.eanet_runner.close()
        predictor.close()
    return 0
