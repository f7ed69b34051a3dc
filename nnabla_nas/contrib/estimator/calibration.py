"""Calibration: from isolated function times to whole-network latency on one device.

Summing isolated function times misses the framework's work between functions and
the cache effects of a real forward pass. A few whole networks are measured end to
end, and ``t_net ≈ sum over functions f of (a * t_f + b)`` is fitted (non-negative,
relative least squares, :func:`.measure.fit_calibration`; the terms and why:
:data:`.measure.CALIBRATION_TERMS`); the coefficients are stored in the profile table,
next to the device fingerprint they belong to. An interrupted calibration writes
nothing.

The default calibration networks (:data:`CALIBRATION_SET`) are seeded random
MobileNetV2-style networks (:func:`nnabla_nas.contrib.pnas.random_mobilenet`) at
several input sizes, at seeds that the benchmark in ``bench/estimators.py`` does not
use.
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

#: The default calibration networks: ``(seed, side)`` of a random MobileNetV2-style
#: network on one ``side x side`` RGB image. Several input sizes and seeds, so that
#: the fit holds for sizes and blocks it never saw. Calibration seeds are 9000-9999;
#: the estimator's design was tuned on development seeds 7000-7999; benchmarks test
#: on others (bench/estimators.py draws them at random).
CALIBRATION_SET = ((9000, 32), (9001, 48), (9002, 64), (9003, 80), (9004, 96),
                   (9005, 112), (9006, 128), (9007, 64))
#: How the default calibration times each network (see :func:`graph_samples`).
CALIBRATION_TIMING = dict(rounds=4, repeats=40, warmup=3)


def network(seed: int, input_shape: Sequence[int]) -> Module:
    """The seeded random MobileNetV2-style network, with ``input_shape`` recorded."""
    net = random_mobilenet(seed)
    with nn.auto_forward(False):
        net(nn.Variable(tuple(int(d) for d in input_shape)))
    return net


def default_networks(input_shape: Optional[Sequence[int]] = None,
                     seeds: Optional[Sequence[int]] = None) -> List[Module]:
    """Seeded random MobileNetV2-style networks with their input shapes recorded: the
    default calibration set (:data:`CALIBRATION_SET`), or ``seeds`` (default: its
    seeds) all on ``input_shape``."""
    if input_shape is None and seeds is None:
        return [network(seed, (1, 3, side, side)) for seed, side in CALIBRATION_SET]
    seeds = [seed for seed, _ in CALIBRATION_SET] if seeds is None else seeds
    input_shape = (1, 3, 64, 64) if input_shape is None else input_shape
    return [network(seed, input_shape) for seed in seeds]


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
        The coefficients (see :func:`.measure.fit_calibration`), plus ``seconds``,
        and what they were fitted on: ``features`` (one row of
        :func:`.measure.calibration_features` per graph) and ``measured`` (ms).
    """
    start = time.perf_counter()
    if measured is not None and len(measured) != len(graphs):
        raise ValueError(f"calibrate_graphs: {len(measured)} measurements for "
                         f"{len(graphs)} graphs")
    with base.table.held():  # written once, at the end; an interruption writes nothing
        features = []
        for _, outputs in graphs:
            specs = graph_functions(outputs)
            features.append(measure.calibration_features(specs,
                                                         base.profiler.times(specs)))
        if measured is None:
            measured = measure_graphs(base, graphs, **timing)
        fit = measure.fit_calibration(features, measured)
        base.table.calibration = fit
    return dict(fit, seconds=time.perf_counter() - start,
                features=[list(row) for row in features], measured=list(measured))


def calibrate_modules(base: LatencyBase, networks: Optional[Sequence[Module]] = None,
                      **timing: Any) -> Dict[str, Any]:
    """:func:`calibrate_graphs` on the inference graphs of ``networks`` (modules that
    were called once, so their input shapes are known); by default
    :func:`default_networks` timed with :data:`CALIBRATION_TIMING`."""
    if networks is None:
        networks = default_networks()
        timing = dict(CALIBRATION_TIMING, **timing)
    graphs = [module_graph(net, base.profiler.ctx) for net in networks]
    return calibrate_graphs(base, graphs, **timing)
