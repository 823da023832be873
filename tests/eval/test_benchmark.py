"""The evaluator benchmark returns its numbers and writes its report only to the stream it is given."""

from __future__ import annotations

import io

from eanet.eval.benchmark import BenchmarkResult, main, run_benchmark


def test_run_benchmark_returns_numbers_and_prints_nothing(capsys):
    result = run_benchmark("cpu", batch_size=64, samples=256)
    assert isinstance(result, BenchmarkResult)
    assert result.samples == 256 and result.update_s > 0 and result.compute_s >= 0
    assert result.mpjpe_mm > 0 and result.sequences > 0
    assert capsys.readouterr().out == ""


def test_main_writes_the_report_to_the_given_stream(capsys):
    stream = io.StringIO()
    assert main(["--device", "cpu", "--batch-size", "64", "--samples", "128"], stream=stream) == 0
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("device: CPU") and "128 samples" in lines[1]
    assert lines[2].startswith("update:") and "samples/s" in lines[2]
    assert capsys.readouterr().out == ""
