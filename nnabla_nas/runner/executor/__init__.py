"""Executors: where a black-box search scores its candidates (``search.workers`` and
``search.executor`` of a config).

An executor runs :func:`~nnabla_nas.runner.candidate.score` for the candidates the
search submits, on ``workers`` workers, and hands back each candidate's
:class:`Outcome` as it finishes, in any order; the search puts them in candidate order
and alone writes the run's outputs (workers write nothing). Each worker receives the
search's :class:`~nnabla_nas.runner.candidate.CandidateJob` once, when it starts, and
then scores one candidate at a time.

Executors are registered in :data:`EXECUTORS` by name: ``local`` (processes on this
machine, :mod:`.local`) and ``ray`` (a Ray cluster, :mod:`.ray_cluster`). What they
share is written once here, in :class:`Executor`: which task each worker runs, and
what happens when a worker dies during a task (its process killed, out of memory): the
worker is started anew and the task retried once on it; a second death records the
candidate as failed (:attr:`Outcome.failure`) and the search goes on without it. An
exception raised by the scoring itself (a diverging training, a bug) is not a death: it
comes back in :attr:`Outcome.error` and stops the search, as it would without workers.

A new executor subclasses :class:`Executor`, gives it a ``Config`` dataclass of its
options (``search.executor.<option>``) and implements :meth:`Executor.start_worker`,
:meth:`Executor.send`, :meth:`Executor.poll` and :meth:`Executor.stop_workers`.
"""
from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import Any, Deque, Dict, List, Mapping, Optional, Tuple

from ...registry import Registry

#: Executors by name (``search.executor``); each is an :class:`Executor` subclass.
EXECUTORS = Registry("executor")

#: Attempts at one candidate: the first, and one retry after its worker died.
MAX_ATTEMPTS = 2


class CandidatesFailed(RuntimeError):
    """No candidate of a search could be scored (each one's worker died twice): a
    one-line error of the command line, like a training that diverged."""


@dataclass(frozen=True)
class Task:
    """One candidate to score: its index in the search, its choices and which
    attempt this is (from 1)."""

    index: int
    choices: Mapping[str, str]
    attempt: int = 1


@dataclass(frozen=True)
class Outcome:
    """What became of a :class:`Task`.

    Attributes:
        index: The candidate's index.
        accuracy: Its validation accuracy; None when it failed or raised.
        seconds: Wall time of the scoring that gave the outcome (0 for a failure).
        attempts: Attempts it took (2 after a worker died once).
        failure: Why the candidate could not be scored (its worker died on every
            attempt); None otherwise.
        error: The exception the scoring raised, re-raised by the search.
        traceback: That exception's traceback in the worker, as text.
    """

    index: int
    accuracy: Optional[float]
    seconds: float = 0.0
    attempts: int = 1
    failure: Optional[str] = None
    error: Optional[BaseException] = None
    traceback: str = ""


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker, attached as the
    ``__cause__`` of the exception the search re-raises (so both are printed)."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f"\n\"\"\"\n{self.text}\"\"\""


def reraise(outcome: Outcome) -> None:
    """Raise the exception of an outcome whose scoring raised one (nothing else)."""
    if outcome.error is not None:
        if outcome.traceback:
            raise outcome.error from RemoteTraceback(outcome.traceback)
        raise outcome.error


class Executor:
    """Scores candidates on ``workers`` workers, each holding at most one task.

    Use it as a context manager (the workers start on entry and stop on exit, even
    after an error), :meth:`submit` while :attr:`free` is positive, and collect
    outcomes with :meth:`wait`.

    Args:
        job: What every candidate's scoring needs
            (:class:`~nnabla_nas.runner.candidate.CandidateJob`).
        workers: Number of workers (``search.workers``).
        options: The executor's ``Config`` (``search.executor``'s options).
        evaluator: The search's own evaluator, for an executor that may score in the
            search's process.
        log: Where worker deaths and retries are reported.
        key: The executor's config key, which errors name.
    """

    #: The options dataclass (``search.executor.<option>``); subclasses define it.
    Config: Any = None

    def __init__(self, job: Any, workers: int, options: Any = None,
                 evaluator: Any = None, log: Optional[logging.Logger] = None,
                 key: str = "search.executor"):
        self.job = job
        self.key = key
        self.workers = int(workers)
        self.options = options if options is not None else type(self).Config()
        self.evaluator = evaluator
        self.log = log or logging.getLogger(__name__)
        self.retried = 0  # tasks retried after their worker died
        self._running: Dict[int, Task] = {}  # worker slot -> its task
        self._waiting: Deque[Task] = deque()  # tasks not yet sent (retries first)

    @classmethod
    def check(cls, options: Any, workers: int, key: str) -> None:
        """Refuse, before anything is written, what cannot work: raise a
        :class:`~nnabla_nas.config.fields.ConfigError` starting with ``key`` (the
        config key of the executor) or one of its options. Nothing by default."""

    # ---------------------------------------------------------- for subclasses
    def start_worker(self, slot: int) -> None:
        """Start worker ``slot`` (0 to ``workers - 1``), or start it anew after it
        died; it receives :attr:`job`."""
        raise NotImplementedError

    def send(self, slot: int, task: Task) -> None:
        """Hand ``task`` to worker ``slot``, which is idle."""
        raise NotImplementedError

    def poll(self, timeout: float) -> List[Tuple[int, Optional[Outcome], str]]:
        """Wait up to ``timeout`` seconds for workers to finish or die; return
        ``(slot, outcome, "")`` for each finished task and ``(slot, None, reason)``
        for each worker that died."""
        raise NotImplementedError

    def stop_workers(self) -> None:
        """Stop every worker (called once, also after an error)."""
        raise NotImplementedError

    # ----------------------------------------------------------------- shared
    def __enter__(self) -> "Executor":
        try:
            for slot in range(self.workers):
                self.start_worker(slot)
        except BaseException:
            self.stop_workers()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop_workers()

    @property
    def free(self) -> int:
        """How many more tasks can be submitted now."""
        return self.workers - len(self._running) - len(self._waiting)

    def submit(self, index: int, choices: Mapping[str, str]) -> None:
        """Score candidate ``index`` (with ``choices``) on the next idle worker."""
        if self.free <= 0:
            raise RuntimeError("submit: every worker is busy; wait() first")
        self._waiting.append(Task(index, dict(choices)))
        self._dispatch()

    def wait(self, timeout: float = 0.5) -> List[Outcome]:
        """The outcomes of the tasks that finished within ``timeout`` seconds (maybe
        none), after restarting dead workers and resending their tasks."""
        outcomes = []
        for slot, outcome, reason in self.poll(timeout):
            task = self._running.pop(slot, None)
            if outcome is not None:
                outcomes.append(outcome)
                continue
            what = f"during candidate {task.index} (attempt {task.attempt})" if task \
                else "while idle"
            self.start_worker(slot)
            if task is None:
                self.log.warning(f"worker {slot} died {what} ({reason}); started anew")
            elif task.attempt < MAX_ATTEMPTS:
                self.log.warning(f"worker {slot} died {what} ({reason}); retrying the "
                                 "candidate on a new worker")
                self.retried += 1
                self._waiting.appendleft(Task(task.index, task.choices, task.attempt + 1))
            else:
                self.log.warning(f"worker {slot} died {what} ({reason}); the candidate "
                                 "is recorded as failed")
                outcomes.append(Outcome(task.index, None, 0.0, task.attempt,
                                        failure=f"its worker died on each of "
                                                f"{task.attempt} attempts ({reason})"))
        self._dispatch()
        return outcomes

    def _dispatch(self) -> None:
        idle = [s for s in range(self.workers) if s not in self._running]
        while self._waiting and idle:
            slot, task = idle.pop(0), self._waiting.popleft()
            self._running[slot] = task
            self.send(slot, task)
