"""Calibration: from isolated function times to whole-network latency on one device.

Summing isolated function times misses the framework's work between functions and
the cache effects of a real forward pass. A few whole networks are measured end to
end, and ``t_net ≈ a * sum(t_f) + b * n_functions`` is fitted (non-negative,
relative least squares, :func:`.measure.fit_calibration`); the coefficients are
stored in the profile table, next to the device fingerprint they belong to.

The default calibration networks are seeded random MobileNetV2-style networks
(:func:`nnabla_nas.contrib.pnas.random_mobilenet`), at seeds that the benchmark in
``bench/estimators.py`` does not use.
"""
from __future__ import annotations

import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import nnabla as nn
import numpy as np

from ...module import Module
from ..pnas import random_mobilenet
from . import measure
from .graph import LatencyBase, graph_functions, module_graph

#: Seeds of the default calibration networks (the benchmark uses others).
CALIBRATION_SEEDS = tuple(range(9000, 9008))
#: Input shape of the default calibration networks: one 64x64 RGB image.
CALIBRATION_INPUT = (1, 3, 64, 64)


def default_networks(input_shape: Sequence[int] = CALIBRATION_INPUT,
                     seeds: Sequence[int] = CALIBRATION_SEEDS) -> List[Module]:
    """Seeded random MobileNetV2-style networks, with ``input_shape`` recorded."""
    networks = []
    for seed in seeds:
        net = random_mobilenet(seed)
        with nn.auto_forward(False):
            net(nn.Variable(tuple(input_shape)))
        networks.append(net)
    return networks


def fill_inputs(inputs: Sequence[nn.Variable], seed: int = 0) -> None:
    """Random data in the graph inputs, so that timings never run on uninitialized
    memory (which may hold denormals)."""
    rng = np.random.RandomState(seed)
    for x in inputs:
        x.d = rng.standard_normal(x.shape).astype(np.float32)


def graph_samples(base: LatencyBase, graphs: Sequence[Tuple[list, list]],
                  rounds: int = 4, repeats: int = 100, warmup: int = 10
                  ) -> List[List[float]]:
    """Forward times (ms) of each ``(inputs, outputs)`` graph: ``rounds`` round-robin
    passes over the graphs (so that slow drift of the machine's load spreads over all
    of them), each timing ``repeats / rounds`` forwards after ``warmup`` untimed ones.
    Used by calibration and by the benchmark alike."""
    for inputs, _ in graphs:
        fill_inputs(inputs)
    return base.profiler.graph_samples([(list(inputs), list(outputs))
                                        for inputs, outputs in graphs], warmup,
                                       repeats, rounds)


def measure_graphs(base: LatencyBase, graphs: Sequence[Tuple[list, list]],
                   **timing: Any) -> List[float]:
    """Whole-network latency (ms) of each graph: the profiler's statistic of
    :func:`graph_samples`."""
    return [measure.summarize(s, base.profiler.statistic)
            for s in graph_samples(base, graphs, **timing)]


def calibrate_graphs(base: LatencyBase, graphs: Sequence[Tuple[list, list]],
                     measured: Optional[Sequence[float]] = None,
                     **timing: Any) -> Dict[str, Any]:
    """Fit and store the calibration of ``base``'s table from whole-network
    latencies of ``graphs`` (``(inputs, outputs)`` pairs): ``measured`` (ms, one per
    graph) or, by default, :func:`measure_graphs` with ``timing``.

    Returns:
        The coefficients (see :func:`.measure.fit_calibration`), plus ``seconds``.
    """
    start = time.perf_counter()
    sums, counts = [], []
    for _, outputs in graphs:
        specs = graph_functions(outputs)
        sums.append(float(sum(base.profiler.times(specs))))
        counts.append(len(specs))
    if measured is None:
        measured = measure_graphs(base, graphs, **timing)
    elif len(measured) != len(graphs):
        raise ValueError(f"calibrate_graphs: {len(measured)} measurements for "
                         f"{len(graphs)} graphs")
    fit = measure.fit_calibration(sums, counts, measured)
    base.table.calibration = fit
    base.table.save_if_changed()
    return dict(fit, seconds=time.perf_counter() - start)


def calibrate_modules(base: LatencyBase, networks: Optional[Sequence[Module]] = None,
                      **timing: Any) -> Dict[str, Any]:
    """:func:`calibrate_graphs` on the inference graphs of ``networks`` (modules that
    were called once, so their input shapes are known); by default
    :func:`default_networks`."""
    networks = default_networks() if networks is None else networks
    graphs = [module_graph(net, base.profiler.ctx) for net in networks]
    return calibrate_graphs(base, graphs, **timing)
