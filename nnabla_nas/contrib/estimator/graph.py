"""`LatencyGraphEstimator`: the latency of an NNabla graph, function by function.

Every function the forward pass executes is accounted for, whichever module (or
none) created it: a residual ``F.add2`` written in a ``call()`` counts like a
convolution. Each function's time comes from the profile table (profiled on a miss),
and the sum is calibrated against whole-network measurements of this device (see
:mod:`.calibration` and :data:`.measure.CALIBRATION_TERMS`).

Units: milliseconds (ms) for one forward pass.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import nnabla as nn

from ...module import MixedOp, Module, training_mode
from ...utils.context import use_context
from . import measure
from .base import ESTIMATORS, active_index
from .ort_profiler import make_profiler
from .profiler import REPEATS, ROUNDS, WARMUP, Profiler, ProfileReport
from .table import ProfileTable

Outputs = Union[nn.Variable, Sequence[nn.Variable]]


def graph_functions(outputs: Outputs) -> List[measure.FunctionSpec]:
    """The spec of every function that a forward pass to ``outputs`` executes, once
    each, in execution order."""
    outputs = [outputs] if isinstance(outputs, nn.Variable) else list(outputs)
    if not outputs or not all(isinstance(o, nn.Variable) for o in outputs):
        raise TypeError(f"expected an nn.Variable or a list of them, got {outputs!r}")
    root = outputs[0] if len(outputs) == 1 else nn.sink(*outputs)
    specs: List[measure.FunctionSpec] = []

    def visit(f) -> None:
        if len(outputs) > 1 and f.info.type_name == "Sink":
            return
        specs.append(measure.FunctionSpec.from_function(f))

    root.visit(visit)
    return specs


class LatencyBase:
    """What the latency estimators share: the profiler, its table, the calibration.

    Args:
        context: ``'cpu'``, ``'cudnn'`` or ``'onnxruntime-cpu'`` (the device the
            estimates are for; see :func:`.ort_profiler.make_profiler`).
        device_id: The GPU for ``'cudnn'``.
        table: A profile table path, a :class:`ProfileTable` (e.g. one imported from
            another device with :func:`.bundle.import_table`), or None (in memory).
        warmup: Untimed calls before each round of timing a function.
        repeats: Timed samples per function.
        statistic: one of :data:`.measure.STATISTICS` (a given table brings
            its own).
        rounds: Round-robin passes the samples of the functions are spread over.
        profiler: A ready :class:`Profiler` to share (the other arguments are then
            ignored).
    """

    def __init__(self, context: str = "cpu", device_id: int = 0,
                 table: Union[None, str, ProfileTable] = None, warmup: int = WARMUP,
                 repeats: int = REPEATS, statistic: str = measure.DEFAULT_STATISTIC,
                 rounds: int = ROUNDS, profiler: Optional[Profiler] = None):
        self.profiler = profiler or make_profiler(context, device_id, table, warmup,
                                                  repeats, statistic, rounds=rounds)

    @property
    def table(self) -> ProfileTable:
        """The profile table the timings come from."""
        return self.profiler.table

    @property
    def calibration(self) -> Optional[dict]:
        """The calibration coefficients of the table, or None if uncalibrated."""
        return self.table.calibration

    def function_times(self, specs: Sequence[measure.FunctionSpec]
                       ) -> List[Tuple[measure.FunctionSpec, float]]:
        """Each spec with its isolated time (ms)."""
        return list(zip(specs, self.profiler.times(specs)))

    def cost(self, specs: Sequence[measure.FunctionSpec]) -> float:
        """Calibrated time (ms) of executing ``specs`` in a network."""
        return measure.apply_calibration(self.calibration, specs,
                                         self.profiler.times(specs))

    def profile_functions(self, specs: Sequence[measure.FunctionSpec]) -> ProfileReport:
        """Profile the specs missing from the table; report the time it took."""
        return self.profiler.profile(specs)


@ESTIMATORS.register("latency_graph")
class LatencyGraphEstimator(LatencyBase):
    """Latency (ms) of one forward pass of an NNabla graph, given its output variable.

    Example::

        est = LatencyGraphEstimator()           # CPU, in-memory table
        ms = est.get_estimation(y)              # y: the graph's output nn.Variable
    """

    def get_estimation(self, out: Outputs) -> float:
        """Estimated ms for one forward pass to ``out`` (calibrated if the table is)."""
        return self.cost(graph_functions(out))

    def breakdown(self, out: Outputs) -> List[Tuple[measure.FunctionSpec, float]]:
        """Each function of the graph with its isolated, uncalibrated time (ms)."""
        return self.function_times(graph_functions(out))

    def profile(self, outputs: Sequence[nn.Variable]) -> ProfileReport:
        """Profile every function of the graphs ending at ``outputs``."""
        specs: List[measure.FunctionSpec] = []
        for out in outputs:
            specs.extend(graph_functions(out))
        return self.profile_functions(specs)


# ----------------------------------------------------------- graphs of modules
def describe_module(module: Module) -> str:
    """``Type(settings)``, to name a module in messages."""
    return f"{type(module).__name__}({module.extra_repr()})"


@contextmanager
def inference_mode(module: Module) -> Iterator[None]:
    """Within the block, calling ``module`` builds its inference graph: every module
    has ``training=False``, and each MixedOp in 'sample' mode runs the candidate it
    drew last (its active path) without the training-only gate and without drawing
    random numbers ('max' and 'full' modes are deterministic already). Everything is
    restored afterwards.

    Raises:
        ValueError: for a MixedOp in 'sample' mode that never ran.
    """
    frozen = []
    for _, m in module.get_modules():
        if isinstance(m, MixedOp) and m.mode == "sample":
            k = active_index(m, describe_module(m))
            frozen.append((m, k, m.selected, m.alpha, m.alpha.need_grad))
    with training_mode(module, False):
        try:
            for m, k, _, alpha, _ in frozen:
                m.select(k)
                alpha.need_grad = False  # no gate: deployment runs the bare candidate
            yield
        finally:
            for m, _, selected, alpha, need_grad in reversed(frozen):
                m.select(selected)
                alpha.need_grad = need_grad


@contextmanager
def _traced_calls(root: Module) -> Iterator[list]:
    """Record ``(module, input variables, outputs)`` of every call of a module of the
    tree while the block runs, in the order the calls return (inner calls first)."""
    calls: list = []
    missing = object()
    patched = []
    for _, m in root.get_modules():
        previous = m.__dict__.get("call", missing)

        def traced(*args, _module=m, _call=m.call, **kwargs):
            out = _call(*args, **kwargs)
            inputs = [v for v in list(args) + list(kwargs.values())
                      if isinstance(v, nn.Variable)]
            calls.append((_module, inputs, out))
            return out

        m.__dict__["call"] = traced  # shadows the class's call() for this instance
        patched.append((m, previous))
    try:
        yield calls
    finally:
        for m, previous in patched:
            if previous is missing:
                m.__dict__.pop("call", None)
            else:
                m.__dict__["call"] = previous


def _as_outputs(module: Module, out) -> List[nn.Variable]:
    outputs = list(out) if isinstance(out, (list, tuple)) else [out]
    if not outputs or not all(isinstance(o, nn.Variable) for o in outputs):
        raise TypeError(f"{describe_module(module)}: expected call() to return "
                        f"nn.Variable outputs, got {out!r}")
    return outputs


def _functions_between(inputs: Sequence[nn.Variable], outputs: Sequence[nn.Variable]):
    """The function nodes on the paths from ``inputs`` to ``outputs`` (everything
    ``outputs`` depend on, stopping at ``inputs``), in execution order."""
    stop = set(inputs)
    seen, order = set(), []
    stack = [(v, False) for v in outputs]
    while stack:
        v, expanded = stack.pop()
        f = v.parent
        if v in stop or f is None or (f in seen and not expanded):
            continue
        if expanded:
            order.append(f)
            continue
        seen.add(f)
        stack.append((v, True))
        stack.extend((x, False) for x in reversed(f.inputs))
    return order


def module_graph(module: Module, ctx, shapes: Optional[Sequence[Sequence[int]]] = None,
                 trace: bool = False):
    """The inference graph of ``module`` on new (unfilled) inputs of ``shapes``
    (default: the shapes it was last called with), in context ``ctx``.

    Returns:
        ``(inputs, outputs)``, lists of ``nn.Variable``; with ``trace``,
        ``(inputs, outputs, own)`` where ``own`` maps every module that ran to the
        specs of the functions its own ``call()`` created, outside the calls of its
        submodules (a residual add in a block's ``call()`` is the block's own).
        These lists partition the functions of the graph.

    Raises:
        ValueError: naming the module if it was never called and no shapes are given.
    """
    shapes = module.input_shapes if shapes is None else shapes
    if not shapes:
        raise ValueError(f"{describe_module(module)} was never called, so the input shapes "
                         "to estimate it at are unknown; call it on an input first")
    with inference_mode(module), use_context(ctx), nn.auto_forward(False), \
            _traced_calls(module) if trace else _no_trace() as calls:
        inputs = [nn.Variable(tuple(int(d) for d in s)) for s in shapes]
        outputs = _as_outputs(module, module(*inputs))
    if not trace:
        return inputs, outputs
    own: Dict[Module, List[measure.FunctionSpec]] = {}
    claimed = set()
    for m, call_inputs, out in calls:  # inner calls return first and claim first
        mine = [f for f in _functions_between(call_inputs, _as_outputs(m, out))
                if f not in claimed]
        claimed.update(mine)
        own.setdefault(m, []).extend(measure.FunctionSpec.from_function(f) for f in mine)
    return inputs, outputs, own


@contextmanager
def _no_trace() -> Iterator[None]:
    yield None
