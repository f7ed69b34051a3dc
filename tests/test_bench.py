"""Benchmarks keep running: each one runs once with the smallest settings."""
import subprocess
import sys
from pathlib import Path

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
