"""bench/estimators.py keeps running (smallest settings; its figures are not checked),
draws and prints its test seed, and reports raw beside calibrated figures."""
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_estimators_benchmark_runs_and_prints_its_figures():
    command = [sys.executable, str(ROOT / "bench" / "estimators.py"), "--networks", "3",
               "--quick", "--size", "16"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for start in ("device: ", "seed: ", "networks: 3 random MobileNetV2-style",
                  "truth: ", "[nnabla] calibration: 3 networks", "[nnabla] profiling: ",
                  "[nnabla raw] within ±10%: ", "[nnabla calibrated] within ±10%: "):
        assert any(line.startswith(start) for line in out.splitlines()), (start, out)
    assert "MAPE: " in out and "Kendall tau: " in out
    seed = re.search(r"^seed: (\d+) \(test networks' seeds: ([\d, ]+)\)", out, re.M)
    nets = [int(s) for s in seed.group(2).split(", ")]
    assert all(s >= 10 ** 6 for s in nets)  # never calibration or development seeds
    again = subprocess.run(command + ["--seed", seed.group(1)], capture_output=True,
                           text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert seed.group(0) in again.stdout  # the printed seed reproduces the networks


def test_development_mode_reports_every_support_on_development_networks_only(tmp_path):
    command = [sys.executable, str(ROOT / "bench" / "estimators.py"), "--networks", "3",
               "--quick", "--size", "16"]
    saved = tmp_path / "dev.json"
    result = subprocess.run(command + ["--development", "7000", "--save", str(saved)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "DEVELOPMENT networks: seeds 7000-7002 (not a test" in result.stdout
    assert not any(line.startswith("seed: ") for line in lines)
    assert any(line.startswith("[nnabla supports] calibration networks, measured/raw: ")
               for line in lines)
    supports = [line.split("]")[0] for line in lines if line.startswith("[nnabla support ")]
    assert supports == [f"[nnabla support {s}" for s in
                        ("a", "b", "a,b")]
    # What the supports were judged on is kept, to try other models on it.
    data = json.loads(saved.read_text())
    assert data["seeds"] == [7000, 7001, 7002]
    nnabla = data["runtimes"]["nnabla"]
    assert len(nnabla["features"]) == len(nnabla["truth"]) == 3
    assert len(nnabla["calibration"]["features"]) == len(nnabla["calibration"]["measured"])
    assert all(len(row) == 2 for row in nnabla["features"])  # sum of times, functions
    no_test = subprocess.run(command + ["--save", str(tmp_path / "test.json")],
                             capture_output=True, text=True, timeout=600)
    assert no_test.returncode == 2 and "--save: only with --development" in no_test.stderr
    refused = subprocess.run(command + ["--development", "7998"], capture_output=True,
                             text=True, timeout=600)
    assert refused.returncode == 2
    assert "--development: 3 networks from 7998 leave the development seeds" in \
        refused.stderr
