"""The benchmark's printed tables (machine and versions first) and its JSON file."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from eanet.bench.machine import machine_lines

__all__ = ["format_report", "write_json"]


def _num(x: Any, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    if isinstance(x, (int, float)) and abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}"


def _agree(a: dict[str, Any] | None, reference: bool = False) -> str:
    if reference:
        return "reference"
    if not a:
        return "-"
    verdict = {True: "pass", False: "FAIL", None: "reported"}[a.get("passed")]
    return f"{a['mean_joint_mm']:.3f} / {a['max_vertex_mm']:.3f} ({a['klass']} {verdict})"


def _table(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _memory_of(row: dict[str, Any]) -> str:
    mem = row.get("memory") or {}
    value = mem.get("peak_allocated_mb", mem.get("peak_rss_mb"))
    return _num(value, 0)


def format_report(results: dict[str, Any]) -> str:
    """Human-readable tables of a :func:`eanet.bench.run_bench` result."""
    out: list[str] = [f"eanet bench ({results['date']})", *machine_lines(results["machine"])]
    m = results["model"]
    out.append(f"model: {m['config']} ({m['parameters'] / 1e6:.2f} M parameters, input {m['input_size'][0]}x"
               f"{m['input_size'][1]}, hand model {m['hand_model']}); weights: {m['weights']}")  # fmt: skip
    if results.get("quick"):
        out.append("--quick: tiny network and few repeats; the numbers only show that every path runs")
    sections = results["sections"]

    inf = sections.get("inference")
    if inf is not None:
        out += ["", f"Inference, full model incl. hand-model layers, on {inf['device']} (median of repeated calls "
                "after warm-up; agreement with the fp32 reference: mean joint / max vertex difference, mm)"]  # fmt: skip
        if inf.get("note"):
            out.append(f"  {inf['note']}")
        rows = []
        for r in inf["rows"]:
            if r.get("status") != "ok":
                rows.append([r["variant"], str(r["batch"]), "-", "-", "-", r["status"]])
                continue
            rows.append([r["variant"], str(r["batch"]), _num(r["ms_per_call"], 2), _num(r["images_per_s"]),
                         _memory_of(r), _agree(r["agreement"], r["variant"].startswith("fp32 eager"))])  # fmt: skip
        if rows:
            out += _table(["variant", "batch", "ms/call", "images/s", "peak MB", "agreement"], rows, {1, 2, 3, 4})
        if inf.get("ceilings"):
            floors = ", ".join(f"{k} {_num(v['gflop_per_s'] / 1e3, 0)} TFLOP/s -> {_num(v['floor_images_per_s'])} "
                               "images/s" for k, v in inf["ceilings"].items())  # fmt: skip
            out.append(f"  {inf['model_gflop']:.2f} GFLOP per image; measured matrix-product ceilings and the "
                       f"arithmetic floors they give: {floors}")  # fmt: skip

    tr = sections.get("train-step")
    if tr is not None:
        out += ["", f"Training step (forward, losses, backward, Adam), data on {tr['device']}"]
        if tr.get("note"):
            out.append(f"  {tr['note']}")
        rows = []
        for r in tr["rows"]:
            if r.get("status") != "ok":
                rows.append([r["variant"], str(r["batch"]), "-", "-", "-", r["status"]])
            else:
                rows.append([r["variant"], str(r["batch"]), _num(r["ms_per_step"], 2), _num(r["images_per_s"]),
                             _memory_of(r), ""])  # fmt: skip
        if rows:
            out += _table(["variant", "batch", "ms/step", "images/s", "peak MB", ""], rows, {1, 2, 3, 4})
        p = tr.get("real_pipeline") or {}
        if p.get("status"):
            out.append(f"  fed by the real data pipeline: {p['status']}")
        elif p:
            out.append(f"  fed by the real data pipeline ({p['workers']} workers, hand-model targets on the device), "
                       f"{p['variant'].strip()}: {_num(p['images_per_s'])} images/s over {p['steps']} steps")  # fmt: skip

    d = sections.get("data")
    if d is not None:
        out += ["", f"Data pipeline alone ({d['images']}, crops {d['input_size'][0]}x{d['input_size'][1]}, one "
                "thread per process)",
                f"  per training sample: {d['sample_cpu_ms']:.2f} ms CPU ({d['sample_wall_ms']:.2f} ms wall); batched "
                f"hand-model targets on the CPU add {d['hand_model_targets_cpu_ms_per_sample']:.2f} ms CPU per sample",
                f"  data loader with {d['loader_workers']} workers: {_num(d['loader_samples_per_s'])} samples/s",
                f"  projected on {d['projected_cores']} cores ({d['projected_cores'] - 1} workers, targets on the GPU): "
                f"{_num(d['projected_samples_per_s'])} samples/s"]  # fmt: skip

    c = sections.get("cpu-latency")
    if c is not None:
        out += ["", f"CPU latency, batch 1 (variants interleaved in one process, median of {c['rounds']} rounds; "
                "agreement: mean joint / max vertex difference, mm)"]  # fmt: skip
        out += [f"  {n}" for n in c.get("notes", [])]
        rows = []
        for run in c["runs"]:
            for r in run["rows"]:
                ref = r["variant"] == "torch fp32 eager" or r["variant"].endswith("(unoptimised)")
                rows.append([str(r["threads"]), r["variant"], _num(r["ms"], 1), f"x{r['speedup']:.2f}",
                             _agree(c["agreement"].get(r["variant"]), ref), r.get("note", "")])  # fmt: skip
        out += _table(["threads", "variant", "ms", "speed-up", "agreement", "note"], rows, {0, 2, 3})
        for run in c["runs"]:
            fp32 = [r for r in run["rows"] if (c["agreement"].get(r["variant"]) or {}).get("klass") == "fp32"]
            best = min(fp32 or run["rows"], key=lambda r: r["ms"])
            share = best["gflop_per_s"] / run["sgemm_gflop_per_s"] * 100
            out.append(f"  {run['threads']} thread(s): {c['model_gflop']:.2f} GFLOP per image; an fp32 matrix product "
                       f"timed in the same rounds ran at {run['sgemm_gflop_per_s']:.1f} GFLOP/s, an fp32 floor of "
                       f"{run['fp32_floor_ms']:.0f} ms; the fastest fp32 path ({best['variant']}) ran at "
                       f"{best['gflop_per_s']:.1f} GFLOP/s, {share:.0f} % of it")  # fmt: skip

    mem = sections.get("memory")
    if mem is not None:
        out += ["", f"Memory: {mem['parameters']:,} parameters = {mem['weights_fp32_mb']:.0f} MB fp32 / "
                f"{mem['weights_bf16_mb']:.0f} MB bf16"]  # fmt: skip
        rows = []
        for r in mem["inference"]:
            rows.append(["inference", r["variant"], r["device"], str(r["batch"]),
                         _num(r.get("peak_allocated_mb", r.get("peak_rss_mb")), 0), _num(r.get("peak_above_start_mb"), 0)])  # fmt: skip
        for r in mem["train_step"]:
            rows.append(["train step", r["variant"], r["device"], str(r["batch"]),
                         _num(r.get("peak_allocated_mb", r.get("peak_rss_mb")), 0), _num(r.get("peak_above_start_mb"), 0)])  # fmt: skip
        for r in mem["cpu_batch1"]:
            rows.append(["inference (fresh process)", r["variant"], "cpu", "1", _num(r.get("peak_rss_mb"), 0),
                         _num(r.get("peak_above_start_mb"), 0)])  # fmt: skip
        out += _table(["what", "variant", "device", "batch", "peak MB", "above start MB"], rows, {3, 4, 5})
        out.append("  GPU: allocator peak during the call, and what the call added to what was allocated before it; "
                   "CPU: peak resident set of a fresh process, and above the same process after its imports")  # fmt: skip
    return "\n".join(out) + "\n"


def write_json(results: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    public = {k: v for k, v in results.items() if not k.startswith("_")}
    path.write_text(json.dumps(public, indent=2, default=str) + "\n", encoding="utf-8")
    return path
