"""Benchmark of the InterHand2.6M data pipeline at real scale.

Generates annotation-only files with the train H+M count (1,361,062 annotations; ``eanet.data.scale_annotations``)
unless they exist, then measures, each heavy step in a fresh subprocess so peak memory is its own:

* index build: wall time and peak resident memory (``ru_maxrss``);
* dataset open: first open (computes and caches the sample list) and a later open (what every run and worker pays);
* random access per sample (annotation reads, geometry, targets, crop of an in-memory 512x334 image);
* resident memory of data-loader workers after serving batches (RSS, and PSS/private from ``smaps_rollup``, since
  RSS counts the shared, read-only index pages every worker maps);
* crop-and-augment throughput on 512x334 JPEGs, one process, one thread (decode + warp + colour);
* the same measures for a plain ``json.load`` reader that keeps one dict per annotation (the official loader).

Prints a table that names the machine and writes the numbers as JSON. Example::

    nice -n 10 .venv/bin/python tools/bench_data.py --root /tmp/ih26m_scale --json bench_data.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()


def machine() -> dict:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024**2:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    import numpy

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "platform": platform.platform(),
    }


def smaps(pid: int | str = "self") -> dict:
    out = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            parts = line.split()
            if parts[0] in ("Rss:", "Pss:", "Private_Clean:", "Private_Dirty:"):
                out[parts[0][:-1]] = int(parts[1]) / 1024
    except OSError:
        pass
    if out:
        out["Private"] = out.pop("Private_Clean", 0) + out.pop("Private_Dirty", 0)
    return {k: round(v, 1) for k, v in out.items()}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args: list[str]) -> dict:
    """Run ``bench_data.py --child ...`` and return the JSON it prints on its last line."""
    proc = subprocess.run([sys.executable, str(HERE), "--child", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"child {args[0]} failed with {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------------------------------
# child steps


def hand_data():
    """The built-in open hand; a random MANO-shaped model when it is unavailable (timings do not depend on it)."""
    from eanet.errors import UserError
    from eanet.hand_model import load_hand_model_data

    try:
        return load_hand_model_data("open", "right"), load_hand_model_data("open", "left")
    except UserError as err:
        print(f"open hand model unavailable ({err}); using a random MANO-shaped model", file=sys.stderr)
    import numpy as np

    from eanet.hand_model.base import HandModelData
    from eanet.hand_model.skeleton import MANO_PARENTS, MANO_TIP_VERTICES_EVAL, MANO_TIP_VERTICES_TRAIN

    rng = np.random.default_rng(0)
    V = 778
    weights = rng.random((V, 16)) ** 4
    reg = rng.random((16, V)) ** 8

    def make(side):
        return HandModelData(
            name="random", side=side, v_template=rng.standard_normal((V, 3)) * 0.04,
            shapedirs=rng.standard_normal((V, 3, 10)) * 1e-3, posedirs=rng.standard_normal((V, 3, 135)) * 1e-3,
            J_regressor=reg / reg.sum(1, keepdims=True), weights=weights / weights.sum(1, keepdims=True),
            parents=np.array(MANO_PARENTS), faces=np.zeros((0, 3), np.int64), hands_mean=np.zeros(45),
            tip_vertices=MANO_TIP_VERTICES_TRAIN, tip_vertices_eval=MANO_TIP_VERTICES_EVAL, is_mano=False)  # fmt: skip

    return make("right"), make("left")


def sample_jpeg(path: Path) -> bytes:
    """A 334x512 JPEG with photographic content (the project's example photo, resized)."""
    import cv2
    import numpy as np

    src = HERE.parents[2] / "shared" / "assets" / "images" / "example_image1.png"
    img = cv2.imread(str(src)) if src.is_file() else None
    if img is None:
        rng = np.random.default_rng(0)
        img = cv2.GaussianBlur(rng.integers(0, 255, (512, 334, 3), dtype=np.uint8), (7, 7), 0)
    img = cv2.resize(img, (334, 512), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    path.write_bytes(buf.tobytes())
    return buf.tobytes()


def step_build(root: str, index_dir: str) -> dict:
    from eanet.data.index import build_index
    from eanet.data.release import release_paths

    t = time.perf_counter()
    header = build_index(release_paths(root, "train"), Path(index_dir))
    return {"seconds": time.perf_counter() - t, "peak_rss_mb": peak_rss_mb(), "timings": header["build_timings"],
            "counts": header["counts"]}  # fmt: skip


def step_open(root: str, index_dir: str, samples: int, tmp: str) -> dict:
    import cv2
    import numpy as np
    import torch

    from eanet.data.augment import AugmentConfig
    from eanet.data.images import read_image
    from eanet.data.interhand26m import InterHand26M

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    hands = hand_data()
    kw = dict(train=True, augment=AugmentConfig(), index_dir=index_dir)
    t = time.perf_counter()
    ds = InterHand26M(root, "train", hands, **kw)
    first_open = time.perf_counter() - t
    opens = []
    for _ in range(3):
        t = time.perf_counter()
        ds = InterHand26M(root, "train", hands, **kw)
        opens.append(time.perf_counter() - t)
    rss_after_open = smaps()

    jpeg = Path(tmp) / "bench.jpg"
    sample_jpeg(jpeg)
    decoded = read_image(jpeg)
    ds.read_image = lambda path: decoded  # annotations only: every sample gets the same decoded 512x334 image
    rng = random.Random(0)
    order = [rng.randrange(len(ds)) for _ in range(samples)]
    for i in order[:50]:
        ds[i]
    t, c = time.perf_counter(), time.process_time()
    for i in order:
        ds[i]
    access_ms = (time.perf_counter() - t) / samples * 1e3
    access_cpu_ms = (time.process_time() - c) / samples * 1e3
    rss_after_access = smaps()

    return {
        "num_samples": len(ds),
        "filter_counts": ds.filter_counts,
        "first_open_s": first_open,
        "open_s": float(np.median(opens)),
        "main_after_open": rss_after_open,
        "main_after_access": rss_after_access,
        "access_ms": access_ms,
        "access_cpu_ms": access_cpu_ms,
    }


def step_workers(root: str, index_dir: str, workers: int, batches: int, tmp: str) -> dict:
    """A fresh training-like process: open the dataset (cached), start a loader, serve batches, read worker memory."""
    import cv2
    import numpy as np
    import torch

    from eanet.data import build_dataloader
    from eanet.data.augment import AugmentConfig
    from eanet.data.interhand26m import InterHand26M
    from eanet.hand_model.layer import HandModelLayer

    torch.set_num_threads(1)
    baseline = smaps()  # python + torch + numpy + OpenCV imported, nothing opened
    hands = hand_data()
    ds = InterHand26M(root, "train", hands, train=True, augment=AugmentConfig(), index_dir=index_dir)
    jpeg_bytes = sample_jpeg(Path(tmp) / "workers.jpg")

    def decode(path):
        return cv2.cvtColor(cv2.imdecode(np.frombuffer(jpeg_bytes, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)

    ds.read_image = decode  # annotation-only release: decode the same 512x334 JPEG for every sample
    layers = (HandModelLayer(hands[0]), HandModelLayer(hands[1]))
    main_before = smaps()
    loader = build_dataloader(ds, 32, layers, train=True, num_workers=workers)
    it = iter(loader)
    next(it)
    t = time.perf_counter()
    for _ in range(batches):
        next(it)
    rate = batches * 32 / (time.perf_counter() - t)
    mem = [smaps(w.pid) for w in it._workers]  # noqa: SLF001 (benchmark introspection)
    del it
    return {"baseline_process": baseline, "main_before_loader": main_before, "workers": mem,
            "loader_samples_per_s": rate, "loader_workers": workers, "batches": batches}  # fmt: skip


def step_crop(tmp: str, samples: int) -> dict:
    import cv2
    import numpy as np

    from eanet.data.augment import AugmentConfig, crop_image, draw_augmentation, scale_colors
    from eanet.data.images import read_image

    cv2.setNumThreads(1)
    paths = []
    for k in range(16):
        p = Path(tmp) / f"crop{k}.jpg"
        sample_jpeg(p)
        paths.append(p)
    rng = np.random.default_rng(0)
    cfg = AugmentConfig()

    def one(k: int) -> np.ndarray:
        img = read_image(paths[k % len(paths)])
        box = np.array([60 + rng.uniform(-20, 20), 150 + rng.uniform(-20, 20), 200.0, 200.0])
        aug = draw_augmentation(rng, cfg)
        crop, _, _ = crop_image(img, box, (256, 256), aug)
        return scale_colors(crop, aug.color_scale)

    for k in range(20):
        one(k)
    t, c = time.perf_counter(), time.process_time()
    for k in range(samples):
        one(k)
    return {"samples_per_s": samples / (time.perf_counter() - t), "samples_per_cpu_s": samples / (time.process_time() - c)}


def step_jsonload(root: str, samples: int) -> dict:
    """The official loader's data structures: four json.load's and one dict of arrays per annotation."""



    limit = 16 << 30  # keep a shared machine alive: fail with MemoryError instead of swapping everyone out
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        return _jsonload(root, samples)
    except MemoryError:
        return {"error": f"MemoryError: more than {limit >> 30} GiB of address space", "peak_rss_mb": peak_rss_mb()}


def _jsonload(root: str, samples: int) -> dict:
    import copy

    import numpy as np

    from eanet.data.release import release_paths

    paths = release_paths(root, "train")
    t = time.perf_counter()
    db = json.load(paths.data.open())
    cameras = json.load(paths.camera.open())
    joints = json.load(paths.joint_3d.open())
    mano = json.load(paths.mano.open())
    load_s = time.perf_counter() - t
    images = {im["id"]: im for im in db["images"]}
    datalist = []
    for ann in db["annotations"]:
        img = images[ann["image_id"]]
        cap, frame, cam = str(img["capture"]), str(img["frame_idx"]), img["camera"]
        R = np.array(cameras[cap]["camrot"][cam], dtype=np.float32)
        t_ = -R @ np.array(cameras[cap]["campos"][cam], dtype=np.float32)
        world = np.array(joints[cap][frame]["world_coord"], dtype=np.float32)
        joint_cam = world @ R.T + t_
        datalist.append({
            "img_path": img["file_name"], "img_shape": (img["height"], img["width"]),
            "bbox": np.array(ann["bbox"], np.float32), "joint_img": joint_cam[:, :2].copy(), "joint_cam": joint_cam,
            "joint_valid": np.array(joints[cap][frame]["joint_valid"], np.float32).reshape(-1, 1),
            "joint_trunc": np.array(ann["joint_valid"], np.float32).reshape(-1, 1),
            "cam_param": {"R": R, "t": t_, "focal": np.array(cameras[cap]["focal"][cam], np.float32),
                          "princpt": np.array(cameras[cap]["princpt"][cam], np.float32)},
            "mano_param": mano.get(cap, {}).get(frame, {"right": None, "left": None}),
            "hand_type": ann["hand_type"]})  # fmt: skip
    total_s = time.perf_counter() - t
    rss = smaps()
    rng = random.Random(0)
    order = [rng.randrange(len(datalist)) for _ in range(samples)]
    t = time.perf_counter()
    for i in order:
        copy.deepcopy(datalist[i])  # what the official __getitem__ does first
    access_ms = (time.perf_counter() - t) / samples * 1e3

    # A forked worker shares these pages at first; reading entries updates reference counts and copies pages.
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        for i in [rng.randrange(len(datalist)) for _ in range(20000)]:
            copy.deepcopy(datalist[i])
        os.write(w, json.dumps(smaps()).encode())
        os._exit(0)
    os.close(w)
    worker = json.loads(os.read(r, 1 << 16).decode())
    os.waitpid(pid, 0)
    return {"json_load_s": load_s, "total_s": total_s, "peak_rss_mb": peak_rss_mb(), "after_load": rss,
            "access_ms": access_ms, "worker_after_20k_reads": worker, "num": len(datalist)}  # fmt: skip


# ------------------------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", help="folder for (or with) the annotation-only release")
    parser.add_argument("--annotations", type=int, default=1_361_062)
    parser.add_argument("--samples", type=int, default=2000, help="random accesses timed")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--skip-json-load", action="store_true", help="skip the json.load reader (needs ~10 GB)")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()

    if args.child:
        step, rest = args.child[0], args.child[1:]
        fn = {"build": step_build, "open": step_open, "workers": step_workers, "crop": step_crop,
              "jsonload": step_jsonload}[step]  # fmt: skip
        conv = [int(x) if x.isdigit() else x for x in rest]
        print(json.dumps(fn(*conv)))
        return 0

    if not args.root:
        parser.error("--root is required")
    root = Path(args.root)
    tmp = root / "bench_tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    results: dict = {"machine": machine(), "annotations": args.annotations,
                     "loadavg": Path("/proc/loadavg").read_text().split()[0]}  # fmt: skip
    data_json = root / "annotations" / "train" / "InterHand2.6M_train_data.json"
    if not data_json.is_file():
        from eanet.data.scale_annotations import write_scale_annotations

        results["generate"] = write_scale_annotations(root, "train", args.annotations)
    results["json_bytes"] = sum(p.stat().st_size for p in data_json.parent.glob("*.json"))
    index_dir = root / "index"
    results["build"] = child(["build", str(root), str(index_dir)])
    results["open"] = child(["open", str(root), str(index_dir), str(args.samples), str(tmp)])
    results["workers"] = child(["workers", str(root), str(index_dir), str(args.workers), str(args.batches), str(tmp)])
    results["crop"] = child(["crop", str(tmp), str(max(500, args.samples // 2))])
    if not args.skip_json_load:
        results["json_load"] = child(["jsonload", str(root), str(args.samples)])
    print_table(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


def print_table(r: dict) -> None:
    m = r["machine"]
    b, o, c, wk = r["build"], r["open"], r["crop"], r["workers"]
    workers = wk["workers"]
    w_rss = max(w.get("Rss", 0) for w in workers) if workers else float("nan")
    w_pss = max(w.get("Pss", 0) for w in workers) if workers else float("nan")
    w_priv = max(w.get("Private", 0) for w in workers) if workers else float("nan")
    rows = [
        ("annotations (train H+M count) / usable samples", f"{r['annotations']:,} / {o['num_samples']:,}", ""),
        ("annotation JSON size", f"{r['json_bytes'] / 1e9:.2f} GB", ""),
        ("index build time", f"{b['seconds'] / 60:.1f} min", "< 15 min"),
        ("index build peak memory", f"{b['peak_rss_mb']:.0f} MB", "< 4 GB"),
        ("dataset first open (sample list)", f"{o['first_open_s']:.1f} s", "once"),
        ("dataset open", f"{o['open_s'] * 1e3:.0f} ms", "< 1 s"),
        ("random access per sample (CPU time; wall)", f"{o['access_cpu_ms']:.2f} ms; {o['access_ms']:.2f} ms", ""),
        ("process with torch etc. imported, nothing opened: RSS / PSS / private",
         "{Rss:.0f} / {Pss:.0f} / {Private:.0f} MB".format(**wk["baseline_process"]), ""),  # fmt: skip
        (f"worker after {wk['batches']} batches of 32: RSS / PSS / private (max of {wk['loader_workers']})",
         f"{w_rss:.0f} / {w_pss:.0f} / {w_priv:.0f} MB", "< 300 MB"),  # fmt: skip
        (f"loader throughput, {wk['loader_workers']} workers (decode+crop+targets)",
         f"{wk['loader_samples_per_s']:.0f} samples/s", ""),  # fmt: skip
        ("crop-and-augment, 512x334 JPEG, per CPU-second (wall)",
         f"{c['samples_per_cpu_s']:.0f}/s ({c['samples_per_s']:.0f}/s)", ">= 300/s"),  # fmt: skip
    ]
    if "json_load" in r and "error" in r["json_load"]:
        rows.append(("json.load reader", r["json_load"]["error"], ""))
    elif "json_load" in r:
        j = r["json_load"]
        ww = j["worker_after_20k_reads"]
        rows += [
            ("json.load reader: load + datalist", f"{j['total_s']:.0f} s", ""),
            ("json.load reader: peak memory", f"{j['peak_rss_mb']:.0f} MB", ""),
            ("json.load reader: access per sample", f"{j['access_ms']:.3f} ms", ""),
            ("json.load reader: forked worker RSS / private after 20k reads",
             f"{ww.get('Rss', 0):.0f} / {ww.get('Private', 0):.0f} MB", ""),  # fmt: skip
        ]
    print(f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory']}; Python {m['python']}, NumPy {m['numpy']}; "
          f"load average at start {r.get('loadavg', '?')}")
    print(f"| {'measure':<62} | {'value':>22} | {'target':>9} |")
    print(f"|{'-' * 64}|{'-' * 24}:|{'-' * 11}|")
    for name, value, target in rows:
        print(f"| {name:<62} | {value:>22} | {target:>9} |")


if __name__ == "__main__":
    raise SystemExit(main())
