"""``eanet bench``: every section's code path runs (``--quick``: tiny network, numbers meaningless), the report names
the machine and versions, the JSON holds every number; the timing and agreement helpers. No timing assertions."""

from __future__ import annotations

import json

import pytest
import torch

from eanet.cli import main


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One ``eanet bench --quick`` run of all sections (about a minute on a loaded 2-core box)."""
    out = tmp_path_factory.mktemp("bench")
    code = main(["bench", "--quick", "--cache-dir", str(out / "work"), "--out", str(out / "bench.json"),
                 "--cpu-threads", "1"])  # fmt: skip
    return code, json.loads((out / "bench.json").read_text())


def test_quick_bench_writes_every_section(quick_run, capsys):
    code, results = quick_run
    assert code == 0
    assert set(results["sections"]) == {"inference", "train-step", "data", "cpu-latency", "memory"}
    machine = results["machine"]
    for key in ("cpu", "cpu_cores_usable", "torch", "onnxruntime", "python", "cpu_flags"):
        assert key in machine
    assert results["model"]["parameters"] > 0 and "synthetic data" in results["model"]["weights"]


def test_inference_rows_have_timings_memory_and_agreement(quick_run):
    _, results = quick_run
    rows = results["sections"]["inference"]["rows"]
    ok = [r for r in rows if r["status"] == "ok"]
    assert {r["batch"] for r in ok} == {1, 2}
    assert ok[0]["variant"].startswith("fp32 eager (reference)")
    for r in ok:
        assert r["ms_per_call"] > 0 and r["images_per_s"] > 0 and r["timing"]["repeats"] >= 1
        assert r["agreement"]["passed"] is True, r  # every CPU-measurable path agrees with the reference
        assert r["memory"]
    if not torch.cuda.is_available():
        skipped = [r for r in rows if r["status"] != "ok"]
        assert skipped and all(r["status"] == "not measured: no CUDA device" for r in skipped)
        assert any("CUDA graphs" in r["variant"] for r in skipped)


def test_cpu_latency_runs_the_reference_and_fast_paths_side_by_side(quick_run):
    _, results = quick_run
    cpu = results["sections"]["cpu-latency"]
    (run,) = cpu["runs"]
    assert run["threads"] == 1
    names = [r["variant"] for r in run["rows"]]
    assert names[0] == "torch fp32 eager" and run["rows"][0]["speedup"] == 1.0  # this process: default environment
    assert "torch fp32 fold-BN" in names
    assert all(len(r["timing"]["times_ms"]) == cpu["rounds"] for r in run["rows"])
    assert all(cpu["agreement"][n]["passed"] for n in names)
    # The arithmetic floor is measured in the same rounds: the model's GFLOP over an fp32 matrix product's rate.
    assert cpu["model_gflop"] > 0 and run["sgemm_gflop_per_s"] > 0
    assert run["fp32_floor_ms"] == pytest.approx(cpu["model_gflop"] / run["sgemm_gflop_per_s"] * 1e3)
    inference = results["sections"]["inference"]
    assert inference["ceilings"]["fp32"]["floor_images_per_s"] > 0 and "bf16" in inference["ceilings"]


def test_cpu_latency_times_the_default_environment_in_a_child_process(tmp_path, monkeypatch):
    """With OMP_WAIT_POLICY set here, the unoptimised reference runs in a child process without it, interleaved."""
    from eanet.bench.cpu import DEFAULT_ENV_VARIANT

    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    out = tmp_path / "cpu.json"
    assert main(["bench", "--quick", "--sections", "cpu-latency", "--cpu-threads", "1", "--cache-dir",
                 str(tmp_path / "work"), "--out", str(out)]) == 0  # fmt: skip
    cpu = json.loads(out.read_text())["sections"]["cpu-latency"]
    rows = cpu["runs"][0]["rows"]
    assert rows[0]["variant"] == DEFAULT_ENV_VARIANT and rows[0]["speedup"] == 1.0
    assert len(rows[0]["timing"]["times_ms"]) == cpu["rounds"] and rows[0]["ms"] > 0
    assert cpu["omp_wait_policy"] == "PASSIVE"


def test_train_data_and_memory_sections(quick_run):
    _, results = quick_run
    train = results["sections"]["train-step"]
    assert any(r["status"] == "ok" and r["images_per_s"] > 0 for r in train["rows"])
    assert train["real_pipeline"]["images_per_s"] > 0
    data = results["sections"]["data"]
    assert data["sample_cpu_ms"] > 0 and data["loader_samples_per_s"] > 0 and data["projected_cores"] == 16
    memory = results["sections"]["memory"]
    assert memory["weights_fp32_mb"] == pytest.approx(2 * memory["weights_bf16_mb"])
    assert memory["inference"] and memory["train_step"]
    (fresh,) = memory["cpu_batch1"]  # --quick: the PyTorch path only, measured in a fresh process
    assert fresh["imported_mb"] < fresh["loaded_mb"] <= fresh["peak_rss_mb"]


def test_report_names_the_machine_and_versions(quick_run):
    from eanet.bench import format_report

    _, results = quick_run
    text = format_report(results)
    assert text.splitlines()[1].startswith("CPU: ")
    assert f"torch {torch.__version__}" in text
    for title in ("Inference", "Training step", "Data pipeline alone", "CPU latency, batch 1", "Memory:"):
        assert title in text
    if not torch.cuda.is_available():
        assert "not measured: no CUDA device" in text


def test_bad_arguments_are_errors(capsys):
    assert main(["bench", "--sections", "inference,warp"]) == 2
    assert "warp" in capsys.readouterr().err
    assert main(["bench", "--batch-sizes", "0,2"]) == 2
    assert "--batch-sizes" in capsys.readouterr().err


def test_interleaved_timing_rotates_and_counts_calls():
    from eanet.bench.timing import time_calls, time_interleaved

    order: list[str] = []
    fns = {name: (lambda name=name: order.append(name)) for name in "abc"}
    timings = time_interleaved(fns, torch.device("cpu"), warmup=2, repeats=3)
    assert [t.repeats for t in timings.values()] == [3, 3, 3]
    timed = order[6:]  # 2 warm-up calls each come first
    assert timed == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    t = time_calls(lambda: None, torch.device("cpu"), warmup=0, repeats=4)
    assert t.repeats == 4 and t.min_ms <= t.median_ms <= t.max_ms


def test_agreement_metrics_on_known_offsets():
    from eanet.bench.agreement import compare_predictions
    from eanet.structures import HandPrediction, TwoHandPrediction

    def pred(offset_m: float) -> TwoHandPrediction:
        def hand():
            z = torch.zeros
            return HandPrediction(z(2, 6), z(2, 90), z(2, 3), z(2, 45), z(2, 16, 3, 3), z(2, 10), z(2, 3), z(2, 21, 3),
                                  z(2, 21, 3) + offset_m, z(2, 5, 3) + 2 * offset_m, z(2, 3), z(2, 21, 2))  # fmt: skip

        return TwoHandPrediction(hand(), hand(), torch.zeros(2, 3))

    a = compare_predictions(pred(0.0), pred(1e-4 / 3**0.5), "fp32")  # every joint 0.1 mm away (x, y, z equal)
    assert a.mean_joint_mm == pytest.approx(0.1) and a.max_vertex_mm == pytest.approx(0.2)
    assert a.passed is False  # vertices 0.2 mm > 0.1 mm
    b = compare_predictions(pred(0.0), pred(1e-3 / 3**0.5), "reduced")
    assert b.mean_joint_mm == pytest.approx(1.0) and b.passed is False
    c = compare_predictions(pred(0.0), pred(2e-4 / 3**0.5), "reduced")
    assert c.passed is True and c.max_vertex_mm == pytest.approx(0.4)


def test_synthetic_cache_is_reused_when_complete_and_rewritten_when_damaged(tmp_path, monkeypatch, caplog):
    """The benchmark's synthetic set is written once; a damaged manifest means a damaged cache, written again."""
    from eanet.bench import workload
    from eanet.data.synthetic_manifest import MANIFEST_NAME

    root = workload.synthetic_root(tmp_path, num_frames=1, cameras=1, size=(64, 64))
    assert json.loads((root / MANIFEST_NAME).read_text())["status"] == "complete"

    calls = []
    monkeypatch.setattr(workload, "generate_synthetic_dataset", lambda cfg, out, **kw: calls.append(out))
    assert workload.synthetic_root(tmp_path, num_frames=1, cameras=1, size=(64, 64)) == root
    assert calls == []

    (root / MANIFEST_NAME).write_text("{not json")
    with caplog.at_level("WARNING", logger="eanet.bench.workload"):
        assert workload.synthetic_root(tmp_path, num_frames=1, cameras=1, size=(64, 64)) == root
    assert calls == [root]
    assert "writing the cached dataset again" in caplog.text and MANIFEST_NAME in caplog.text
