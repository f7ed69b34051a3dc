"""`Profiler`: times NNabla functions on the target context, through a profile table.

Each function missing from the table is built alone on random inputs (see
:func:`.measure.build_function`) and timed with warm-up, repeated runs, device
synchronisation and a robust statistic; the result goes into the table, which is
saved if it has a file. Whole graphs are timed the same way (:meth:`graph_samples`),
for calibration and benchmarks.

In a data-parallel job (:meth:`Profiler.share`), only rank 0 times anything: the other
ranks start from rank 0's table and receive every timing it makes, so all ranks hold
the same table and price every network alike.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Sequence, Tuple, Union

import nnabla as nn
import numpy as np

from ...utils.context import make_context, synchronize, use_context
from . import measure
from .table import ProfileTable, ProfileTableError, default_table_path

#: Default timing settings: calls before each round of timing, timed samples, and the
#: round-robin passes they are spread over.
WARMUP, REPEATS, ROUNDS = 2, 25, 5
#: Functions built and timed together (bounds the memory their inputs take).
CHUNK = 256
#: Samples when timing whole networks (calibration, benchmarks).
GRAPH_REPEATS = 100
#: ``table=IN_MEMORY``: a table that lives and dies with the profiler.
IN_MEMORY = ":memory:"
#: A graph to time: its outputs (an ``nn.Variable`` or a list), or an
#: ``(inputs, outputs)`` pair of lists.
Graph = Union[nn.Variable, Sequence[nn.Variable],
              Tuple[Sequence[nn.Variable], Sequence[nn.Variable]]]


def graph_outputs(graph: Graph) -> List[nn.Variable]:
    """The outputs of a :data:`Graph`."""
    if isinstance(graph, nn.Variable):
        return [graph]
    if isinstance(graph, tuple) and len(graph) == 2 and not isinstance(
            graph[0], nn.Variable):
        return list(graph[1])
    return list(graph)


@dataclass(frozen=True)
class ProfileReport:
    """What :meth:`Profiler.profile` did: distinct functions found, how many were
    profiled anew, and the wall time it took (s)."""

    functions: int
    profiled: int
    seconds: float

    def __str__(self) -> str:
        return (f"{self.functions} distinct functions, {self.profiled} profiled in "
                f"{self.seconds:.1f} s")


class Profiler:
    """Function timings (ms) on one context, looked up in or added to a table.

    Args:
        context: ``'cpu'`` or ``'cudnn'``.
        device_id: The GPU for ``'cudnn'``.
        table: A :class:`ProfileTable`, a path (loaded if it exists, checked against
            this device, created on the first save), :data:`IN_MEMORY`, or None for
            this device's persistent table in the user's cache folder
            (:func:`.table.default_table_path`; one made on another device or NNabla
            version there is replaced, never used).
            A table of another device (see :func:`.bundle.import_table`) is only read:
            a function it lacks is an error, never profiled here.
        warmup: Calls before each round of timing a function.
        repeats: Timed samples per function.
        statistic: one of :data:`.measure.STATISTICS` (default ``'lower_quartile'``).
        type_config: NNabla's type configuration (``'float'``, ``'half'``).
        rounds: Round-robin passes over the functions to profile, the samples of each
            spread over them (see :func:`.measure.time_round_robin`).
    """

    def __init__(self, context: str = "cpu", device_id: int = 0,
                 table: Union[None, str, ProfileTable] = None, warmup: int = WARMUP,
                 repeats: int = REPEATS, statistic: str = measure.DEFAULT_STATISTIC,
                 type_config: str = "float", rounds: int = ROUNDS):
        self.ctx = make_context(context, device_id, type_config)
        self.fingerprint = self.device_fingerprint(context, device_id, type_config)
        if warmup < 0 or repeats < 1:
            raise ValueError(f"Profiler: expected warmup >= 0 and repeats >= 1, got "
                             f"warmup={warmup!r}, repeats={repeats!r}")
        self.warmup, self.repeats, self.rounds = int(warmup), int(repeats), int(rounds)
        if table is None:
            table = ProfileTable.open_cached(
                default_table_path(context, device_id, type_config, statistic,
                                   self.runtime),
                self.fingerprint, statistic)
        elif table == IN_MEMORY:
            table = ProfileTable(self.fingerprint, statistic=statistic)
        elif isinstance(table, str):
            table = ProfileTable.open(table, self.fingerprint, statistic)
        elif not isinstance(table, ProfileTable):
            raise TypeError(f"Profiler: table: expected None, a path or a ProfileTable, "
                            f"got {type(table).__name__}")
        self.table = table
        self.statistic = table.statistic
        #: Number of functions this profiler has timed (profile-table misses).
        self.profiled = 0
        self._rng = np.random.RandomState(0)
        self.comm: Any = None

    def share(self, comm: Any) -> "Profiler":
        """Time on rank 0 of the communicator ``comm`` only, and share the timings
        (a no-op in one process); returns this profiler.

        Every rank must call this, and then make the same requests in the same order
        (data-parallel ranks do: they run the same code on the same parameters). The
        other ranks replace their table by an in-memory copy of rank 0's (never
        written: rank 0 alone saves its file); each :meth:`times`,
        :meth:`graph_samples` and :meth:`network_samples` then runs on rank 0 (which
        alone decides what is missing from the table and profiles it) and its result
        is broadcast; the other ranks record the timings in their copy.
        """
        if comm is None or comm.size == 1:
            return self
        table = self.table
        copy = comm.bcast_object((table.fingerprint, table.statistic,
                                  {k: table.entry(k) for k in table},
                                  table.calibration, table.read_only)
                                 if comm.is_main else None)
        if not comm.is_main:
            fingerprint, statistic, entries, calibration, read_only = copy
            self.table = ProfileTable(fingerprint, None, statistic, entries, calibration,
                                      read_only)
            self.statistic = statistic
        self.comm = comm
        for name in ("times", "graph_samples", "network_samples"):
            setattr(self, name, self._on_rank_zero(getattr(self, name)))
        return self

    def _on_rank_zero(self, measure_: Callable[..., Any]) -> Callable[..., Any]:
        """``measure_`` run on rank 0 only, its result broadcast to every rank (and,
        for :meth:`times`, recorded in the other ranks' tables)."""
        comm, record = self.comm, measure_.__name__ == "times"

        @functools.wraps(measure_)
        def shared(*args: Any, **kwargs: Any) -> Any:
            result = comm.bcast_object(measure_(*args, **kwargs) if comm.is_main
                                       else None)
            if record and not comm.is_main and not self.table.read_only:
                specs = args[0] if args else kwargs["specs"]
                for spec, ms in zip(specs, result):
                    if spec.key not in self.table:
                        self.table.put(spec.key, ms, self.repeats)
            return result

        return shared

    #: The runtime whose timings this profiler measures.
    runtime = "nnabla"

    def device_fingerprint(self, context: str, device_id: int, type_config: str
                           ) -> Dict[str, str]:
        """What this profiler's timings depend on (see :func:`.measure.device_fingerprint`)."""
        return measure.device_fingerprint(context, device_id, type_config)

    @property
    def can_profile(self) -> bool:
        """Whether missing entries may be profiled here: the table is this device's
        and writable (not imported)."""
        return self.table.is_for(self.fingerprint) and not self.table.read_only

    def synchronize(self) -> None:
        """Wait for the device to finish its queued work."""
        synchronize(self.ctx)

    def time_functions(self, specs: Sequence[measure.FunctionSpec]) -> List[float]:
        """Time each spec alone on random inputs now, without the table (ms), in
        round-robin passes over chunks of :data:`CHUNK` functions."""
        times: List[float] = []
        for first in range(0, len(specs), CHUNK):
            runs = []
            with use_context(self.ctx):
                for spec in specs[first:first + CHUNK]:
                    _, outputs = measure.build_function(spec, self.ctx, self._rng)
                    runs.append(measure.forward_runner(outputs))
            samples = measure.time_round_robin(runs, self.warmup, self.repeats,
                                               self.rounds, self.synchronize)
            times.extend(measure.summarize(s, self.statistic) for s in samples)
        return times

    def graph_samples(self, graphs: Sequence[Graph], warmup: int = 10,
                      repeats: int = GRAPH_REPEATS, rounds: int = 4) -> List[List[float]]:
        """Forward times (ms) of whole graphs, each given by its outputs or as an
        ``(inputs, outputs)`` pair (inputs filled), as deployed:
        ``forward(clear_no_need_grad=True)``, in ``rounds`` round-robin passes of
        ``warmup`` untimed and ``repeats / rounds`` timed forwards."""
        runs = [measure.forward_runner(graph_outputs(g)) for g in graphs]
        return measure.time_round_robin(runs, warmup, repeats, rounds, self.synchronize)

    def network_samples(self, module, outputs: Sequence[nn.Variable], warmup: int,
                        repeats: int, seconds: float = 0.0) -> List[float]:
        """Forward times (ms) of a network: ``module``'s inference graph ending at
        ``outputs`` (inputs filled), ``repeats`` samples after ``warmup`` forwards,
        and more until they span ``seconds`` (:func:`.measure.time_calls`)."""
        return measure.time_calls(measure.forward_runner(outputs), warmup, repeats,
                                  self.synchronize, seconds=seconds)

    def times(self, specs: Sequence[measure.FunctionSpec]) -> List[float]:
        """The time of each spec (ms), profiling those missing from the table (and
        then saving the table, if it has a file).

        Raises:
            ProfileTableError: if the table is another device's and lacks some specs.
        """
        missing: Dict[str, measure.FunctionSpec] = {}
        for spec in specs:
            if spec.key not in self.table and spec.key not in missing:
                missing[spec.key] = spec
        if missing:
            if not self.can_profile:
                shown = "; ".join(repr(s) for s in list(missing.values())[:3])
                raise ProfileTableError(
                    f"{self.table.path or 'the profile table'}: imported from "
                    f"'{measure.describe_fingerprint(self.table.fingerprint)}', lacks "
                    f"{len(missing)} functions this network needs ({shown}"
                    f"{', ...' if len(missing) > 3 else ''}); export a bundle for this "
                    "network and run it on that device")
            for key, ms in zip(missing, self.time_functions(list(missing.values()))):
                self.table.put(key, ms, self.repeats)
            self.profiled += len(missing)
            self.table.save_if_changed()
        return [self.table.get(s.key) for s in specs]

    def profile(self, specs: Sequence[measure.FunctionSpec]) -> ProfileReport:
        """Make sure every spec is in the table; report what it took."""
        start = time.perf_counter()
        before = self.profiled
        self.times(specs)
        return ProfileReport(len({s.key for s in specs}), self.profiled - before,
                             time.perf_counter() - start)
