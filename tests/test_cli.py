"""main.py end to end on a tiny digits config: outputs, resume, and user errors."""
import json
import subprocess
import sys
from pathlib import Path

import h5py
import pytest
import yaml

from tests.tiny import tiny_run

ROOT = Path(__file__).resolve().parents[1]

TINY = tiny_run()


def main_py(*args, cwd=None):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=600, cwd=cwd)


def write(path, data):
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    config = write(folder / "tiny.yaml", TINY)
    out = folder / "out"
    result = main_py("--config", config, "--output-path", out)
    assert result.returncode == 0, result.stderr
    return config, out, result


@pytest.mark.slow
def test_search_then_train_writes_every_output(finished_run):
    _, out, result = finished_run
    for name in ("config.yaml", "log.txt", "arch.json", "search_weights.h5", "weights.h5",
                 "summary.json"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    for key in ("test_accuracy", "params", "search_time_s", "train_time_s",
                "search_valid_accuracy", "arch_path", "estimated_latency_ms",
                "measured_latency_ms", "estimated_params", "estimated_activation_bytes"):
        assert key in summary, key
    assert summary["estimated_latency_ms"] > 0 and summary["measured_latency_ms"] > 0
    assert summary["estimated_params"] == summary["params"] > 0  # one count
    assert 0.0 <= summary["test_accuracy"] <= 1.0 and summary["params"] > 0
    assert "test_accuracy" in result.stdout
    arch = json.loads((out / "arch.json").read_text())
    assert arch["space"] == "darts" and arch["options"]["num_nodes"] == 2
    assert sum(op != "none" for op in arch["choices"].values()) == 8  # 2 per node
    with h5py.File(out / "weights.h5", "r") as f:
        assert "classifier/W" in f
    assert yaml.safe_load((out / "config.yaml").read_text())["search"]["epochs"] == 2


@pytest.mark.slow
def test_tensorboard_has_losses_and_every_alpha(finished_run):
    from tests.tensorboard_events import scalar_tags

    _, out, _ = finished_run
    tags = scalar_tags(out / "tensorboard")
    for tag in ("search/loss", "search/valid_error", "search/lr", "train/loss",
                "train/valid_error", "train/lr"):
        assert tag in tags, tag
    alpha_tags = {t for t in tags if t.startswith("alpha/")}
    # 2 shared alphas per cell kind... num_nodes=2: 5 edges per kind, 8 candidates each.
    assert len(alpha_tags) == 2 * 5 * 8


@pytest.mark.slow
def test_rerun_resumes_instead_of_starting_again(finished_run):
    config, out, _ = finished_run
    before = json.loads((out / "summary.json").read_text())
    result = main_py("--config", config, "--output-path", out)
    assert result.returncode == 0, result.stderr
    log = (out / "log.txt").read_text()
    assert "search: resumed from checkpoint 00002-000000 (all 2 epochs done)" in log
    assert "train: resumed from checkpoint 00002-000000 (all 2 epochs done)" in log
    after = json.loads((out / "summary.json").read_text())
    assert after["test_accuracy"] == before["test_accuracy"]


@pytest.mark.slow
def test_train_only_config_uses_the_given_arch(finished_run, tmp_path):
    _, out, _ = finished_run
    config = dict(TINY, train=dict(TINY["train"], arch=str(out / "arch.json"), epochs=1))
    del config["search"]
    path = write(tmp_path / "train.yaml", config)
    result = main_py("--config", path, "--output-path", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["arch_path"] == str(out / "arch.json") and "search_time_s" not in summary


def test_output_folder_of_another_run_is_refused(finished_run, tmp_path):
    _, out, _ = finished_run
    path = write(tmp_path / "other.yaml", dict(TINY, seed=4))
    result = main_py("--config", path, "--output-path", out)
    assert result.returncode == 2
    assert "holds a different run's config.yaml" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args, message", [
    (["--config", "missing.yaml"], "error: missing.yaml: no such config file"),
    (["--config", "{cfg}", "search.epochs=zero"],
     "error: search.epochs: expected an integer >= 1 and <= 10000, got 'zero'"),
    (["--config", "{cfg}", "search.space.name=dart"],
     "error: search.space.name: unknown search space 'dart'; did you mean 'darts'?"),
    (["--config", "{cfg}", "context=cudnn"], "error: context: cudnn needs NNabla's CUDA "),
    (["--config", "{cfg}", "train.arch={tmp}/nothing.json"],
     "error: train.arch: expected no value when the config has a search section"),
    (["--config", "{train}"], "error: train.arch: "),
])
def test_user_errors_are_one_line_without_traceback(tmp_path, args, message):
    cfg = write(tmp_path / "tiny.yaml", TINY)
    train_only = {k: v for k, v in TINY.items() if k != "search"}
    train_only["train"] = dict(TINY["train"], arch=str(tmp_path / "nothing.json"))
    train = write(tmp_path / "train.yaml", train_only)
    args = [a.format(cfg=cfg, tmp=tmp_path, train=train) for a in args]
    result = main_py(*args, "--output-path", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if "[nnabla][INFO]" not in line]
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr
