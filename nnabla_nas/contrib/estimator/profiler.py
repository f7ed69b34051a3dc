"""`Profiler`: times NNabla functions on the target context, through a profile table.

Each function missing from the table is built alone on random inputs (see
:func:`.measure.build_function`) and timed with warm-up, repeated runs, device
synchronisation and a robust statistic; the result goes into the table, which is
saved if it has a file. Whole graphs are timed the same way (:meth:`time_graph`),
for calibration and benchmarks.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Union

import nnabla as nn
import numpy as np

from ...utils.context import make_context, synchronize, use_context
from . import measure
from .table import ProfileTable, ProfileTableError

#: Default timing settings: calls before timing, and timed samples.
WARMUP, REPEATS = 3, 25
#: Samples when timing whole networks (calibration, benchmarks).
GRAPH_REPEATS = 100


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
            this device, created on the first save), or None for an in-memory table.
            A table of another device (see :func:`.bundle.import_table`) is only read:
            a function it lacks is an error, never profiled here.
        warmup: Calls before timing.
        repeats: Timed samples per function.
        statistic: ``'median'``, ``'trimmed_mean'`` or ``'min'`` of the samples.
        type_config: NNabla's type configuration (``'float'``, ``'half'``).
    """

    def __init__(self, context: str = "cpu", device_id: int = 0,
                 table: Union[None, str, ProfileTable] = None, warmup: int = WARMUP,
                 repeats: int = REPEATS, statistic: str = "median",
                 type_config: str = "float"):
        self.ctx = make_context(context, device_id, type_config)
        self.fingerprint = measure.device_fingerprint(context, device_id, type_config)
        if warmup < 0 or repeats < 1:
            raise ValueError(f"Profiler: expected warmup >= 0 and repeats >= 1, got "
                             f"warmup={warmup!r}, repeats={repeats!r}")
        self.warmup, self.repeats = int(warmup), int(repeats)
        if table is None:
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

    @property
    def can_profile(self) -> bool:
        """Whether missing entries may be profiled here: the table is this device's
        and writable (not imported)."""
        return self.table.is_for(self.fingerprint) and not self.table.read_only

    def _sync(self) -> None:
        synchronize(self.ctx)

    def time_function(self, spec: measure.FunctionSpec) -> float:
        """Time ``spec`` alone on random inputs now, without the table (ms)."""
        with use_context(self.ctx):
            _, outputs = measure.build_function(spec, self.ctx, self._rng)
        samples = measure.time_calls(measure.forward_runner(outputs), self.warmup,
                                     self.repeats, self._sync)
        return measure.summarize(samples, self.statistic)

    def time_graph(self, outputs: Union[nn.Variable, Sequence[nn.Variable]],
                   warmup: int = 10, repeats: int = GRAPH_REPEATS) -> float:
        """Time whole inference forwards of a built graph (ms), as deployed:
        ``forward(clear_no_need_grad=True)``, ``warmup`` untimed calls, the statistic
        of ``repeats`` samples."""
        outputs = [outputs] if isinstance(outputs, nn.Variable) else list(outputs)
        samples = measure.time_calls(measure.forward_runner(outputs), warmup, repeats,
                                     self._sync)
        return measure.summarize(samples, self.statistic)

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
            for key, spec in missing.items():
                self.table.put(key, self.time_function(spec), self.repeats)
                self.profiled += 1
            self.table.save_if_changed()
        return [self.table.get(s.key) for s in specs]

    def profile(self, specs: Sequence[measure.FunctionSpec]) -> ProfileReport:
        """Make sure every spec is in the table; report what it took."""
        start = time.perf_counter()
        before = self.profiled
        self.times(specs)
        return ProfileReport(len({s.key for s in specs}), self.profiled - before,
                             time.perf_counter() - start)
