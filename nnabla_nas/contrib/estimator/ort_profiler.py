"""`OrtProfiler`: function and network timings through ONNX Runtime on this CPU.

The device ``onnxruntime-cpu`` (see :mod:`nnabla_nas.utils.context`) estimates the
latency a network has when deployed with ONNX Runtime: each NNabla function of a
candidate is built alone, with its weights as constants (see
:func:`.graph_files.function_graph`), converted to ONNX by NNabla's own exporter and
timed in an ONNX Runtime session; whole networks (calibration, the ``measured``
figure of a trained network) are converted and timed the same way. Training and the
network itself still run on NNabla's CPU context.

Granularity: ONNX Runtime fuses a convolution with the batch normalization and the
activation after it, which a sum over isolated functions cannot see; the calibration
of the table (:mod:`.calibration`, fitted on networks measured through ONNX Runtime)
absorbs the average effect. ``bench/ort_granularity.py`` compares this
per-function estimate with a per-block one.

The table has its own fingerprint (:func:`.onnx_runtime.fingerprint`: processor,
ONNX Runtime version, threads), so a table of NNabla's timings, another ONNX Runtime
version or another thread count is refused.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Union

import nnabla as nn
import numpy as np

from ...utils.context import use_context
from . import measure, onnx_runtime
from .graph_files import function_graph, graph_parameters, onnx_model, onnx_models
from .profiler import CHUNK, REPEATS, ROUNDS, WARMUP, Graph, Profiler
from .table import ProfileTable


#: The function whose session time is the cost of a session call (see
#: :meth:`OrtProfiler.time_functions`).
OVERHEAD_SPEC = measure.FunctionSpec("Identity", {}, [((1,), "float32")])


def _graph_pair(graph: Graph, where: str):
    if isinstance(graph, tuple) and len(graph) == 2 and not isinstance(
            graph[0], nn.Variable):
        return list(graph[0]), list(graph[1])
    raise TypeError(f"{where}: ONNX Runtime times a graph from its inputs: expected "
                    f"an (inputs, outputs) pair, got {type(graph).__name__}")


class OrtProfiler(Profiler):
    """:class:`.profiler.Profiler` whose timings come from ONNX Runtime sessions.

    Args:
        device_id: Unused (one CPU).
        table, warmup, repeats, statistic, type_config, rounds: as
            :class:`.profiler.Profiler`.
        threads: ONNX Runtime's intra-op threads; default
            :func:`.onnx_runtime.nnabla_threads`, the threads NNabla's CPU kernels
            use, so the two runtimes are compared on the same cores.

    Raises:
        OnnxRuntimeNotInstalledError: if onnxruntime is missing.
    """

    runtime = "onnxruntime"

    def __init__(self, device_id: int = 0, table: Union[None, str, ProfileTable] = None,
                 warmup: int = WARMUP, repeats: int = REPEATS,
                 statistic: str = measure.DEFAULT_STATISTIC, type_config: str = "float",
                 rounds: int = ROUNDS, threads: Optional[int] = None):
        self.threads = onnx_runtime.nnabla_threads() if threads is None else int(threads)
        super().__init__("cpu", device_id, table, warmup, repeats, statistic,
                         type_config, rounds)

    def device_fingerprint(self, context: str, device_id: int, type_config: str
                           ) -> Dict[str, str]:
        return onnx_runtime.fingerprint(self.threads, type_config)

    def _function_runners(self, specs: Sequence[measure.FunctionSpec]):
        """One session run per spec: the function alone, converted to ONNX (all
        specs in one conversion, see :func:`.graph_files.onnx_models`)."""
        with use_context(self.ctx):
            graphs = [function_graph(s, self.ctx, self._rng) for s in specs]
        runs = []
        for spec, model in zip(specs, onnx_models(graphs)):
            session = onnx_runtime.make_session(model, self.threads)
            runs.append(onnx_runtime.session_runner(
                session, onnx_runtime.function_feeds(session, spec, self._rng)))
        return runs

    def time_functions(self, specs: Sequence[measure.FunctionSpec]) -> List[float]:
        """Time each spec alone, converted to ONNX, in an ONNX Runtime session (ms),
        net of the session call's own cost (:func:`.onnx_runtime.time_functions`),
        in round-robin passes over chunks of :data:`.profiler.CHUNK` functions."""
        times: List[float] = []
        for first in range(0, len(specs), CHUNK):
            overhead, *runs = self._function_runners(
                [OVERHEAD_SPEC] + list(specs[first:first + CHUNK]))
            times.extend(onnx_runtime.time_functions(
                runs, overhead, self.warmup, self.repeats, self.rounds, self.statistic))
        return times

    def _graph_runner(self, inputs: Sequence[nn.Variable],
                      outputs: Sequence[nn.Variable]):
        session = onnx_runtime.make_session(onnx_model(inputs, outputs), self.threads)
        rng = np.random.RandomState(0)
        return onnx_runtime.session_runner(session,
                                           onnx_runtime.session_inputs(session, rng=rng))

    def graph_samples(self, graphs: Sequence[Graph], warmup: int = 10,
                      repeats: int = 100, rounds: int = 4) -> List[List[float]]:
        """Inference times (ms) through ONNX Runtime of whole graphs, each an
        ``(inputs, outputs)`` pair, converted to ONNX with every other variable they
        read as a constant; timed as :meth:`.profiler.Profiler.graph_samples`.

        Raises:
            TypeError: for a graph given by its outputs only.
        """
        runs = [self._graph_runner(*_graph_pair(g, "OrtProfiler.graph_samples"))
                for g in graphs]
        return measure.time_round_robin(runs, warmup, repeats, rounds)

    def network_samples(self, module, outputs: Sequence[nn.Variable], warmup: int,
                        repeats: int, seconds: float = 0.0) -> List[float]:
        """Inference times (ms) through ONNX Runtime of the graph ending at
        ``outputs``: ``module``'s parameters become constants, every other variable
        the graph reads is an input (random data); samples as
        :meth:`.profiler.Profiler.network_samples` takes them."""
        params = set(module.get_parameters().values())
        leaves = graph_parameters([], list(outputs)).values()
        inputs = [v for v in leaves if v not in params]
        return measure.time_calls(self._graph_runner(inputs, outputs), warmup, repeats,
                                  seconds=seconds)


def make_profiler(context: str = "cpu", device_id: int = 0,
                  table: Union[None, str, ProfileTable] = None, warmup: int = WARMUP,
                  repeats: int = REPEATS, statistic: str = measure.DEFAULT_STATISTIC,
                  type_config: str = "float", rounds: int = ROUNDS) -> Profiler:
    """The profiler of a device: :class:`OrtProfiler` for ``'onnxruntime-cpu'``,
    NNabla's :class:`.profiler.Profiler` for its contexts."""
    if context == onnx_runtime.DEVICE:
        return OrtProfiler(device_id, table, warmup, repeats, statistic, type_config,
                           rounds)
    return Profiler(context, device_id, table, warmup, repeats, statistic, type_config,
                    rounds)


def fingerprint_of(context: str = "cpu", device_id: int = 0,
                   type_config: str = "float") -> Dict[str, str]:
    """The fingerprint of a device's profile tables: ONNX Runtime's (with the threads
    :class:`OrtProfiler` uses by default) for ``'onnxruntime-cpu'``, else
    :func:`.measure.device_fingerprint`."""
    if context == onnx_runtime.DEVICE:
        return onnx_runtime.fingerprint(None, type_config)
    return measure.device_fingerprint(context, device_id, type_config)
