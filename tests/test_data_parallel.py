"""Data-parallel runs of ``main.py`` under a real ``mpirun -n 2`` (the ``mpi`` extra):
two ranks of half batches search as one process of whole batches, end with the same
parameters and architecture, resume after ``kill -9``; a failing rank stops the job
with one line naming it; batch sizes that do not split over the ranks and ranks with
different configs are refused in one line before anything is written.

The network (tests/data_parallel_plugin.py) has no batch normalization, so the split
batches compute exactly what the whole ones do, up to the order of float sums.
"""
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

from nnabla_nas.runner.checkpoint import Checkpointer
from nnabla_nas.utils.communicator import SIZE_VARIABLES
from tests.utils.test_communicator import MPIRUN, needs_mpirun

ROOT = Path(__file__).resolve().parents[1]
MAIN = str(ROOT / "main.py")

pytestmark = [pytest.mark.slow, needs_mpirun]


def config(tmp_path, file="config", **search):
    """A search of 2 epochs of 3 DARTS (second order) steps of a global batch of 8,
    checkpointed after every step."""
    data = {"plugins": ["tests.data_parallel_plugin"], "seed": 5, "quiet": True,
            "checkpoint_every": 1, "dataset": {"name": "blobs", "images": 60},
            "search": {"epochs": 2, "warmup_epochs": 0, "batch_size": 8,
                       "space": {"name": "mlp"},
                       "searcher": dict({"name": "darts", "order": 2}, **search)}}
    path = tmp_path / f"{file}.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def environment():
    """This checkout on the path; allowed to run as root in the child only (CI runs
    as root); a test run itself under mpirun does not leak its job into the child's."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1")
    for name in SIZE_VARIABLES:
        env.pop(name, None)
    return env


def search(config_path, out, ranks=2, extra=(), **kw):
    """``[mpirun -n ranks] python main.py search --config ... --output-path out``."""
    command = [sys.executable, MAIN, "search", "--config", config_path,
               "--output-path", str(out), *extra]
    if ranks:
        command = [MPIRUN, "-n", str(ranks), "--oversubscribe"] + command
    return subprocess.run(command, env=environment(), capture_output=True, text=True,
                          timeout=kw.pop("timeout", 240), **kw)


def weights(path):
    with h5py.File(path, "r") as f:
        out = {}
        f.visititems(lambda name, item: out.__setitem__(name, np.array(item))
                     if isinstance(item, h5py.Dataset) else None)
    return out


def kill_session(leader):
    """``kill -9`` of every process of the session ``leader`` started (mpirun and
    its ranks), by process id."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getsid(int(entry)) == leader:
                    os.kill(int(entry), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def test_two_ranks_search_as_one_process_agree_and_resume_after_kill_9(tmp_path):
    marker = tmp_path / "waiting"
    # One process, whole batches of 8 (the marker exists: nothing waits).
    marker.touch()
    one = search(config(tmp_path, file="one", name="darts_hang", hang_step=4,
                        marker=str(marker)), tmp_path / "one", ranks=0)
    assert one.returncode == 0, one.stderr
    marker.unlink()

    # Two ranks of 4; rank 0 stops at step 4 (the second of epoch 2), the job is
    # killed there, with the checkpoint of step 3 the newest.
    cfg = config(tmp_path, name="darts_hang", hang_step=4, marker=str(marker))
    out = tmp_path / "two"
    job = subprocess.Popen([MPIRUN, "-n", "2", "--oversubscribe", sys.executable, MAIN,
                            "search", "--config", cfg, "--output-path", str(out)],
                           env=environment(), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not marker.exists():
            assert job.poll() is None, "the job ended before it was killed"
            assert time.monotonic() < deadline, "rank 0 never reached step 4"
            time.sleep(0.05)
    finally:
        kill_session(job.pid)
        job.wait(timeout=60)
    assert job.returncode == -signal.SIGKILL
    assert not (out / "search_weights.h5").exists()
    assert Checkpointer(str(out / "checkpoints" / "search")).latest() == "00001-000001"

    # The same command resumes and ends as the one process did.
    again = search(cfg, out)
    assert again.returncode == 0, again.stdout + again.stderr
    log = (out / "log.txt").read_text()
    assert "search: resumed from checkpoint 00001-000001 (continuing at epoch 2 of 2, " \
           "step 1)" in log
    assert "data-parallel over 2 processes" in log
    # Every rank ended with the same parameters (bit for bit) and architecture.
    assert "search: the 2 ranks hold the same parameters (sha256 " in log
    assert log.rstrip().endswith("and architecture")
    assert (out / "arch.json").read_text() == (tmp_path / "one" / "arch.json").read_text()
    single, split = (weights(p / "search_weights.h5") for p in (tmp_path / "one", out))
    assert sorted(single) == sorted(split) and len(single) == 14
    for name in single:
        np.testing.assert_allclose(split[name], single[name], rtol=0, atol=1e-5,
                                   err_msg=name)
    assert "processes: 2" in again.stdout


def test_a_failing_rank_stops_the_job_with_one_line_naming_it(tmp_path):
    out = tmp_path / "out"
    done = search(config(tmp_path, name="darts_crash", crash_rank=1, crash_step=4), out,
                  timeout=120)
    assert done.returncode != 0
    lines = [l for l in done.stderr.splitlines() if "stopping all ranks" in l]
    assert lines == ["rank 1 of 2 failed, stopping all ranks: RuntimeError: injected "
                     "failure at step 4"], done.stderr
    # Nothing a rerun would trust is half-written: no result (arch.json is the
    # architecture of the last whole epoch), intact checkpoints.
    assert not (out / "search_weights.h5").exists() and not (out / "summary.json").exists()
    assert Checkpointer(str(out / "checkpoints" / "search")).latest() == "00001-000001"


def test_bad_input_under_mpirun_is_one_line_before_anything_is_written(tmp_path):
    cfg = config(tmp_path)
    done = search(cfg, tmp_path / "odd", extra=["search.batch_size=9"], timeout=120)
    assert done.returncode == 2
    assert done.stderr.splitlines().count(
        "error: search.batch_size: 9 does not split evenly over the 2 processes of "
        "this job; expected a multiple of 2") == 1, done.stderr
    assert not (tmp_path / "odd").exists()

    # Ranks started with different configs (Open MPI's MPMD form: A : B).
    command = [sys.executable, MAIN, "search", "--config", cfg, "--output-path",
               str(tmp_path / "mixed")]
    done = subprocess.run([MPIRUN, "--oversubscribe", "-n", "1", *command, "seed=5", ":",
                           "-n", "1", *command, "seed=6"], env=environment(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    lines = [l for l in done.stderr.splitlines() if "differs from rank 0" in l]
    assert len(lines) == 1 and lines[0].startswith(
        "error: config: rank 1 of 2 differs from rank 0 (sha256:"), done.stderr
    assert not (tmp_path / "mixed").exists()
