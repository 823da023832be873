"""``eanet detector``: build and cache MediaPipe's hand-landmarker model file, or check it on images.

MediaPipe's Python wheels from 0.10.30 on ship no model files, and nothing here may download from a model hub, so
the ``hand_landmarker.task`` bundle is assembled from the two TFLite models inside the ``mediapipe==0.10.21``
wheel (Apache-2.0), fetched with pip from the package registry (environment.md) or given with ``--wheel``.
"""

from __future__ import annotations

import argparse

from eanet.cli import add_renamed_option

_EPILOG = """\
examples:
  eanet detector fetch                                   # pip download the wheel, build, cache, verify
  eanet detector fetch --wheel mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl   # offline
  eanet detector fetch --out models/hand_landmarker.task
  eanet detector check photo.jpg                         # needs `pip install 'eanet[detect]'`

The file goes to $EANET_CACHE_DIR/mediapipe/hand_landmarker.task (default ~/.cache/eanet/...); `eanet predict`
finds it there, or takes --detector-model PATH.
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "detector",
        help="build/cache the MediaPipe hand-landmarker model file, or try it on images",
        description="Hand detection for full images (eanet predict without --bbox/--cropped) uses MediaPipe's hand "
        "landmarker (optional extra: pip install 'eanet[detect]'). This command builds its model file offline.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="detector_action", metavar="<action>", required=True)
    fetch = actions.add_parser("fetch", help="build hand_landmarker.task from the mediapipe 0.10.21 wheel and cache it")
    fetch.add_argument("--wheel", help="a local mediapipe-0.10.21 wheel (default: download it with pip)")
    fetch.add_argument("--out", help="where to write the file (default: the user cache)")
    add_renamed_option(fetch, "--model-path", "--out", example="eanet detector fetch --out hand_landmarker.task")
    fetch.add_argument("--force", action="store_true", help="rebuild even if the file is already there")
    fetch.set_defaults(func=run)
    check = actions.add_parser("check", help="verify the model file and, with MediaPipe installed, detect hands")
    check.add_argument("images", nargs="*", help="images to run the detector on")
    check.add_argument("--detector-model", metavar="PATH", help="hand_landmarker.task (default: the cached one)")
    add_renamed_option(check, "--model-path", "--detector-model",
                       example="eanet detector check --detector-model hand_landmarker.task photo.jpg")  # fmt: skip
    check.set_defaults(func=run)
    where = actions.add_parser("path", help="print where the model file is cached")
    where.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.detector_action == "fetch":
        return _fetch(args.wheel, args.out, args.force)
    if args.detector_action == "check":
        return _check(args.detector_model, args.images)
    import sys

    from eanet.inference.detect import default_detector_model_path

    sys.stdout.write(f"{default_detector_model_path()}\n")
    return 0


def download_wheel(dest) -> object:
    """``pip download`` the mediapipe 0.10.21 wheel (any Python: its model files are platform independent)."""
    import subprocess
    import sys
    from pathlib import Path

    from eanet.errors import UserError
    from eanet.inference.detect import MODEL_WHEEL

    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "311",
           "--platform", "manylinux_2_28_x86_64", MODEL_WHEEL, "-d", str(dest)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(Path(dest).glob("mediapipe-0.10.21-*.whl"))
    if proc.returncode != 0 or not wheels:
        tail = "\n".join((proc.stderr or proc.stdout or "").strip().splitlines()[-5:])
        raise UserError(
            f"could not download {MODEL_WHEEL} with pip (exit {proc.returncode}): {tail}\nOn a machine without "
            "access to the package registry, download the wheel elsewhere (`pip download --no-deps mediapipe==0.10.21`) "
            "and run `eanet detector fetch --wheel PATH`."
        )
    return wheels[0]


def _fetch(wheel: str | None, model_path: str | None, force: bool) -> int:
    import hashlib
    import logging
    import sys
    import tempfile
    from pathlib import Path

    from eanet.errors import MissingFileError
    from eanet.inference.detect import build_model_file, check_model_file, default_detector_model_path

    log = logging.getLogger("eanet.detector")
    out = Path(model_path).expanduser() if model_path else default_detector_model_path()
    if out.is_file() and not force:
        sizes = check_model_file(out)
        sys.stdout.write(f"{out} is already there ({sum(sizes.values()) / 1e6:.1f} MB of models); --force rebuilds\n")
        return 0
    with tempfile.TemporaryDirectory(prefix="eanet-mediapipe-") as tmp:
        if wheel is None:
            log.info("downloading the mediapipe 0.10.21 wheel with pip (only its two model files are kept)")
            wheel_path = download_wheel(tmp)
        else:
            wheel_path = Path(wheel).expanduser()
            if not wheel_path.is_file():
                raise MissingFileError(f"the wheel {wheel_path} does not exist")
        sizes = build_model_file(Path(wheel_path), out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    lines = [f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, sha256 {digest[:16]}...)"]
    lines += [f"  {name}: {size / 1e6:.2f} MB" for name, size in sizes.items()]
    lines.append("models: MediaPipe hand landmarker (Apache-2.0), from the mediapipe 0.10.21 wheel")
    lines.append("use it: pip install 'eanet[detect]', then eanet predict IMAGE --checkpoint CKPT --out DIR")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _check(model_path: str | None, images: list[str]) -> int:
    import sys
    from pathlib import Path

    from eanet.inference.detect import (
        MediaPipeHandDetector,
        check_model_file,
        default_detector_model_path,
        two_hand_box,
    )
    from eanet.inference.inputs import load_image

    path = Path(model_path).expanduser() if model_path else default_detector_model_path()
    sizes = check_model_file(path)
    sys.stdout.write(f"{path}: a valid task bundle ({', '.join(f'{k} {v / 1e6:.2f} MB' for k, v in sizes.items())})\n")
    if not images:
        return 0
    failed = 0
    with MediaPipeHandDetector(path) as detector:
        for name in images:
            try:
                hands = detector.detect(load_image(name))
            except Exception as err:  # noqa: BLE001 - report and go on with the next image
                sys.stdout.write(f"FAILED {name}: {err}\n")
                failed += 1
                continue
            det = two_hand_box(hands)
            found = ", ".join(f"{h.detector_label or '?'} {h.score:.2f}" for h in hands) or "none"
            box = "" if det.box is None else " box " + ",".join(f"{v:.0f}" for v in det.box)
            sys.stdout.write(f"{name}: {det.status} ({found}){box}\n")
    return 1 if failed else 0
