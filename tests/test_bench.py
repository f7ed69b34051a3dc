"""Benchmarks keep running: each one runs once with the smallest settings."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_module_overhead_benchmark_runs_and_compares_equal_networks():
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "module_overhead.py"), "--repeats", "1",
         "--rounds", "1", "--batch", "2"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("network: 6 conv-bn-relu layers, 72954 parameters")
    assert lines[2].startswith("graph build (ms)") and lines[3].startswith("train step (ms)")


def test_darts_step_benchmark_builds_equal_networks_and_reports_ratios():
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "darts_step.py"), "--rounds", "1",
         "--steps", "1", "--batch", "2", "--size", "16"], capture_output=True, text=True,
        timeout=600)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("DARTS supernet: init_channels 8, 5 cells, batch 2, 16x16")
    assert "394,434 trainable parameters" in lines[0]
    assert lines[2].startswith("train step (ms)") and lines[3].startswith("peak memory")


@pytest.mark.slow
def test_sampling_search_benchmark_prints_its_table():
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "sampling_search.py"), "--quick", "--seed",
         "1"], capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("base seed 1; digits ")
    assert "\nprotocol: seeds 1..2 per searcher; 4 candidates per run" in out
    assert "latency bound: " in out and "supernet fairnas: 1 epochs" in out
    for line in ("\nevolution ", "\nrandom ", "  spos     tau ", "  fairnas  tau ",
                 "  evolution 2 ", "  random 2 ", "within the bound in measurement: ",
                 "target: evolution's mean best >= random's: ",
                 "BELOW THE ISSUE'S SPEC: evaluations 4 < 200; seeds 2 < 5; tau archs "
                 "4 < 12"):
        assert line in out, line


def test_timing_window_benchmark_prints_its_table():
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "timing_window.py"), "--seed", "3",
         "--networks", "1", "--seconds", "1.5", "--windows", "0.1,0.5"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if "[nnabla]" not in line]
    assert lines[0].startswith("timing windows: seed 3, 1 networks of digits.yaml's")
    assert lines[1].split() == ["network", "stream", "ms", "window", "s", "windows",
                                "median", "p95", "max", "above", "+10%"]
    assert [line.split()[2] for line in lines[2:4]] == ["0.1", "0.5"]
    assert lines[-1].startswith("shortest window with at most 1% above +10% for every")


def test_proxies_benchmark_prints_correlations_and_the_search_comparison():
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "proxies.py"), "--seed", "1", "--archs", "3",
         "--channels", "2", "--epochs", "1", "--proxies", "params,synflow", "--keep", "1",
         "--pool", "2", "--search-seeds", "2", "--bootstrap", "20"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("seed 1; 3 NAS-Bench-201 architectures, network C=2 N=1")
    assert "[NOT THE SPEC" in lines[0]
    rows = {line.split()[0]: line.split() for line in lines
            if line.split()[:1] in (["params"], ["synflow"])}
    assert sorted(rows) == ["params", "synflow"]
    for row in rows.values():  # rho [low, high]  tau [low, high]  seconds
        assert -1 <= float(row[1]) <= 1 and -1 <= float(row[4].strip("[,")) <= 1
    assert any(line.strip().startswith("random ") for line in lines)
    assert any(line.strip().startswith("pre-selected by synflow ") for line in lines)
