"""What both workers of ``bench/vs_reference.py`` share: the workload settings, timing,
memory and accuracy helpers, and the one-line JSON protocol.

Both ``nnabla_nas`` packages have the same import name, so each side runs in its own
interpreter (ours in ``.venv``, the reference in ``bench/.venv-ref``). This module is
imported by both workers and by the driver, and therefore imports neither
``nnabla_nas``: only the standard library and numpy at module level, nnabla inside the
functions that build or run graphs.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

#: The DARTS supernet of the CIFAR-10 setting, reduced for a CPU (the issue's numbers).
DARTS = dict(in_channels=3, init_channels=8, num_cells=5, num_classes=10, num_nodes=4,
             multiplier=4, stem_multiplier=3, batch=16, size=32)

#: The ``(init_channels, num_cells, batch)`` configurations the ``darts_step`` workload
#: sweeps, fixed before any of them was measured (issue 16, item 8): the benchmark's
#: own; the one at which our step once peaked at 0.90 of the reference's memory; a
#: wider, deeper network at a small batch, where parameters and their gradients weigh
#: most; and a narrow, shallow one at a large batch, where activations weigh most.
DARTS_SWEEP: Tuple[Tuple[int, int, int], ...] = ((8, 5, 16), (12, 6, 8), (16, 8, 4),
                                                 (4, 4, 32))


def darts_settings(config: Optional[Sequence[int]] = None) -> dict:
    """:data:`DARTS` with ``config = (init_channels, num_cells, batch)`` applied."""
    if config is None:
        return dict(DARTS)
    init_channels, num_cells, batch = (int(v) for v in config)
    return {**DARTS, "init_channels": init_channels, "num_cells": num_cells,
            "batch": batch}


def darts_label(config: Sequence[int]) -> str:
    """``C=12, 6 cells, batch 8``: how reports name a configuration."""
    return f"C={config[0]}, {config[1]} cells, batch {config[2]}"


def parse_darts_config(text: str) -> Tuple[int, int, int]:
    """``'12,6,8'`` as ``(12, 6, 8)``; ValueError naming what is wrong."""
    parts = text.split(",")
    if len(parts) != 3 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"--darts: expected three positive integers "
                         f"INIT_CHANNELS,NUM_CELLS,BATCH, got {text!r}")
    return tuple(int(p) for p in parts)  # type: ignore[return-value]

#: The ProxylessNAS MobileNetV2 space of the reference's CIFAR-10 search
#: (``conf/network/classification/mobilenet_cifar10.yaml``: ``[channels, blocks,
#: stride]`` per stage) on its ``SearchNet`` defaults: a 32-channel stride-2 stem, a
#: fixed ``MB1 3x3`` block to 16 channels, six candidates plus skip, a 1280-channel head.
PNAS = dict(num_classes=10, batch=16, size=32, width_mult=1.0,
            settings=[[24, 4, 1], [32, 4, 1], [64, 4, 2], [96, 4, 1], [160, 4, 2],
                      [320, 1, 1]],
            candidates=["MB3 3x3", "MB6 3x3", "MB3 5x5", "MB6 5x5", "MB3 7x7", "MB6 7x7"])

#: Random MobileNetV2-style networks (``nnabla_nas.contrib.pnas.random_mobilenet``) at
#: the seeds ``bench/estimators.py`` uses; batch 1, ``size x size`` RGB input.
LATENCY = dict(size=64, first_seed=100, networks=20)

#: Sampled paths per architecture step of the reference's REINFORCE (``n_iter = 10`` in
#: ``ProxylessNasSearcher.valid_on_batch`` of nnabla-nas 0.15.0). Ours samples one path
#: per step, so ``pnas_search_reinforce`` runs that many of our steps per iteration: the
#: same number of sampled-path forwards on both sides (each side counts its path graphs
#: and reports them as ``path_graphs``).
REINFORCE_PATHS = 10

#: Line prefix of a worker's result on stdout (anything else there is library chatter).
MARKER = "VS_REFERENCE_RESULT "


@dataclass(frozen=True)
class Metric:
    """One figure of a workload: its key in the worker's result, how to print it,
    and the ours/theirs target (``("<=", 0.8)``: at most 0.8 times theirs)."""

    key: str
    label: str
    fmt: str = "{:.1f}"
    target: Optional[Tuple[str, float]] = None


@dataclass(frozen=True)
class Workload:
    """A workload both sides run; each worker registers its implementation by name."""

    name: str
    title: str
    metrics: Tuple[Metric, ...]
    #: Keys of metrics that must be equal on both sides for the comparison to hold
    #: (the work done, as counted by each side).
    same: Tuple[str, ...] = ()


WORKLOADS: Dict[str, Workload] = {w.name: w for w in [
    Workload("darts_step", "DARTS supernet training step (forward + backward)", (
        Metric("step_ms", "step (ms)", target=("<=", 0.8)),
        Metric("peak_mib", "peak memory growth (MiB)", target=("<=", 0.8)))),
    Workload("darts_search", "DARTS search iteration (weight step + 1st-order arch step)", (
        Metric("iter_ms", "iteration (ms)"),
        Metric("peak_mib", "peak memory growth (MiB)"))),
    Workload("latency", "Latency estimator on random MobileNetV2-style networks", (
        Metric("within10_pct", "within ±10% (%)", target=(">=", 1.0)),
        Metric("mape_pct", "MAPE (%)", "{:.2f}", target=("<=", 1.0)),
        Metric("kendall_tau", "Kendall tau", "{:.3f}", target=(">=", 1.0)),
        Metric("profile_s", "profiling (s)", "{:.2f}", target=("<=", 0.5)),
        Metric("total_s", "profiling + calibration (s)", "{:.2f}"),
        Metric("measured_ms", "measured latency, median net (ms)", "{:.2f}"))),
    Workload("pnas_search", "ProxylessNAS search step, MobileNetV2 space, each side's "
             "default architecture step (ours: binary gates over two paths in one "
             "graph; theirs: REINFORCE over ten paths)", (
                 Metric("iter_ms", "iteration (ms)"),
                 Metric("peak_mib", "peak memory growth (MiB)"),
                 Metric("path_graphs", "sampled-path graphs per iteration", "{:.0f}"))),
    Workload("pnas_search_reinforce", "ProxylessNAS search, MobileNetV2 space, REINFORCE "
             f"on both sides: one weight step and {REINFORCE_PATHS} sampled-path forwards "
             f"for alpha (ours: {REINFORCE_PATHS} one-path steps; theirs: one step of "
             f"{REINFORCE_PATHS} paths)", (
                 Metric("iter_ms", "iteration (ms)"),
                 Metric("peak_mib", "peak memory growth (MiB)"),
                 Metric("path_graphs", "sampled-path graphs per iteration", "{:.0f}")),
             same=("path_graphs",)),
]}


class WorkloadUnavailable(RuntimeError):
    """A side cannot run a workload (e.g. ours has no such searcher yet)."""


# ----------------------------------------------------------------------- registry
class Registry:
    """Workload implementations of one side, by the names of :data:`WORKLOADS`, with
    the modules each imports: :func:`worker_main` imports them before the workload
    runs, so that a workload's memory baseline is taken after its side's imports."""

    def __init__(self, side: str):
        self.side = side
        self._fns: Dict[str, Callable] = {}
        self._imports: Dict[str, Tuple[str, ...]] = {}

    def register(self, name: str, imports: Sequence[str] = ()
                 ) -> Callable[[Callable], Callable]:
        if name not in WORKLOADS:
            raise KeyError(f"{self.side}: unknown workload {name!r}; valid: "
                           f"{', '.join(WORKLOADS)}")
        if name in self._fns:
            raise KeyError(f"{self.side}: workload {name!r} registered twice")

        def decorator(fn: Callable) -> Callable:
            self._fns[name] = fn
            self._imports[name] = tuple(imports)
            return fn

        return decorator

    def imports(self, name: str) -> Tuple[str, ...]:
        """The modules the workload ``name`` imports (to import before it runs)."""
        self.get(name)
        return self._imports[name]

    def get(self, name: str) -> Callable:
        if name not in self._fns:
            raise KeyError(f"{self.side}: no workload {name!r}; registered: "
                           f"{', '.join(self._fns) or 'none'}")
        return self._fns[name]

    def names(self) -> List[str]:
        return list(self._fns)


# ------------------------------------------------------------------ measurements
def _status_kib(field: str) -> int:
    """A ``/proc/self/status`` field in KiB (``VmRSS``: resident now, ``VmHWM``: peak)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def reset_peak() -> None:
    """Reset the process's resident high-water mark (``VmHWM``) to its current size
    (Linux 4.0 and later: ``/proc/self/clear_refs``), so that a later peak is the work's
    and not an earlier import's."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
        f.write("5")


class PeakMemory:
    """Peak resident memory a block of work adds: the high-water mark at the end minus
    the resident size at the start. Both workers create it after importing what their
    workload uses (:meth:`Registry.imports`; the imports differ between the sides), and
    it resets the high-water mark there, so the same protocol holds on both sides."""

    def __init__(self):
        reset_peak()
        self.base_kib = _status_kib("VmRSS")

    def growth_mib(self) -> float:
        return (_status_kib("VmHWM") - self.base_kib) / 1024.0


class CallCounter:
    """Counts the calls of ``owner.name`` (an instance's method, wrapped in place)."""

    def __init__(self, owner, name: str):
        self.calls = 0
        method = getattr(owner, name)

        def counted(*args, **kwargs):
            self.calls += 1
            return method(*args, **kwargs)

        setattr(owner, name, counted)


def time_calls(fn: Callable[[], object], steps: int, warmup: int = 1) -> List[float]:
    """Seconds of each of ``steps`` calls of ``fn`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def train_step(loss, params: Sequence) -> None:
    """One training step of the supernet benchmark, the same code on both sides:
    zero the gradients, forward, backward (buffers freed as the searchers do)."""
    for p in params:
        p.grad.zero()
    loss.forward(clear_no_need_grad=True)
    loss.backward(clear_buffer=True)


def unique_count(params: Iterable) -> int:
    """Entries of distinct parameter variables: the reference lists a shared alpha once
    per MixedOp that holds it, so counting by key would count it several times."""
    seen = {}
    for p in params:
        seen[id(p)] = int(np.prod(p.shape))
    return int(sum(seen.values()))


def function_counts(output) -> Dict[str, int]:
    """How many functions of each type a forward pass to ``output`` runs."""
    counts: Counter = Counter()
    output.visit(lambda f: counts.update([f.info.type_name]))
    return dict(sorted(counts.items()))


def cifar_batch(batch: int, size: int, classes: int, seed: int = 0):
    """A fixed random image batch and labels, the same on both sides."""
    rng = np.random.RandomState(seed)
    x = rng.randn(batch, 3, size, size).astype(np.float32)
    y = rng.randint(0, classes, (batch, 1)).astype(np.int32)
    return x, y


def measure_latency_ms(graphs: Sequence[Tuple[object, object]], rounds: int = 25,
                       repeats: int = 100, warmup: int = 1) -> List[float]:
    """Measured latency (ms, lower quartile) of each ``(input, output)`` inference
    graph: ``rounds`` round-robin passes over the graphs, each ``warmup`` untimed and
    ``repeats / rounds`` timed ``forward(clear_no_need_grad=True)`` calls. The ground
    truth of both sides' estimators, so it must not move with the machine's load: many
    short passes spread every network's samples over the whole measurement, and the
    lower quartile keeps the samples other processes did not slow down (with 4 long
    passes and the median, the same networks measured twice here ranked against
    themselves with Kendall tau as low as 0.77)."""
    rng = np.random.RandomState(0)
    for x, _ in graphs:
        x.d = rng.standard_normal(x.shape).astype(np.float32)
    samples: List[List[float]] = [[] for _ in graphs]
    per_round = max(1, repeats // rounds)
    for _ in range(rounds):
        for (_, y), out in zip(graphs, samples):
            run = lambda: y.forward(clear_no_need_grad=True)  # noqa: E731
            out.extend(time_calls(run, per_round, warmup))
    return [float(np.percentile(s, 25) * 1e3) for s in samples]


def latency_graphs(networks: Sequence, size: int):
    """The batch-1 inference graphs ``(input, output)`` of ``networks`` and the checks
    the driver compares (parameters and function types of each network)."""
    import nnabla as nn

    graphs = []
    for net in networks:
        net.apply(training=False)
        x = nn.Variable((1, 3, size, size))
        graphs.append((x, net(x)))
    checks = {"params": [unique_count(n.get_parameters().values()) for n in networks],
              "functions": [function_counts(y) for _, y in graphs]}
    return graphs, checks


def read_specs(path: str) -> dict:
    """The latency networks the driver drew: ``size``, ``seeds`` and ``blocks``."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


#: Few repeats of :func:`measure_latency_ms` for ``--quick``.
QUICK_TIMING = dict(rounds=1, repeats=6, warmup=2)


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b (scipy is in both environments)."""
    from scipy.stats import kendalltau
    return float(kendalltau(x, y)[0])


def accuracy(estimates: Sequence[float], measured: Sequence[float]) -> Dict[str, float]:
    """Share within ±10%, mean absolute percentage error and Kendall tau."""
    est, meas = np.asarray(estimates, float), np.asarray(measured, float)
    rel = est / meas - 1.0
    return {"within10_pct": float(100.0 * np.mean(np.abs(rel) <= 0.10)),
            "mape_pct": float(100.0 * np.mean(np.abs(rel))),
            "kendall_tau": kendall_tau(est, meas)}


def darts_step(args, build_net: Callable[[dict], object]) -> dict:
    """The ``darts_step`` workload with the supernet ``build_net(settings)`` returns
    (``settings``: :data:`DARTS` at the configuration of ``--darts``): the same loss,
    batch and step code on both sides, so only the network differs."""
    import nnabla as nn
    import nnabla.functions as F

    d = darts_settings(args.darts)
    memory = PeakMemory()
    net = build_net(d)
    x = nn.Variable((d["batch"], d["in_channels"], d["size"], d["size"]))
    y = nn.Variable((d["batch"], 1))
    x.d, y.d = cifar_batch(d["batch"], d["size"], d["num_classes"])
    loss = F.mean(F.softmax_cross_entropy(net(x), y))
    params = list(net.get_parameters(grad_only=True).values())
    checks = {"params": unique_count(params), "functions": function_counts(loss)}
    if args.check_only:
        return {"checks": checks}
    times = time_calls(lambda: train_step(loss, params), args.steps)
    return {"checks": checks, "metrics": {"step_ms": float(np.median(times) * 1e3),
                                          "peak_mib": memory.growth_mib()}}


# -------------------------------------------------------------------- protocol
def emit(result: dict) -> None:
    """Print a worker's result as the one marked JSON line the driver reads."""
    print(MARKER + json.dumps(result), flush=True)


def parse_result(stdout: str) -> dict:
    """The result a worker printed with :func:`emit` (the last marked line)."""
    lines = [ln for ln in stdout.splitlines() if ln.startswith(MARKER)]
    if not lines:
        raise ValueError("the worker printed no result line")
    return json.loads(lines[-1][len(MARKER):])


def worker_main(registry: Registry, version: Callable[[], str],
                argv: Optional[Sequence[str]] = None) -> int:
    """The command line both workers share: run one workload and emit its result.

    Exit status 3 with the message on stderr when the workload is unavailable on this
    side (the driver reports it), 0 otherwise.
    """
    parser = argparse.ArgumentParser(description=f"{registry.side} side of "
                                     "bench/vs_reference.py")
    parser.add_argument("workload", choices=list(WORKLOADS))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--check-only", action="store_true",
                        help="build and report the checks (parameter counts), no timing")
    parser.add_argument("--specs", help="JSON file of the latency networks' block specs")
    parser.add_argument("--darts", type=parse_darts_config, default=None,
                        metavar="INIT_CHANNELS,NUM_CELLS,BATCH",
                        help="the DARTS supernet's configuration (default: DARTS's)")
    args = parser.parse_args(argv)
    try:
        for module in registry.imports(args.workload):  # before the memory baseline
            try:
                importlib.import_module(module)
            except ImportError as err:
                raise WorkloadUnavailable(f"{registry.side}: {args.workload} needs "
                                          f"{module} ({err})") from err
        out = registry.get(args.workload)(args)
    except WorkloadUnavailable as err:
        print(str(err), file=sys.stderr)
        return 3
    import nnabla
    emit({"side": registry.side, "workload": args.workload, "nnabla": nnabla.__version__,
          "package": version(), "pid": os.getpid(), **out})
    return 0
