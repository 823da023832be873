"""Make the README's keypoint-fitting pictures and numbers: photos before and after ``--fit keypoints``.

    python tools/make_fit_figures.py                                  # no checkpoint: the open hand model alone
    python tools/make_fit_figures.py --checkpoint runs/x/model.safetensors --prefix fit_trained

Needs the MediaPipe extra and its model file (``pip install 'eanet[detect]'``, ``eanet detector fetch``). For each
image (default: every image in ``../shared/assets/images``) it writes ``<out>/<prefix>_<name>.png``: the photo
with MediaPipe's keypoints (coloured by the hand each was assigned to), the meshes before fitting, after fitting,
and the fitted meshes from the side, with a right/left colour legend. "Before" is what ``eanet predict`` writes
without ``--fit``: the network's meshes; without a checkpoint, the hand model's mean hands placed on the keypoints
(the fit's start). It prints a Markdown table of the mean 2D keypoint distances before and after, the iterations,
and the time per image (median of ``--repeats`` runs; MediaPipe and fitting, the network not included).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import statistics
import time
from pathlib import Path

import numpy as np

logger = logging.getLogger("make_fit_figures")

REPO = Path(__file__).resolve().parents[1]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def _fit_height(image: np.ndarray, height: int) -> np.ndarray:
    import cv2

    width = max(1, round(image.shape[1] * height / image.shape[0]))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def _keypoints_tile(image: np.ndarray, report) -> np.ndarray:
    """The photo with each detected hand's 21 keypoints, in the colour of the hand it was fitted as."""
    import cv2

    from eanet.hand_model.skeleton import BONES_21
    from eanet.render.scene import HAND_COLORS

    out = np.ascontiguousarray(image.copy())
    sides = {getattr(report, side).detection_index: side for side in ("right", "left")}
    radius = max(2, round(max(image.shape[:2]) / 180))
    for keypoints in report.keypoints:
        side = sides.get(keypoints.index)
        color = tuple(int(255 * c) for c in HAND_COLORS[side]) if side else (200, 200, 200)
        uv = keypoints.uv_px
        for child, parent in BONES_21:
            cv2.line(out, tuple(int(round(v)) for v in uv[parent]), tuple(int(round(v)) for v in uv[child]), color,
                     max(1, radius // 2), cv2.LINE_AA)  # fmt: skip
        for point in uv:
            cv2.circle(out, tuple(int(round(v)) for v in point), radius, (20, 20, 20), -1, cv2.LINE_AA)
            cv2.circle(out, tuple(int(round(v)) for v in point), max(1, radius - 1), color, -1, cv2.LINE_AA)
    return out


def _legend(width: int, lines: list[str]) -> np.ndarray:
    """A white band with the right/left colour swatches and one line of text per item of ``lines``."""
    import cv2

    from eanet.render.scene import HAND_COLORS

    band = np.full((12 + 20 * len(lines), width, 3), 255, np.uint8)
    x = 10
    for side in ("right", "left"):
        color = tuple(int(255 * c) for c in HAND_COLORS[side])
        cv2.rectangle(band, (x, 8), (x + 14, 22), color, -1)
        cv2.rectangle(band, (x, 8), (x + 14, 22), (60, 60, 60), 1)
        cv2.putText(band, f"{side} hand", (x + 20, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (30, 30, 30), 1, cv2.LINE_AA)
        x += 110
    for i, text in enumerate(lines):
        cv2.putText(band, text, (x + 10, 20 + 20 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (30, 30, 30), 1, cv2.LINE_AA)
    return band


def _distances(report, which: str) -> str:
    parts = []
    for side in ("right", "left"):
        value = getattr(getattr(report, side), f"keypoint_dist_px_{which}")
        parts.append(f"{side} {value:.1f}" if value is not None else f"{side} -")
    return ", ".join(parts) + " px"


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, help="eanet checkpoint (default: none, the hand model alone)")
    parser.add_argument("--hand-model", choices=("open", "mano"), default="open", help="without a checkpoint")
    parser.add_argument("--mano-dir", help="MANO files (checkpoints trained with MANO, or --hand-model mano)")
    parser.add_argument("--images", type=Path, nargs="+", default=[REPO.parent / "shared" / "assets" / "images"],
                        help="images or folders (default: ../shared/assets/images)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images", help="output folder")
    parser.add_argument("--prefix", default="fit", help="file name prefix (default: fit)")
    parser.add_argument("--height", type=int, default=300, help="tile height in pixels")
    parser.add_argument("--repeats", type=int, default=3, help="timing runs per image (median reported)")
    parser.add_argument("--detector-model", help="hand_landmarker.task (default: the cached one)")
    args = parser.parse_args()

    import cv2

    from eanet.inference.inputs import load_image
    from eanet.inference.predictor import Predictor
    from eanet.inference.visualize import render_overlay, render_side

    images = []
    for path in args.images:
        images += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if path.is_dir() else [path]
    if not images:
        raise SystemExit(f"no images in {args.images}")
    if args.checkpoint is not None:
        predictor = Predictor.from_checkpoint(args.checkpoint, device="cpu", mano_dir=args.mano_dir)
        model = f"checkpoint {args.checkpoint.name}"
    else:
        predictor = Predictor.without_network(hand_model=args.hand_model, mano_dir=args.mano_dir)
        model = f"no checkpoint ({predictor.hand_model_info['name']})"
    if args.detector_model:
        predictor.config = dataclasses.replace(predictor.config, detector_model_path=args.detector_model)
    fit_cfg = predictor.config.fit
    predictor.detector  # noqa: B018 - fail now, with the install hint, if MediaPipe is missing

    from eanet.render import Renderer, put_label

    rows = []
    with Renderer() as renderer:
        for path in images:
            image = load_image(path)
            if predictor.has_network:
                before = predictor.predict(image, fit="none")
            else:  # the mean hands placed on the keypoints: the fit's start
                predictor.config = dataclasses.replace(predictor.config, fit=dataclasses.replace(fit_cfg, iterations=0))
                before = predictor.predict(image, fit="keypoints")
                predictor.config = dataclasses.replace(predictor.config, fit=fit_cfg)
            seconds, fit_ms = [], []
            for _ in range(max(1, args.repeats)):
                t0 = time.perf_counter()
                after = predictor.predict(image, fit="keypoints")
                seconds.append(time.perf_counter() - t0)
                fit_ms.append(after.timings_ms.get("fit_detect_ms", 0.0) + after.timings_ms.get("detect_ms", 0.0)
                              + after.timings_ms.get("fit_ms", 0.0))  # fmt: skip
            report = after.fit
            before_label = "the network's meshes" if predictor.has_network else "the mean hands placed on the keypoints"
            tiles = [
                put_label(_fit_height(_keypoints_tile(image, report), args.height), "MediaPipe keypoints"),
                put_label(_fit_height(render_overlay(before, image, renderer), args.height),
                          f"before: {_distances(report, 'before')}"),  # fmt: skip
                put_label(_fit_height(render_overlay(after, image, renderer), args.height),
                          f"--fit keypoints: {_distances(report, 'after')}"),  # fmt: skip
                put_label(render_side(after, args.height, renderer), "fitted, seen from the left"),
            ]
            gap = np.full((args.height, 6, 3), 255, np.uint8)
            strip = np.concatenate([part for tile in tiles for part in (tile, gap)][:-1], axis=1)
            legend = _legend(strip.shape[1], [
                f"{path.name}, {model}; before = {before_label}",
                "numbers: mean 2D distance (pixels) of the 21 joints to MediaPipe's keypoints",
            ])  # fmt: skip
            figure = np.concatenate([strip, legend], axis=0)
            out = args.out / f"{args.prefix}_{path.stem}.png"
            out.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(out), cv2.cvtColor(figure, cv2.COLOR_RGB2BGR))
            logger.info("wrote %s", out)
            for side in ("right", "left"):
                hand = getattr(report, side)
                rows.append((path.name, side, hand.keypoint_dist_px_before, hand.keypoint_dist_px_after,
                             hand.iterations if hand.fitted else None, statistics.median(fit_ms),
                             statistics.median(seconds)))  # fmt: skip
            for warning in after.warnings:
                logger.info("  %s: %s", path.name, warning)

    def number(value, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    print(f"\n{model}, fit settings: {fit_cfg}\n")
    print("| image | hand | before, px | after, px | iterations | MediaPipe + fit, s | whole predict, s |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, side, before_px, after_px, iterations, ms, total in rows:
        print(f"| {name} | {side} | {number(before_px, '.1f')} | {number(after_px, '.1f')} | "
              f"{number(iterations, 'd')} | {ms / 1e3:.2f} | {total:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
