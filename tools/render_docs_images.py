"""Regenerate the rendering pictures in docs/images (render_*.png) from the built-in open hand (never MANO).

    python tools/render_docs_images.py [--out docs/images]

Writes:
    render_open_hand_poses.png   both hands in eight named poses (three-quarter view), four skin tones
    render_open_hand_views.png   one pose from the palm, back, three-quarter and side views
    render_backends.png          the same frame from the OpenGL (EGL) and pure-torch backends, and where they differ
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="docs/images")
    parser.add_argument("--tile", type=int, default=240)
    args = parser.parse_args()

    import cv2

    from eanet.hand_model import HandModelLayer, load_hand_model_data
    from eanet.hand_model.poses import NAMED_POSES
    from eanet.render import SKIN_TONES, Renderer, contact_sheet, look_at_camera
    from eanet.render.hands import VIEWS, hand_pair
    from eanet.render.views import framed_view

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    right, left = (HandModelLayer(load_hand_model_data("open", s), flat_hand_mean=True) for s in ("right", "left"))
    assert not right.is_mano, "docs pictures must come from the open hand, never from MANO"
    tile = (args.tile, args.tile)
    background = (0.97, 0.97, 0.97)

    def save(name: str, image: np.ndarray) -> None:
        cv2.imwrite(str(out / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        print(out / name)

    with Renderer(backend="pyrender") as renderer:
        tones = ["light", "tan", "brown", "porcelain"]
        poses = ["relaxed", "fist", "point", "victory", "pinch", "spread", "thumbs_up", "flat"]
        tiles = []
        for i, name in enumerate(poses):
            tone = SKIN_TONES[tones[i % len(tones)]]
            meshes = hand_pair(
                right, left, NAMED_POSES[name], betas=(0.0,) if i % 2 == 0 else (1.5, -1.0, 1.0), colors=(tone, tone)
            )
            tiles.append(
                framed_view(
                    meshes, *tile, view_dir=VIEWS["three_quarter"], renderer=renderer, background=background
                ).rgb
            )
        save("render_open_hand_poses.png", contact_sheet(tiles, columns=4, labels=poses))

        meshes = hand_pair(right, left, NAMED_POSES["victory"], colors=(SKIN_TONES["beige"],) * 2)
        views = ["palm", "back", "three_quarter", "side"]
        tiles = [
            framed_view(meshes, *tile, view_dir=VIEWS[v], renderer=renderer, background=background).rgb for v in views
        ]
        save("render_open_hand_views.png", contact_sheet(tiles, columns=4, labels=views))

        meshes = hand_pair(right, left, NAMED_POSES["pinch"], colors=(SKIN_TONES["light"], SKIN_TONES["olive"]))
        camera = look_at_camera(np.concatenate([m.verts for m in meshes]), *tile, view_dir=VIEWS["three_quarter"])
        gl = renderer.render(meshes, camera, background=background)
    with Renderer(backend="torch") as torch_renderer:
        oracle = torch_renderer.render(meshes, camera, background=background)
    diff = np.full((*gl.mask.shape, 3), 255, np.uint8)
    diff[gl.mask & oracle.mask] = (200, 200, 200)
    diff[gl.mask & ~oracle.mask] = (220, 40, 40)
    diff[~gl.mask & oracle.mask] = (40, 40, 220)
    iou = (gl.mask & oracle.mask).sum() / (gl.mask | oracle.mask).sum()
    save(
        "render_backends.png",
        contact_sheet([gl.rgb, oracle.rgb, diff], columns=3, labels=["pyrender (EGL)", "torch", f"mask IoU {iou:.4f}"]),
    )


if __name__ == "__main__":
    main()
