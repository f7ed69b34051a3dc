"""One process of a job that tests/utils/test_communicator.py starts with
``mpirun -n 2``: ``python mpi_job.py SCENARIO OUT_DIR``.

Each rank writes what it saw to ``OUT_DIR/rank<r>.npz`` (or fails as the scenario asks);
the test compares the files, so the checks are made by pytest, not here.
"""
import sys
import time

import numpy as np

import nnabla as nn

from nnabla_nas.utils.communicator import MPICommunicator, RanksDisagree, \
    make_communicator

SHAPES = {"conv/W": (4, 3, 3, 3), "conv/b": (4,), "fc/W": (36, 10), "alpha": (14, 8)}


def exchange(out_dir):
    comm = make_communicator("cpu")
    assert isinstance(comm, MPICommunicator), comm
    rng = np.random.RandomState(100 + comm.rank)  # every rank starts elsewhere
    params = {}
    for name, shape in SHAPES.items():
        params[name] = nn.Variable(shape, need_grad=True)
        params[name].d = rng.randn(*shape).astype(np.float32)  # as parameters are
        params[name].g = rng.randn(*shape).astype(np.float32)
    before_d = {k: v.d.copy() for k, v in params.items()}
    before_g = {k: v.g.copy() for k, v in params.items()}
    with comm.stop_all_on_error():
        comm.bcast_parameters(params)
        comm.allreduce_mean_grads(params)
        means = comm.allreduce_mean([np.array([comm.rank + 0.5, 10.0 * comm.rank])])
        obj = comm.bcast_object({"rank": comm.rank, "path": [1, 2, 3]} if comm.rank == 0
                                else None)
        gathered = comm.allgather_object(("hello", comm.rank))
        comm.check_same("config", "same text on every rank")
        comm.barrier()
    np.savez(f"{out_dir}/rank{comm.rank}.npz",
             size=comm.size, local_rank=comm.local_rank,
             mean=means[0], obj=repr(obj), gathered=repr(gathered),
             **{f"before_d:{k}": v for k, v in before_d.items()},
             **{f"before_g:{k}": v for k, v in before_g.items()},
             **{f"d:{k}": v.d for k, v in params.items()},
             **{f"g:{k}": v.g for k, v in params.items()})


def crash(out_dir):
    comm = make_communicator("cpu")
    with comm.stop_all_on_error():
        if comm.rank == 1:
            raise RuntimeError("boom in the forward pass")
        comm.barrier()  # rank 0 would wait here forever without the abort
        comm.allreduce_mean([np.zeros(3)])


def slow_rank(out_dir):
    comm = make_communicator("cpu", timeout=3)
    with comm.stop_all_on_error():
        if comm.rank == 1:
            time.sleep(120)  # never joins in time; rank 0's abort ends it
        comm.barrier()


def disagree(out_dir):
    comm = make_communicator("cpu")
    try:
        with comm.stop_all_on_error():
            comm.check_same("config", "lr: 0.1" if comm.rank == 0 else "lr: 0.2")
    except RanksDisagree as error:
        print(f"rank {comm.rank}: {error}", file=sys.stderr)
        sys.exit(2)


def no_mpi4py(out_dir):
    sys.modules["mpi4py"] = None  # as if the mpi extra were not installed
    make_communicator("cpu")


def train(out_dir):
    """Three SGD steps of a small MLP on a global batch of 8, split over the ranks
    (DataLoader shards), gradients averaged: what data-parallel training does."""
    import nnabla.functions as F
    import nnabla.parametric_functions as PF
    import nnabla.solvers as S

    from nnabla_nas.dataset import DataLoader, Split

    comm = make_communicator("cpu")
    data = np.random.RandomState(0)
    split = Split(data.randn(40, 1, 4, 4).astype(np.float32),
                  data.randint(0, 3, (40, 1)).astype(np.int32))
    batch = 8 // comm.size
    x, t = nn.Variable((batch, 1, 4, 4)), nn.Variable((batch, 1))
    nn.clear_parameters()
    init = np.random.RandomState(7 + comm.rank)  # rank 0's start must win
    h = F.relu(PF.affine(x, 12, name="fc1",
                         w_init=init.randn(16, 12).astype(np.float32) * 0.3))
    y = PF.affine(h, 3, name="fc2", w_init=init.randn(12, 3).astype(np.float32) * 0.3)
    loss = F.mean(F.softmax_cross_entropy(y, t))
    params = nn.get_parameters()
    solver = S.Momentum(lr=0.1, momentum=0.9)
    solver.set_parameters(params)
    with comm.stop_all_on_error(), \
            DataLoader(split, 8, shuffle=True, seed=3, drop_last=True,
                       shard=(comm.rank, comm.size)) as loader:
        comm.bcast_parameters(params)
        for _ in range(3):
            x.d, t.d = loader.next_batch()
            loss.forward()
            solver.zero_grad()
            loss.backward()
            comm.allreduce_mean_grads(params)
            solver.update()
    np.savez(f"{out_dir}/train{comm.size}-rank{comm.rank}.npz",
             **{k: v.d for k, v in params.items()})


if __name__ == "__main__":
    globals()[sys.argv[1]](sys.argv[2])
