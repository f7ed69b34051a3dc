"""Crash safety: a run killed with SIGKILL anywhere and rerun ends exactly like a run
never interrupted. Each such run is a second run of the reference's config and seed, so
these tests also show that the same seed gives the same result run after run (a
separate uninterrupted rerun would check nothing more)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from tests.tiny import tiny_run

ROOT = Path(__file__).resolve().parents[1]

CONFIG = tiny_run(seed=11, checkpoint_every=2)
CONFIG["search"]["searcher"]["order"] = 1
# One node per cell (two edges instead of five): what is checked here is the saving and
# restoring of every state, which does not depend on the supernet's size, and each test
# runs it several times.
CONFIG["search"]["space"].update(num_nodes=1, multiplier=1)
CONFIG["train"]["net"]["drop_path_prob"] = 0.3
# Everything a run reports except timings (durations and latencies, measured anew).
TIMES = ("search_time_s", "train_time_s", "estimated_latency_ms", "measured_latency_ms",
         "measured_activation_bytes")  # measurements, not results


def command(config, out):
    return [sys.executable, str(ROOT / "main.py"), "--config", str(config),
            "--output-path", str(out)]


def run_to_end(config, out):
    result = subprocess.run(command(config, out), capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    return out


def wait_for(proc, out, when):
    """Wait until checkpoint ``when`` of the running ``proc`` exists."""
    deadline = time.time() + 600
    while not (out / "checkpoints" / when).exists():
        if proc.poll() is not None:
            pytest.fail(f"the run ended before checkpoint {when} appeared")
        if time.time() > deadline:
            pytest.fail(f"checkpoint {when} never appeared")
        time.sleep(0.02)


def run_and_kill(config, out, when):
    """Start a run and SIGKILL it as soon as the checkpoint ``when`` exists."""
    proc = subprocess.Popen(command(config, out), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for(proc, out, when)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


def results(out):
    summary = json.loads((out / "summary.json").read_text())
    for key in TIMES + ("arch_path", "nnp_path", "onnx_path", "bounds"):
        summary.pop(key, None)
    for key in [k for k in summary if k.startswith("measured_") or "latency" in k]:
        summary.pop(key)  # timed anew by each run (the NNP, ONNX Runtime, the table)
    weights = {}
    for name in ("weights.h5", "search_weights.h5"):
        with h5py.File(out / name, "r") as f:
            f.visititems(lambda k, v: weights.__setitem__(f"{name}:{k}", np.array(v))
                         if isinstance(v, h5py.Dataset) else None)
    return (out / "arch.json").read_text(), summary, weights


def assert_same(a, b):
    assert a[0] == b[0], "arch.json differs"
    assert a[1] == b[1], "summary differs"
    assert a[2].keys() == b[2].keys()
    for k in a[2]:
        np.testing.assert_array_equal(a[2][k], b[2][k], err_msg=k)


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "run.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return path


@pytest.fixture(scope="module")
def reference(config_file, tmp_path_factory):
    return results(run_to_end(config_file, tmp_path_factory.mktemp("ref") / "out"))


@pytest.mark.slow
@pytest.mark.parametrize("kill_points", [
    ["search/00000-000002"],                       # inside a warm-up epoch
    ["search/00001-000004"],                       # inside an architecture epoch
    # twice: inside the first training epoch, then inside one with drop path
    ["train/00000-000002", "train/00001-000002"],
    ["train/00001-000000"],                        # at an epoch boundary
], ids=["search-warmup", "search-arch", "train-twice", "train-boundary"])
def test_killed_and_rerun_ends_exactly_like_an_uninterrupted_run(config_file, reference,
                                                                 tmp_path, kill_points):
    out = tmp_path / "out"
    for when in kill_points:
        run_and_kill(config_file, out, when)
    log = (out / "log.txt").read_text()
    run_to_end(config_file, out)
    assert "resumed from checkpoint" in (out / "log.txt").read_text()[len(log):]
    assert_same(results(out), reference)


def run_and_signal(config, out, when, signum):
    """Start a run, send ``signum`` once checkpoint ``when`` exists, and return its
    exit status and standard error (without NNabla's start-up line)."""
    proc = subprocess.Popen(command(config, out), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_for(proc, out, when)
        os.kill(proc.pid, signum)
        _, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = [line for line in err.splitlines() if line.strip() and "[nnabla]" not in line]
    return proc.returncode, lines


@pytest.mark.slow
@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_epoch_saves_a_checkpoint_and_a_rerun_ends_identically(
        config_file, reference, tmp_path, signum, status):
    out = tmp_path / "out"
    code, err = run_and_signal(config_file, out, "search/00000-000002", signum)
    assert code == status, err
    assert len(err) == 1, err
    assert err[0].startswith(f"interrupted by {signal.Signals(signum).name}: "), err[0]
    assert "rerun the same command to resume" in err[0] and "Traceback" not in err[0]
    assert "interrupted" in (out / "log.txt").read_text()
    log = (out / "log.txt").read_text()
    run_to_end(config_file, out)
    assert "resumed from checkpoint" in (out / "log.txt").read_text()[len(log):]
    assert_same(results(out), reference)
