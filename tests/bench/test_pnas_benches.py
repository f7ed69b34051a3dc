"""The ProxylessNAS benchmarks keep running: each once, in its ``--quick`` mode.

They only have to run and print their tables; what they measure is not asserted (the
figures are the benchmarks' to report, and time is never asserted on).
"""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_bench(name, *args):
    result = subprocess.run([sys.executable, str(ROOT / "bench" / name), "--quick", *args],
                            capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if "[nnabla][INFO]" not in line]


def test_pnas_memory_prints_the_three_steps_and_the_ratios():
    lines = run_bench("pnas_memory.py", "--repeats", "1")
    assert lines[0].startswith("ProxylessNAS step memory: layout [[1, 8, 1, 1]")
    assert lines[1].split()[:2] == ["step", "what"]
    assert [line.split()[0] for line in lines[2:5]] == ["search", "child", "full"]
    for line in lines[2:5]:
        float(line.split()[-1])  # the peak growth in MiB
    assert lines[5].startswith("child architecture: [k3_e1]")
    assert lines[6].startswith("search / child: ") and "target <= 1.3" in lines[6]
    assert lines[7].startswith("search / full: ")


def test_pnas_latency_search_runs_both_searches_and_prints_the_table(tmp_path):
    lines = run_bench("pnas_latency_search.py", "--keep", str(tmp_path),
                      "--retrain-seeds", "1")
    assert lines[0].startswith("ProxylessNAS on the digits without and with a latency")
    assert lines[1].split()[:2] == ["architecture", "without"]
    assert lines[2].split()[:2] == ["architecture", "with"]
    rows = {line.split()[0] for line in lines[4:-1]}
    assert {"search_arch_latency_ms", "estimated_latency_ms", "measured_latency_ms",
            "params", "test_accuracy"} <= rows
    assert lines[-1].startswith("with/without side by side: estimated ")
    assert "mean test accuracy over 2 retrainings" in lines[-1]
    for name in ("without", "with"):
        assert (tmp_path / name / "summary.json").is_file()
        assert (tmp_path / name / "arch.json").is_file()
        assert (tmp_path / f"{name}-seed1" / "summary.json").is_file()
        retrained = [line for line in lines if line.startswith(
            f"test_accuracy, retrained {name} ")]
        assert len(retrained) == 1 and "(seeds 0-1; mean " in retrained[0]


def test_latency_weight_rule():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import pnas_latency_search as bench
    finally:
        sys.path.remove(str(ROOT / "bench"))
    assert bench.SELECTION_SEED != bench._seed()  # never the verdict's seed
    # (measured latency ratio, accuracy lost) by weight
    assert bench.chosen_weight({0.03: (0.9, 0.0), 0.06: (0.7, 0.005),
                                0.1: (0.6, 0.004), 0.3: (0.4, 0.03)}) == 0.06
    assert bench.chosen_weight({0.03: (0.95, 0.0), 0.06: (0.85, 0.0),
                                0.3: (0.5, 0.02)}) == 0.06  # fastest within the loss
    assert bench.chosen_weight({0.1: (0.5, 0.02), 0.3: (0.4, 0.03)}) == 0.1
