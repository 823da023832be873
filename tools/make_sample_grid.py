"""Render the README picture of the synthetic dataset: a grid of generated images with their 2D joints drawn.

The grid is made from a real run of the generator (``eanet.synth.generate``): the images are read back from disk and
the joints are projected from ``_joint_3d.json`` with ``_camera.json`` and drawn where ``_data.json`` marks them
valid, so the picture also shows that the annotations line up with the pixels.

    python tools/make_sample_grid.py                                  # -> docs/images/synthetic_grid.png
    python tools/make_sample_grid.py --hand-model mano --mano-dir DIR --out /tmp/grid_mano.png

Do not commit a grid rendered with MANO (MANO renders are derived from the licensed model).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np


def _kind(seq: str, hand_type: str) -> str:
    for key, kind in (("touch", "touching"), ("Touching", "touching"), ("overlap", "overlapping"),
                      ("Overlap", "overlapping"), ("interlaced", "interlaced"), ("Interlaced", "interlaced"),
                      ("apart", "apart"), ("Apart", "apart")):  # fmt: skip
        if key in seq:
            return kind
    return f"{hand_type} hand"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="docs/images/synthetic_grid.png", help="PNG to write")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--columns", type=int, default=6)
    parser.add_argument("--rows", type=int, default=2)
    parser.add_argument("--tile", type=int, default=240, help="tile size in pixels")
    parser.add_argument("--hand-model", choices=("open", "mano"), default="open")
    parser.add_argument("--mano-dir", default=None)
    parser.add_argument("--keep", default=None, help="generate the dataset here (kept) instead of a temporary folder")
    args = parser.parse_args(argv)

    import cv2

    from eanet.hand_model.skeleton import IH26M_TO_JOINTS_21
    from eanet.render import contact_sheet, draw_joints_2d, put_label
    from eanet.synth.config import SynthConfig
    from eanet.synth.generate import generate_synthetic_dataset

    count = args.columns * args.rows
    cfg = SynthConfig(
        num_frames=count,
        cameras=4,
        splits=("train",),
        seed=args.seed,
        hand_model=args.hand_model,
        mano_dir=args.mano_dir,
        frames_per_sequence=1,
        sequences_per_capture=1,  # one subject (skin tone, hand shape, camera rig) per tile
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep or tmp)
        generate_synthetic_dataset(cfg, root, overwrite=args.keep is not None, progress=False)
        ann_dir = root / "annotations" / "train"
        load = lambda kind: json.loads((ann_dir / f"InterHand2.6M_train_{kind}.json").read_text())  # noqa: E731
        data, cameras, joints = load("data"), load("camera"), load("joint_3d")
        anns = {a["image_id"]: a for a in data["annotations"]}
        by_frame: dict[tuple[int, int], list[dict]] = {}
        for img in data["images"]:
            by_frame.setdefault((img["capture"], img["frame_idx"]), []).append(img)
        tiles = []
        for views in by_frame.values():
            # Of a frame's views, show the one that sees most annotated joints (the rig also films from behind).
            img = max(views, key=lambda im: sum(anns[im["id"]]["joint_valid"]))
            ann = anns[img["id"]]
            cam = cameras[str(img["capture"])]
            name = img["camera"]
            entry = joints[str(img["capture"])][str(img["frame_idx"])]
            xyz = (np.array(entry["world_coord"]) - np.array(cam["campos"][name])) @ np.array(cam["camrot"][name]).T
            uv = xyz[:, :2] / xyz[:, 2:] * np.array(cam["focal"][name]) + np.array(cam["princpt"][name])
            valid = np.array(ann["joint_valid"], dtype=bool)
            picture = cv2.cvtColor(cv2.imread(str(root / "images" / "train" / img["file_name"])), cv2.COLOR_BGR2RGB)
            # A square crop around the annotated box (what a network is fed), so the hands are large enough to see.
            x, y, w, h = ann["bbox"]
            side = max(w, h) * 1.5
            x0, y0 = x + w / 2 - side / 2, y + h / 2 - side / 2
            scale = args.tile / side
            warp = np.array([[scale, 0.0, -x0 * scale], [0.0, scale, -y0 * scale]])
            crop = cv2.warpAffine(
                picture, warp, (args.tile, args.tile), flags=cv2.INTER_AREA, borderValue=(255, 255, 255)
            )
            uv_crop = uv * scale - np.array([x0, y0]) * scale
            for hand in range(2):
                order = [21 * hand + j for j in IH26M_TO_JOINTS_21]  # release order -> wrist-first for drawing
                if valid[order].any():
                    crop = draw_joints_2d(crop, uv_crop[order], valid=valid[order], radius=3, thickness=2)
            tiles.append(put_label(crop, _kind(img["seq_name"], ann["hand_type"])))
        sheet = contact_sheet(tiles[:count], columns=args.columns)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    Image.fromarray(sheet).save(out, optimize=True)  # the sensor noise makes PNGs large: squeeze what is lossless
    print(f"wrote {out} ({sheet.shape[1]}x{sheet.shape[0]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
