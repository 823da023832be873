"""Annotation-only InterHand2.6M files at real scale (no images), for benchmarking the readers.

Writes the four JSON files of a split in the release format with random but
well-formed content, streamed to disk (bounded memory). The default sizes follow the train split of the 5 fps
release: 1,361,062 annotations over 27 captures (``Capture0``-``Capture26``) with 80-140 cameras each (the
InterHand2.6M paper's camera count); each time step is seen by a random 40-80 % of its capture's cameras, which
gives about 20,000 time steps (``joint_3d.json`` / ``MANO_NeuralAnnot.json`` entries). Half the time steps are
interacting, the rest single-hand; single-hand steps have ``None`` for the other hand's parameters, as the release.
Numbers are written the way Python's ``json`` writes them (full-precision floats, ``", "`` separators), so file sizes
are close to the release's.

Run ``python -m eanet.data.scale_annotations OUT_ROOT`` (see ``--help``); ``tools/bench_data.py`` calls it.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

__all__ = ["write_scale_annotations", "TRAIN_HM_ANNOTATIONS"]

logger = logging.getLogger(__name__)

TRAIN_HM_ANNOTATIONS = 1_361_062
WIDTH, HEIGHT = 334, 512


def _floats(values: np.ndarray) -> str:
    return ", ".join(repr(float(v)) for v in np.ravel(values))


def _nested(values: np.ndarray) -> str:
    return "[" + ", ".join("[" + _floats(row) + "]" for row in values) + "]"


def _plan(num_annotations: int, num_captures: int, cameras: tuple[int, int], seed: int):
    """Cameras per capture and, per time step, (capture, frame, camera indices), in capture order."""
    rng = np.random.default_rng(seed)
    n_cams = rng.integers(cameras[0], cameras[1] + 1, size=num_captures)
    steps: list[tuple[int, int, np.ndarray]] = []
    total = 0
    frame = np.zeros(num_captures, dtype=np.int64)
    c = 0
    while total < num_annotations:
        k = int(rng.integers(int(0.4 * n_cams[c]), int(0.8 * n_cams[c]) + 1))
        k = min(k, num_annotations - total)
        cams = np.sort(rng.choice(n_cams[c], size=k, replace=False))
        steps.append((c, int(frame[c]), cams))
        frame[c] += 6  # 5 fps frames of a 30 fps capture
        total += k
        c = (c + 1) % num_captures
    steps.sort(key=lambda s: (s[0], s[1]))
    return n_cams, steps


def _look_at(center: np.ndarray) -> np.ndarray:
    """World-to-camera rotation of an OpenCV camera at ``center`` looking at the origin (world y down)."""
    z = -center / np.linalg.norm(center)
    down = np.array([0.0, 1.0, 0.0])
    y = down - z * (down @ z)
    y /= np.linalg.norm(y)
    return np.stack([np.cross(y, z), y, z])


def _write_cameras(path: str, n_cams: np.ndarray, cam_names: list[list[str]], rng: np.random.Generator) -> None:
    """Cameras on a 0.9-1.1 m sphere around the hands (upper half), looking at them, so every hand is in view."""
    out = {}
    for c, n in enumerate(n_cams):
        names = cam_names[c]
        d = rng.standard_normal((n, 3))
        d[:, 1] = -np.abs(d[:, 1])  # above the hands (world y is down)
        centers = d / np.linalg.norm(d, axis=1, keepdims=True) * rng.uniform(900, 1100, (n, 1))
        out[str(c)] = {
            "campos": {m: p.tolist() for m, p in zip(names, centers, strict=True)},
            "camrot": {m: _look_at(p).tolist() for m, p in zip(names, centers, strict=True)},
            "focal": {m: (1200 + rng.standard_normal(2) * 50).tolist() for m in names},
            "princpt": {m: [WIDTH / 2 + rng.standard_normal(), HEIGHT / 2 + rng.standard_normal()] for m in names},
        }
    with open(path, "w") as f:
        json.dump(out, f)


def write_scale_annotations(
    root: str | Path,
    split: str = "train",
    num_annotations: int = TRAIN_HM_ANNOTATIONS,
    num_captures: int = 27,
    cameras: tuple[int, int] = (80, 140),
    seed: int = 0,
    parts: tuple[str, ...] = ("camera", "data", "joint_3d", "mano"),
) -> dict[str, int]:
    """Write ``root/annotations/<split>/InterHand2.6M_<split>_{data,camera,joint_3d,MANO_NeuralAnnot}.json``.

    ``parts=("camera",)`` rewrites only the camera file (the same cameras as a full run with the same seed).

    Returns:
        Counts: annotations, time steps, cameras, and the bytes written per file.
    """
    t0 = time.perf_counter()
    ann_dir = Path(root) / "annotations" / split
    ann_dir.mkdir(parents=True, exist_ok=True)
    prefix = ann_dir / f"InterHand2.6M_{split}"
    n_cams, steps = _plan(num_annotations, num_captures, cameras, seed)
    cam_names = [[str(400000 + 1000 * c + k) for k in range(n)] for c, n in enumerate(n_cams)]
    hand_types = ("right", "left", "interacting")
    step_type = [hand_types[2] if i % 2 else hand_types[(i // 2) % 2] for i in range(len(steps))]
    seq = [f"{c:04d}_{t}_seq" for (c, _, _), t in zip(steps, step_type, strict=True)]
    _write_cameras(f"{prefix}_camera.json", n_cams, cam_names, np.random.default_rng(seed + 1))
    if parts == ("camera",):
        return {"cameras": int(n_cams.sum())}
    rng = np.random.default_rng(seed + 2)

    all_valid = "[" + ", ".join(["1"] * 42) + "]"
    right_valid = "[" + ", ".join(["1"] * 21 + ["0"] * 21) + "]"
    left_valid = "[" + ", ".join(["0"] * 21 + ["1"] * 21) + "]"
    valid_of = {"right": right_valid, "left": left_valid, "interacting": all_valid}
    with open(f"{prefix}_data.json", "w") as f:
        f.write('{"images": [')
        image_id = 0
        for s, (c, frame, cams) in enumerate(steps):
            for k in cams:
                cam = cam_names[c][k]
                f.write(
                    f'{", " if image_id else ""}{{"id": {image_id}, "file_name": "Capture{c}/{seq[s]}/cam{cam}/'
                    f'image{frame}.jpg", "width": {WIDTH}, "height": {HEIGHT}, "capture": {c}, "subject": {c % 10},'
                    f' "seq_name": "{seq[s]}", "camera": "{cam}", "frame_idx": {frame}}}'
                )
                image_id += 1
        f.write('], "annotations": [')
        ann_id = 0
        for s, (_c, _frame, cams) in enumerate(steps):
            boxes = rng.uniform(20, 250, size=(len(cams), 4))
            for box in boxes:
                f.write(
                    f'{", " if ann_id else ""}{{"id": {ann_id}, "image_id": {ann_id}, "bbox": [{_floats(box)}], '
                    f'"joint_valid": {valid_of[step_type[s]]}, "hand_type": "{step_type[s]}", "hand_type_valid": 1}}'
                )
                ann_id += 1
        f.write("]}")

    def by_capture(write_item):
        last = None
        for s, (c, frame, _) in enumerate(steps):
            if c != last:
                f.write(("}, " if last is not None else "") + f'"{c}": {{')
                first = True
                last = c
            f.write(("" if first else ", ") + f'"{frame}": ' + write_item(s))
            first = False
        f.write("}" if last is not None else "")

    with open(f"{prefix}_joint_3d.json", "w") as f:
        f.write("{")

        def joint_item(s: int) -> str:
            world = rng.uniform(-70, 70, (42, 3))  # hands around the world origin, which every camera looks at
            return (f'{{"world_coord": {_nested(world)}, "joint_valid": {valid_of[step_type[s]]}, '
                    f'"hand_type": "{step_type[s]}", "seq": "{seq[s]}"}}')  # fmt: skip

        by_capture(joint_item)
        f.write("}")

    with open(f"{prefix}_MANO_NeuralAnnot.json", "w") as f:
        f.write("{")

        def hand(present: bool) -> str:
            if not present:
                return "null"
            pose, shape, trans = rng.standard_normal(48) * 0.3, rng.standard_normal(10) * 0.5, rng.standard_normal(3)
            return f'{{"pose": [{_floats(pose)}], "shape": [{_floats(shape)}], "trans": [{_floats(trans)}]}}'

        def mano_item(s: int) -> str:
            t = step_type[s]
            return f'{{"right": {hand(t != "left")}, "left": {hand(t != "right")}}}'

        by_capture(mano_item)
        f.write("}")

    sizes = {p.name: p.stat().st_size for p in ann_dir.glob("*.json")}
    counts = {
        "annotations": int(sum(len(s[2]) for s in steps)),
        "time_steps": len(steps),
        "captures": num_captures,
        "cameras": int(n_cams.sum()),
        "seconds": round(time.perf_counter() - t0, 1),
        **sizes,
    }
    logger.info("wrote %s", counts)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", help="output folder (gets annotations/<split>/)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--annotations", type=int, default=TRAIN_HM_ANNOTATIONS)
    parser.add_argument("--captures", type=int, default=27)
    parser.add_argument("--cameras", type=int, nargs=2, default=(80, 140), metavar=("MIN", "MAX"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cameras-only", action="store_true", help="rewrite only the camera file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parts = ("camera",) if args.cameras_only else ("camera", "data", "joint_3d", "mano")
    write_scale_annotations(args.root, args.split, args.annotations, args.captures, tuple(args.cameras), args.seed,
                            parts)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
