"""The worker's side of every executor: a :class:`Worker`, made once per worker
process, scores one task at a time (:meth:`Worker.run`). Local processes and Ray
actors use it and nothing else of the search, so a candidate is scored alike wherever
it runs.

Test hook: the environment variable :data:`KILL_HOOK`, read here only (never by the
search's own process), makes a worker kill itself with ``SIGKILL`` when it receives a
given candidate, as a crash or the out-of-memory killer would, so that tests can check
that the search retries the candidate and then records it as failed. Its value is a
comma-separated list of ``INDEX`` or ``INDEX:ATTEMPTS``: the worker dies on candidate
``INDEX`` at attempts 1 to ``ATTEMPTS`` (default 1: the retry succeeds; 2: every
attempt dies, the candidate fails). It is for tests only; leave it unset.
"""
from __future__ import annotations

import os
import pickle
import signal
import threading
import time
import traceback
from typing import Dict

import nnabla as nn
from tqdm import tqdm

from ...utils.context import Device
from .. import candidate as C
from . import Outcome, Task

#: The test hook's environment variable (see the module docstring).
KILL_HOOK = "NNABLA_NAS_TEST_KILL_CANDIDATE"


def kill_plan(value: str) -> Dict[int, int]:
    """The test hook's value as ``{candidate index: attempts that die}``."""
    plan = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        index, _, attempts = item.partition(":")
        plan[int(index)] = int(attempts or 1)
    return plan


class Worker:
    """One worker: on creation it computes on the job's device and builds the job's
    supernet (:func:`~nnabla_nas.runner.candidate.prepare`); an error there is kept
    and returned with every task, for the search to raise.

    Args:
        job: What every candidate's scoring needs.
    """

    def __init__(self, job: C.CandidateJob):
        # tqdm's default lock is a multiprocessing semaphore shared by the bars of
        # several processes; a worker shows no bar, and a worker killed while it held
        # that semaphore would leave it behind.
        tqdm.set_lock(threading.RLock())
        self.job = job
        self.evaluator = None
        self.failed = None  # (error, traceback text) of the start
        try:
            name, device_id = job.device
            nn.set_default_context(Device(name, int(device_id)).context)
            self.evaluator = C.prepare(job)
        except Exception as e:  # noqa: BLE001 (sent back with the first task)
            self.failed = (portable(e), traceback.format_exc())

    def run(self, task: Task) -> Outcome:
        """Score ``task``'s candidate. An exception of the scoring is returned in the
        outcome, with its traceback, for the search to raise. The test hook
        (:data:`KILL_HOOK`) is read here."""
        if task.attempt <= kill_plan(os.environ.get(KILL_HOOK, "")).get(task.index, 0):
            os.kill(os.getpid(), signal.SIGKILL)  # the test hook: die as if killed
        if self.failed is not None:
            return Outcome(task.index, None, 0.0, task.attempt, error=self.failed[0],
                           traceback=self.failed[1])
        started = time.perf_counter()
        try:
            accuracy = float(C.score(self.job, self.evaluator, task.index, task.choices))
        except Exception as e:  # noqa: BLE001 (sent back and raised by the search)
            return Outcome(task.index, None, time.perf_counter() - started,
                           task.attempt, error=portable(e),
                           traceback=traceback.format_exc())
        return Outcome(task.index, accuracy, time.perf_counter() - started, task.attempt)


def portable(error: BaseException) -> BaseException:
    """``error`` if it survives pickling (to reach the search's process), else a
    RuntimeError with its type and message."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 (any failure to pickle or rebuild it)
        return RuntimeError(f"{type(error).__name__}: {error}")
