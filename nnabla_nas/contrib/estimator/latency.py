"""`LatencyEstimator`: milliseconds for one forward pass of a module, on a device.

The module's inference graph is built at the input shapes it was last called with,
and every function of it is timed (from the profile table, or profiled on a miss).
Each function belongs to the module whose ``call()`` created it, outside the calls
of its submodules: a residual add written in a block's ``call()`` is the block's own
cost, not lost between leaves. So :meth:`~LatencyEstimator.predict` (a module's own
cost) summed over the modules that run gives
:meth:`~LatencyEstimator.get_estimation` (the whole graph), as the shared
:class:`~.base.Estimator` contract and the expected costs over MixedOps need.

See :class:`.graph.LatencyGraphEstimator` for graphs, and :mod:`.calibration` for how
isolated function times become whole-network figures.
"""
from __future__ import annotations

import logging
import os
import time
import weakref
from dataclasses import dataclass
from typing import Any, Dict, Hashable, List, Optional, Sequence, Union

from ...config.fields import option
from ...module import MixedOp, Module, ModuleList
from ...utils.context import Device
from . import calibration, delivered, measure
from .base import ESTIMATORS, Estimator, Inference, NamedModules, active_index, figure
from .graph import LatencyBase, graph_functions, module_graph
from .profiler import ProfileReport

#: When a latency estimator calibrates its table (``calibrate:`` of the latency cost):
#: ``auto`` on first use if the table has no calibration yet, ``always`` on first use
#: even if it has one, ``never`` (a calibration already in the table is still used).
CALIBRATE_MODES = ("auto", "always", "never")

#: The environment variable that sets how many seconds each measurement of a trained
#: network spans (:meth:`LatencyEstimator.report`) in place of
#: :attr:`LatencyEstimator.SECONDS`: longer on a noisy machine, 0 where only the
#: fixed number of forwards matters (the test suite).
SECONDS_ENV = "NNABLA_NAS_MEASURE_SECONDS"

_log = logging.getLogger(__name__)


def measure_seconds(default: float) -> float:
    """Seconds each measurement of a trained network spans: ``$NNABLA_NAS_MEASURE_SECONDS``
    if set, else ``default``.

    Raises:
        ValueError: naming the variable, if it is not a number of seconds >= 0.
    """
    text = os.environ.get(SECONDS_ENV, "").strip()
    if not text:
        return default
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise ValueError(f"{SECONDS_ENV}: expected a number of seconds >= 0, got {text!r}")
    return seconds


def _holds_only(module: Module) -> bool:
    """Whether ``module`` has no computation of its own (``ModuleList``,
    ``ParameterList``): it is never called, only what it holds."""
    return type(module).call in (Module.call, ModuleList.call)


def search_space_functions(modules: Union[Module, Sequence[Module]], ctx
                           ) -> List[measure.FunctionSpec]:
    """Every function ``modules`` may run: their current inference graphs and, for
    each MixedOp, every candidate at the MixedOp's input shapes. Modules must have
    been called once."""
    modules = [modules] if isinstance(modules, Module) else list(modules)
    specs: List[measure.FunctionSpec] = []
    for module in modules:
        specs.extend(graph_functions(module_graph(module, ctx)[1]))
        for _, m in module.get_modules():  # pre-order: outer MixedOps record first
            if isinstance(m, MixedOp) and m.input_shapes:
                for op in m.ops:
                    specs.extend(graph_functions(module_graph(op, ctx, m.input_shapes)[1]))
    return specs


@ESTIMATORS.register("latency")
class LatencyEstimator(Estimator, LatencyBase):
    """Latency in milliseconds (ms) of modules on one device (CPU by default).

    * ``get_estimation(module)``: one inference forward of the whole module, or of the
      active path of a search space (a MixedOp in 'sample' mode runs the candidate it
      drew last, in 'max' mode the one of largest alpha, in 'full' mode all of them
      and the weighted sum).
    * ``predict(module)``: the module's own functions, those its ``call()`` creates
      outside its submodules; for a leaf, all of its functions.

    Calibrated by default: the first estimate on a device whose table has no
    calibration yet measures a few whole networks (:meth:`calibrate`, seconds to a
    minute) and stores the fit in the table; the default table is this device's
    persistent one in the user's cache folder, so later runs reuse it. A table of
    another device or NNabla version there is replaced, never used.

    Args: as :class:`.graph.LatencyBase` (``context``, ``device_id``, ``table``,
    ``warmup``, ``repeats``, ``statistic``, ``profiler``), and ``calibrate_mode``,
    one of :data:`CALIBRATE_MODES`; all optional.

    Example::

        est = LatencyEstimator()            # this device's cached, calibrated table
        net(x)                              # records the input shape
        ms = est.get_estimation(net)        # calibrates first, once per device
    """

    unit = "ms"
    summary_key = "latency_ms"

    @dataclass(frozen=True)
    class Config:
        """Options of latency as a cost of a search."""

        table: Optional[str] = option(None, "profile table (JSON) to reuse and extend "
                                            "across runs, or one imported from another "
                                            "device; default: this device's table in "
                                            "the user's cache folder ($NNABLA_NAS_CACHE "
                                            "or ~/.cache/nnabla-nas)")
        calibrate: str = option("auto", "when to calibrate the table against whole "
                                        "networks measured on this device: 'auto' on "
                                        "first use if it is not calibrated yet, "
                                        "'always' on first use, 'never'",
                                choices=CALIBRATE_MODES)

    #: Timed forwards of a trained network, after untimed ones, and the seconds the
    #: timed ones span at least, more being taken until they do (:meth:`report`;
    #: ``$NNABLA_NAS_MEASURE_SECONDS`` overrides SECONDS). Thirty forwards of a
    #: sub-millisecond network take a few hundredths of a second, all of which a
    #: slow phase of a shared machine can cover. ``bench/timing_window.py`` measured
    #: on a 2-core VM (docs/benchmarks.md) how often a window's figure is more than
    #: 10% above the long-run one: 21-39% of 0.05 s windows, 6-34% of 1 s windows,
    #: and still 0-30% of 30 s windows, since that VM's speed changes state for tens
    #: of seconds; no window a run can afford removes that, so SECONDS is the one
    #: second that halved the misses of two of its three networks, at one second per
    #: runtime and run.
    WARMUP, REPEATS, SECONDS = 5, 30, 1.0

    @classmethod
    def from_config(cls, options: "LatencyEstimator.Config", device: Device
                    ) -> "LatencyEstimator":
        """Profiled on ``device``, with the option's table or else the device's; in a
        data-parallel job (``device.comm``), on rank 0 only, the timings shared
        (:meth:`.profiler.Profiler.share`)."""
        table = device.table if options.table is None else options.table
        estimator = cls(context=device.name, device_id=device.device_id, table=table,
                        calibrate_mode=options.calibrate)
        estimator.profiler.share(device.comm)
        return estimator

    def __init__(self, *args: Any, calibrate_mode: str = "auto", **kwargs: Any):
        if calibrate_mode not in CALIBRATE_MODES:
            raise ValueError(f"calibrate_mode: expected one of {list(CALIBRATE_MODES)}, "
                             f"got {calibrate_mode!r}")
        Estimator.__init__(self)
        LatencyBase.__init__(self, *args, **kwargs)
        self.calibrate_mode = calibrate_mode
        #: What the calibration this estimator ran found (see :meth:`calibrate`), or
        #: None if it ran none.
        self.last_calibration: Optional[Dict[str, Any]] = None
        self._calibration_checked = calibrate_mode == "never"
        # module -> {signature: (all specs, own specs)}
        self._graphs: "weakref.WeakKeyDictionary[Module, dict]" = \
            weakref.WeakKeyDictionary()

    # ------------------------------------------------------------------ graphs
    def _graph_signature(self, module: Module) -> Hashable:
        mixed = tuple((m.mode, None if m.mode == "full" else active_index(m))
                      for _, m in module.get_modules() if isinstance(m, MixedOp))
        return tuple(tuple(s) for s in module.input_shapes), mixed

    def _specs(self, module: Module):
        """``(all specs, own specs)`` of ``module``'s inference graph, memoized per
        module, input shapes and active path; building a module's graph also stores
        the own specs of every module that ran in it."""
        if not module.input_shapes and _holds_only(module):
            return [], []  # a container that never runs: it costs nothing itself
        signature = self._graph_signature(module)
        cache = self._graphs.setdefault(module, {})
        if signature not in cache:
            _, outputs, own = module_graph(module, self.profiler.ctx, trace=True)
            everything = graph_functions(outputs)
            cache.clear()
            cache[signature] = (everything, own.get(module, []))
            for m, specs in own.items():
                if m is not module:
                    sub = self._graphs.setdefault(m, {})
                    sub.setdefault(self._graph_signature(m), (None, specs))
        entry = cache[signature]
        if entry[0] is None:  # known as part of a bigger graph only
            _, outputs = module_graph(module, self.profiler.ctx)
            entry = cache[signature] = (graph_functions(outputs), entry[1])
        return entry

    def functions(self, module: Module) -> List[measure.FunctionSpec]:
        """Every function one inference forward of ``module`` executes.

        Raises:
            ValueError: naming the module if it was never called.
        """
        return self._specs(module)[0]

    def own_functions(self, module: Module) -> List[measure.FunctionSpec]:
        """The functions ``module``'s own ``call()`` creates, outside its submodules."""
        return self._specs(module)[1]

    # ----------------------------------------------------------- calibration
    def ensure_calibrated(self) -> None:
        """Calibrate now if :attr:`calibrate_mode` asks for it and it has not been
        checked yet (estimates call this first). Tables that cannot be profiled here
        (imported from another device) keep the calibration they bring."""
        if self._calibration_checked:
            return
        self._calibration_checked = True
        if not self.profiler.can_profile or (self.calibrate_mode == "auto"
                                             and self.calibration is not None):
            return
        comm = self.profiler.comm
        if comm is not None and comm.size > 1:  # rank 0 calibrates, the others follow
            result = self.calibrate()
        else:
            with self.table.exclusive():  # one process at a time calibrates a file
                if self.calibrate_mode == "auto" and self.table.reload_calibration():
                    return  # another process just did
                result = self.calibrate()
        if comm is not None and not comm.is_main:
            return  # rank 0 measured and says so
        where = self.table.path or "an in-memory table"
        replaced = "" if self.table.replaces is None else " (replacing another table)"
        _log.warning(f"latency: calibrated for "
                     f"{measure.describe_fingerprint(self.table.fingerprint)} on "
                     f"{result['networks']} networks in {result['seconds']:.1f} s, "
                     f"stored in {where}{replaced}")

    @property
    def calibrated(self) -> bool:
        """Whether estimates are calibrated (after :meth:`ensure_calibrated`)."""
        return self.calibration is not None

    # --------------------------------------------------------------- estimates
    def _signature(self, module: Module) -> Hashable:
        self.ensure_calibrated()
        calib = self.calibration
        return self._graph_signature(module), \
            None if calib is None else measure.calibration_key(calib)

    def cost(self, specs: Sequence[measure.FunctionSpec]) -> float:
        """Calibrated time (ms) of executing ``specs`` in a network (calibrating the
        table first if :attr:`calibrate_mode` asks for it)."""
        self.ensure_calibrated()
        return super().cost(specs)

    def _predict(self, module: Module) -> float:
        return self.cost(self.own_functions(module))

    def total(self, modules: NamedModules) -> float:
        """ms of a set of modules of one tree: the sum of their own costs (every
        module, not only leaves, since a ``call()`` may add functions of its own)."""
        return float(sum(self.predict(m) for _, m in modules))

    def get_estimation(self, module: Module) -> float:
        """ms for one inference forward of ``module`` (or of the active path of a
        search space), from every function its graph executes."""
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}.get_estimation: expected a Module, "
                            f"got {type(module).__name__}")
        return self.cost(self.functions(module))

    def report(self, inference: Inference) -> Dict[str, float]:
        """``estimated_latency_ms``, ``latency_calibrated`` (whether the estimate is
        calibrated) and ``measured_latency_ms``: the statistic of the table over
        :attr:`REPEATS` timed forwards after :attr:`WARMUP` ones, and more until they
        span :attr:`SECONDS` (see :func:`measure_seconds`), on the inference's
        device."""
        estimated = self.get_estimation(inference.model)
        seconds = measure_seconds(self.SECONDS)
        samples = self.profiler.network_samples(inference.model, inference.outputs,
                                                self.WARMUP, self.REPEATS, seconds)
        measured = measure.summarize(samples, self.profiler.statistic)
        out = {f"estimated_{self.summary_key}": figure(estimated),
               "latency_calibrated": self.calibrated,
               f"measured_{self.summary_key}": figure(measured)}
        if inference.device.context.backend[0].startswith("cpu"):  # files run on a CPU
            out.update(self.measure_files(inference.nnp_path, inference.onnx_path))
        return out

    def measure_files(self, nnp_path: Optional[str], onnx_path: Optional[str]
                      ) -> Dict[str, float]:
        """The delivered files timed as a user runs them, with the table's statistic
        over samples taken as :meth:`report` takes them (see :mod:`.delivered`):
        ``measured_latency_ms_nnp`` (the NNP through NNabla's CPU context, in a fresh
        process) and ``measured_latency_ms_onnxruntime`` (the ONNX file through ONNX
        Runtime, when it is installed)."""
        out = {}
        statistic, seconds = self.profiler.statistic, measure_seconds(self.SECONDS)
        if nnp_path is not None:
            out[f"measured_{self.summary_key}_nnp"] = figure(delivered.time_nnp(
                nnp_path, self.WARMUP, self.REPEATS, statistic, seconds=seconds))
        if onnx_path is not None:
            ms = delivered.time_onnx(onnx_path, self.WARMUP, self.REPEATS, statistic,
                                     seconds)
            if ms is not None:
                out[f"measured_{self.summary_key}_onnxruntime"] = figure(ms)
        return out

    def profile(self, modules: Union[Module, Sequence[Module]]) -> ProfileReport:
        """Profile, before a search, every function ``modules`` may run (see
        :func:`search_space_functions`). Returns what was found and the time taken."""
        start = time.perf_counter()
        report = self.profile_functions(search_space_functions(modules,
                                                               self.profiler.ctx))
        return ProfileReport(report.functions, report.profiled,
                             time.perf_counter() - start)

    def calibrate(self, networks: Optional[Sequence[Module]] = None,
                  **timing: Any) -> Dict[str, Any]:
        """Fit this device's calibration from whole-network measurements and store
        it in the table (see :mod:`.calibration`); by default on
        :func:`.calibration.default_networks`. An interruption leaves the table and
        its file as they were. Returns the coefficients and the time taken
        (``seconds``)."""
        self._calibration_checked = True
        result = calibration.calibrate_modules(self, networks, **timing)
        self.last_calibration = result
        self.reset()
        return result

    def reset(self) -> None:
        """Forget memoized graphs and predictions (after changing a module in place)."""
        super().reset()
        self._graphs = weakref.WeakKeyDictionary()
