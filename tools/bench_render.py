"""Rendering speed of both backends on a two-hand scene (the open hand model), printed with the machine.

    python tools/bench_render.py                      # 256x256 and 512x334, both backends
    python tools/bench_render.py --frames 50 --backends torch

Each frame renders the two hands in a new random pose and viewpoint, so per-frame work (mesh upload, normals,
compositing, the id/depth pass) is included, as in synthetic-data generation. Reported: median and 90th percentile
milliseconds per frame after a warm-up, frames per second from the median, and the process CPU time per frame
(all threads, llvmpipe's included), which is less sensitive to other load on a shared machine than wall time.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time


def machine_description() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return (
        f"{cpu}; {os.cpu_count()} logical CPUs; torch {torch.__version__} with {torch.get_num_threads()} threads; "
        f"{platform.system()} {platform.release()}; Python {platform.python_version()}"
    )


def gl_renderer_string(renderer) -> str:
    """The OpenGL renderer name of a pyrender-backed Renderer (e.g. 'llvmpipe ...'), or '?'."""
    try:
        from OpenGL.GL import GL_RENDERER, GL_VERSION, glGetString

        platform_ = renderer._backend._renderer._platform  # noqa: SLF001 - benchmark introspection only
        platform_.make_current()
        name = f"{glGetString(GL_RENDERER).decode()} / OpenGL {glGetString(GL_VERSION).decode()}"
        platform_.make_uncurrent()
        return name
    except Exception as err:  # noqa: BLE001 - informational only
        return f"? ({err})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--backends", default="pyrender,torch")
    parser.add_argument("--sizes", default="256x256,512x334")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    import numpy as np

    from eanet.hand_model import HandModelLayer, load_hand_model_data
    from eanet.hand_model.poses import NAMED_POSES
    from eanet.render import Lighting, Renderer, look_at_camera, rotate_meshes
    from eanet.render.hands import hand_pair

    right, left = (HandModelLayer(load_hand_model_data("open", s), flat_hand_mean=True) for s in ("right", "left"))
    rng = np.random.default_rng(0)
    pose_names = sorted(NAMED_POSES)
    scenes = []
    for i in range(args.warmup + args.frames):
        meshes = hand_pair(right, left, NAMED_POSES[pose_names[i % len(pose_names)]], betas=rng.normal(size=4))
        # Bring the hands closer so they overlap in some views, and turn the pair at random.
        meshes = rotate_meshes(meshes, float(rng.uniform(-60, 60)), axis=rng.normal(size=3))
        scenes.append((meshes, Lighting.random(rng)))

    print(f"machine: {machine_description()}")
    print(
        f"scene: two hands, {len(scenes[0][0][0].verts)} + {len(scenes[0][0][1].verts)} vertices, "
        f"{len(scenes[0][0][0].faces)} + {len(scenes[0][0][1].faces)} faces, random pose/shape/lighting per frame"
    )
    for backend in args.backends.split(","):
        with Renderer(backend=backend) as renderer:
            name = renderer.backend_name
            detail = gl_renderer_string(renderer) if name == "pyrender" else "pure torch, CPU"
            for size in args.sizes.split(","):
                width, height = (int(v) for v in size.split("x"))
                times, cpu_times = [], []
                for i, (meshes, lighting) in enumerate(scenes):
                    points = np.concatenate([m.verts for m in meshes])
                    camera = look_at_camera(points, width, height, fov_deg=30.0, margin=0.05)
                    background = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
                    start, cpu_start = time.perf_counter(), time.process_time()
                    renderer.render(meshes, camera, background=background, lighting=lighting)
                    if i >= args.warmup:
                        times.append((time.perf_counter() - start) * 1000)
                        cpu_times.append((time.process_time() - cpu_start) * 1000)
                times.sort()
                median = statistics.median(times)
                p90 = times[int(0.9 * (len(times) - 1))]
                cpu = statistics.median(cpu_times)
                print(
                    f"{name:8s} {width}x{height}: median {median:6.1f} ms/frame, p90 {p90:6.1f} ms, "
                    f"{1000 / median:5.1f} frames/s; CPU time {cpu:6.1f} ms/frame (all threads)  [{detail}]"
                )


if __name__ == "__main__":
    main()
