"""bench/estimators.py keeps running (smallest settings; its figures are not checked)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_estimators_benchmark_runs_and_prints_its_figures():
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "estimators.py"), "--networks", "3",
         "--quick", "--size", "32"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for start in ("device: ", "networks: 3 random MobileNetV2-style", "profiling: ",
                  "measuring: ", "[median] within ±10%: ", "[median] MAPE: ",
                  "[median] Kendall tau: ", "[min] within ±10%: "):
        assert any(line.startswith(start) for line in out.splitlines()), (start, out)
