"""`LocalExecutor` (``search.executor: local``, the default): candidates scored by
``search.workers`` processes on this machine.

With one worker, candidates are scored in the search's own process, on its own
supernet, one after the other: no process is started. With several, each worker is a
new Python process started with the ``spawn`` method, never ``fork``: a forked child
would inherit a copy of the parent's threads' state (the data loader's prefetching
thread, TensorBoard's writer thread, the locks they hold) without the threads
themselves, and a lock held at the fork is never released in the child; a CUDA
context does not survive a fork either. A spawned worker imports nnabla-nas afresh,
receives the search's :class:`~nnabla_nas.runner.candidate.CandidateJob` once (the
data is copied into it, and a supernet is built and, for ``evaluate: supernet``, its
weights loaded once), then scores one candidate at a time. Each worker computes on
the run's device (every worker shares one GPU with ``context: cudnn``).

Workers ignore ``SIGINT`` (Ctrl-C reaches the whole process group): the search stops
them itself, as it stops at the next candidate. A worker whose search process died
exits when it finds its pipe closed.
"""
from __future__ import annotations

import multiprocessing
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import wait as wait_for
from typing import Any, Dict, List, Optional, Tuple

from .. import candidate as C
from . import EXECUTORS, Executor, Outcome, Task
from .worker import Worker

#: Seconds a stopping worker gets to exit before it is killed.
STOP_GRACE = 5.0


def serve(conn: Any, job: C.CandidateJob) -> None:
    """A worker process's main function: start a :class:`~.worker.Worker` for
    ``job``, then answer each task received on ``conn`` with its outcome, until
    ``None`` or a closed pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    worker = Worker(job)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        conn.send(worker.run(task))


def exit_reason(exitcode: Optional[int]) -> str:
    """A dead process's exit code in words."""
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exited with status {exitcode}"


@EXECUTORS.register("local")
class LocalExecutor(Executor):
    """Worker processes on this machine, started with spawn (one worker: the
    search's own process); see the module docstring."""

    @dataclass(frozen=True)
    class Config:
        """The local executor has no options of its own (``search.workers`` is the
        number of processes)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._context = multiprocessing.get_context("spawn")
        self._processes: Dict[int, Tuple[Any, Any]] = {}  # slot -> (process, conn)
        self._done: List[Tuple[int, Optional[Outcome], str]] = []  # in-process results

    @property
    def in_process(self) -> bool:
        """One worker, and the search's own evaluator to score with."""
        return self.workers == 1 and self.evaluator is not None

    def start_worker(self, slot: int) -> None:
        if self.in_process:
            return
        self._close(slot)
        parent, child = self._context.Pipe()
        process = self._context.Process(target=serve, args=(child, self.job),
                                        name=f"nnabla-nas-worker-{slot}", daemon=True)
        process.start()
        child.close()  # the worker's end; EOF reaches us when the worker dies
        self._processes[slot] = (process, parent)

    def send(self, slot: int, task: Task) -> None:
        if self.in_process:  # an exception is raised here, as without executors
            started = time.perf_counter()
            accuracy = float(C.score(self.job, self.evaluator, task.index, task.choices))
            self._done.append((slot, Outcome(task.index, accuracy,
                                             time.perf_counter() - started), ""))
            return
        try:
            self._processes[slot][1].send(task)
        except (BrokenPipeError, OSError):
            pass  # dead: poll() finds its process gone and reports it

    def poll(self, timeout: float) -> List[Tuple[int, Optional[Outcome], str]]:
        if self.in_process:
            done, self._done = self._done, []
            return done
        by_handle = {}
        for slot, (process, conn) in self._processes.items():
            by_handle[conn] = by_handle[process.sentinel] = slot
        events: Dict[int, Tuple[int, Optional[Outcome], str]] = {}
        for handle in wait_for(list(by_handle), timeout):
            slot = by_handle[handle]
            if slot in events:
                continue
            process, conn = self._processes[slot]
            try:
                if conn.poll():
                    events[slot] = (slot, conn.recv(), "")
                    continue
            except (EOFError, OSError):
                pass
            process.join(STOP_GRACE)
            events[slot] = (slot, None, exit_reason(process.exitcode))
        return list(events.values())

    def stop_workers(self) -> None:
        for slot in list(self._processes):
            self._close(slot)

    def _close(self, slot: int) -> None:
        """Stop worker ``slot`` (if it runs) and forget it."""
        if slot not in self._processes:
            return
        process, conn = self._processes.pop(slot)
        try:
            conn.send(None)
        except (BrokenPipeError, OSError):
            pass
        conn.close()
        process.join(STOP_GRACE if process.is_alive() and not self._busy(slot) else 0)
        if process.is_alive():
            process.kill()
            process.join()

    def _busy(self, slot: int) -> bool:
        return slot in self._running
