"""`RayExecutor` (``search.executor: ray``): candidates scored by ``search.workers``
Ray actors, on a Ray cluster.

Ray is optional (``pip install 'nnabla-nas[ray]'``) and imported by this module only,
when the executor is checked or started. The cluster is the one
``search.executor.address`` names (``host:port`` of its head node, ``ray://host:port``
for Ray Client, or ``auto`` for the one ``ray start`` runs on this machine), else the
one the ``RAY_ADDRESS`` environment variable names, else a Ray instance started on
this machine for the run and stopped after it. A process that has already called
``ray.init`` (a notebook, a test) uses that connection.

Each worker is an actor reserving ``cpus_per_worker`` CPUs and ``gpus_per_worker``
GPUs; the search's :class:`~nnabla_nas.runner.candidate.CandidateJob` is put in Ray's
object store once and each actor builds its supernet from it once. The nodes must
have nnabla-nas importable (installed, or on the ``PYTHONPATH`` they inherit) and,
for images read from disk (``image_folder``), the dataset at the same path.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

from ...config.fields import ConfigError, option
from . import EXECUTORS, Executor, Outcome, Task
from .worker import Worker

#: Seconds the reachability check waits for the cluster's address to answer.
CONNECT_TIMEOUT = 5.0


def ray_module(key: str) -> Any:
    """The ``ray`` package; a ConfigError starting with ``key`` when it is missing."""
    try:
        import ray
    except ImportError as e:
        raise ConfigError(f"{key}: ray is not installed ({e}); install it with `pip "
                          "install 'nnabla-nas[ray]'`, or use executor: local") from None
    return ray


def cluster_address(options: Any, key: str) -> Tuple[Optional[str], str]:
    """The address to connect to (None: start a Ray instance here) and how to name it
    in an error: the option's key, or ``RAY_ADDRESS``."""
    if options.address:
        return options.address, f"{key}.address"
    if os.environ.get("RAY_ADDRESS"):
        return os.environ["RAY_ADDRESS"], f"{key}.address (unset, so RAY_ADDRESS)"
    return None, f"{key}.address"


def check_reachable(address: str, where: str) -> None:
    """Refuse a ``host:port`` or ``ray://host:port`` address nothing answers at."""
    if address in ("auto", "local"):
        return  # found (or started) by ray.init itself
    parts = urlsplit(address if "://" in address else f"//{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError as e:
        raise ConfigError(f"{where}: {address!r} is not host:port ({e})") from None
    if not host or port is None:
        raise ConfigError(f"{where}: expected host:port, ray://host:port or auto, got "
                          f"{address!r}")
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
    except OSError as e:
        raise ConfigError(f"{where}: cannot reach a Ray cluster at {address} "
                          f"({e.strerror or e})") from None


@EXECUTORS.register("ray")
class RayExecutor(Executor):
    """Ray actors on a Ray cluster (the one at ``address``, at ``RAY_ADDRESS``, or
    one started on this machine for the run); see the module docstring."""

    @dataclass(frozen=True)
    class Config:
        """Options of the Ray executor."""

        address: Optional[str] = option(None, "the Ray cluster: host:port of its head, "
                                              "ray://host:port (Ray Client) or auto; "
                                              "null: RAY_ADDRESS if set, else a Ray "
                                              "instance started here for the run")
        cpus_per_worker: float = option(1.0, "CPUs Ray reserves for each worker",
                                        minimum=0, maximum=1024)
        gpus_per_worker: float = option(0.0, "GPUs Ray reserves for each worker (e.g. "
                                             "1 with context: cudnn)",
                                        minimum=0, maximum=64)

    @classmethod
    def check(cls, options: Any, workers: int, key: str) -> None:
        """Ray must be installed and the cluster's address answer."""
        ray_module(key)
        address, where = cluster_address(options, key)
        if address is not None:
            check_reachable(address, where)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._ray = None
        self._owned = False  # whether this executor called ray.init
        self._actors: Dict[int, Any] = {}
        self._calls: Dict[Any, int] = {}  # pending call -> slot
        self._job = None
        self._worker_class = None

    def __enter__(self) -> "RayExecutor":
        ray = self._ray = ray_module(self.key)
        if not ray.is_initialized():
            address, where = cluster_address(self.options, self.key)
            try:
                ray.init(address=address, include_dashboard=False,
                         log_to_driver=False, logging_level="warning")
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise ConfigError(f"{where}: cannot connect to the Ray cluster at "
                                  f"{address} ({str(e).splitlines()[0]})") from None
            self._owned = True
        cpus = ray.cluster_resources().get("CPU", 0)
        if cpus < self.options.cpus_per_worker:
            self._shutdown()
            raise ConfigError(f"{self.key}.cpus_per_worker: {self.options.cpus_per_worker}"
                              f" is more than the Ray cluster has ({cpus:g} CPUs)")
        self._job = ray.put(self.job)
        self._worker_class = ray.remote(Worker)
        return super().__enter__()

    def start_worker(self, slot: int) -> None:
        ray = self._ray
        if slot in self._actors:
            ray.kill(self._actors.pop(slot))
        actor = self._worker_class.options(
            num_cpus=self.options.cpus_per_worker, num_gpus=self.options.gpus_per_worker,
            max_restarts=0, max_task_retries=0)
        self._actors[slot] = actor.remote(self._job)

    def send(self, slot: int, task: Task) -> None:
        self._calls[self._actors[slot].run.remote(task)] = slot

    def poll(self, timeout: float) -> List[Tuple[int, Optional[Outcome], str]]:
        ray = self._ray
        if not self._calls:
            return []
        ready, _ = ray.wait(list(self._calls), num_returns=1, timeout=timeout)
        if ready:  # and whatever else is done by now
            ready, _ = ray.wait(list(self._calls), num_returns=len(self._calls),
                                timeout=0)
        events = []
        for ref in ready:
            slot = self._calls.pop(ref)
            try:
                events.append((slot, ray.get(ref), ""))
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                    ray.exceptions.ObjectLostError) as e:
                events.append((slot, None, type(e).__name__ + ": "
                               + str(e).strip().splitlines()[0]))
        return events

    def stop_workers(self) -> None:
        if self._ray is None:
            return
        for actor in self._actors.values():
            self._ray.kill(actor)
        self._actors.clear()
        self._calls.clear()
        self._shutdown()

    def _shutdown(self) -> None:
        if self._owned:
            self._ray.shutdown()
            self._owned = False
