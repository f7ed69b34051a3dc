"""Estimated against measured peak activation memory.

For a few networks (a plain convolution chain, MobileNetV2-style blocks with
residual adds, the DARTS supernet in 'full' mode and one path of it in 'max' mode),
``MemoryEstimator.activation_bytes`` is compared with the peak memory NNabla really
uses for an inference pass, ``forward(clear_buffer=True)``, and for a training step,
``forward(clear_no_need_grad=True)`` and ``backward(clear_buffer=True)`` of the sum
of the outputs (what the estimator assumes).

How it is measured: every figure comes from a fresh process, which builds the
network, runs the pass once (the *first pass*: functions are set up, and some keep
scratch buffers for the life of the graph), releases every buffer of the graph, and
runs it again (a *later pass*). For each pass, the peak resident set (VmHWM, reset
through ``/proc/self/clear_refs`` just before) minus the resident set before the pass
is the measured figure. Two array classes:

* ``CpuArray`` (``nn.prefer_cached_array(False)``), with glibc told to serve every
  allocation above 4 KiB by ``mmap`` (``MALLOC_MMAP_THRESHOLD_=4096``), so a
  released buffer leaves the process at once: what the buffers themselves need.
  Later passes are compared with ``activation_bytes(net, training)``, first passes
  with ``activation_bytes(net, training, scratch=True)``.
* ``CpuCachedArray``, NNabla's default, whose caching allocator rounds sizes up and
  keeps released blocks: what a user's process grows by in its first step. (Its later
  passes reuse the cache and say nothing.)

The error is (estimated - measured) / measured.

Reproduce with (Linux only: it reads ``/proc/self/status``)::

    make venv && .venv/bin/python bench/memory_estimator.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys

import numpy as np

MIB = 2.0 ** 20
NETWORKS = ("conv_chain", "mobilenet_v2", "darts_full", "darts_max")
ARRAYS = ("CpuArray", "CpuCachedArray")
#: (estimate, array class, measurement) of each column of the table.
COLUMNS = (("estimated", "CpuArray", "steady"), ("with_scratch", "CpuArray", "first"),
           ("with_scratch", "CpuCachedArray", "first"))


# ------------------------------------------------------------------- networks
def build(name):
    """The module and the input shape of network ``name``, seeded."""
    import nnabla as nn
    from nnabla_nas import module as Mo

    nn.random.seed(0)
    np.random.seed(0)
    if name == "conv_chain":  # 6 conv-bn-relu layers
        chans, layers = (3, 32, 32, 64, 64, 128, 128), []
        for i, (cin, cout) in enumerate(zip(chans[:-1], chans[1:])):
            s = (2, 2) if i % 2 else (1, 1)
            layers += [Mo.Conv(cin, cout, (3, 3), pad=(1, 1), stride=s, with_bias=False),
                       Mo.BatchNormalization(cout, 4), Mo.ReLU()]
        net = Mo.Sequential(*layers, Mo.GlobalAvgPool(), Mo.Linear(chans[-1], 10))
        return net, (32, 3, 32, 32)
    if name == "mobilenet_v2":
        return MobileNetV2Like(), (16, 3, 64, 64)
    from nnabla_nas.contrib.darts import SearchNet
    net = SearchNet(3, 8, 5, 10, mode="full" if name == "darts_full" else "max",
                    rng=np.random.RandomState(0))
    return net, (8, 3, 32, 32)


def _mobilenet_class():
    from nnabla_nas import module as Mo

    class InvertedResidual(Mo.Module):
        def __init__(self, cin, cout, stride, expansion, kernel):
            hidden = cin * expansion
            layers = []
            if expansion != 1:
                layers += [Mo.Conv(cin, hidden, (1, 1), with_bias=False),
                           Mo.BatchNormalization(hidden, 4), Mo.ReLU6()]
            layers += [Mo.DwConv(hidden, (kernel, kernel), pad=(kernel // 2,) * 2,
                                 stride=(stride, stride), with_bias=False),
                       Mo.BatchNormalization(hidden, 4), Mo.ReLU6(),
                       Mo.Conv(hidden, cout, (1, 1), with_bias=False),
                       Mo.BatchNormalization(cout, 4)]
            self.body = Mo.Sequential(*layers)
            self.residual = stride == 1 and cin == cout

        def call(self, x):
            y = self.body(x)
            return x + y if self.residual else y

    class Net(Mo.Module):
        def __init__(self):
            blocks = [Mo.Conv(3, 16, (3, 3), pad=(1, 1), stride=(2, 2), with_bias=False),
                      Mo.BatchNormalization(16, 4), Mo.ReLU6()]
            cin = 16
            for cout, stride, expansion, kernel in ((16, 1, 1, 3), (24, 2, 6, 3),
                                                    (24, 1, 6, 5), (32, 2, 3, 7),
                                                    (32, 1, 6, 3), (64, 2, 6, 5),
                                                    (64, 1, 3, 3)):
                blocks.append(InvertedResidual(cin, cout, stride, expansion, kernel))
                cin = cout
            self.features = Mo.Sequential(*blocks)
            self.head = Mo.Sequential(Mo.GlobalAvgPool(), Mo.Linear(cin, 10))

        def call(self, x):
            return self.head(self.features(x))

    return Net


def MobileNetV2Like():
    return _mobilenet_class()()


# ------------------------------------------------------------------ measuring
def child(network, array_class, training):
    """In a fresh process: estimate, then measure one pass; print JSON."""
    import nnabla as nn
    import nnabla.functions as F

    from nnabla_nas.contrib.estimator import memory
    from nnabla_nas.contrib.estimator.peak_memory import later_pass_growth

    if array_class == "CpuArray":
        nn.prefer_cached_array(False)
    net, shape = build(network)
    x = nn.Variable.from_numpy_array(np.random.randn(*shape).astype(np.float32))
    net(x)  # records the input shapes (and draws nothing: no 'sample' mode here)
    estimator = memory.MemoryEstimator()
    estimated = estimator.activation_bytes(net, training=training)
    with_scratch = estimator.activation_bytes(net, training=training, scratch=True)

    net.apply(training=training)
    y = net(x)
    if training:
        root = F.sum(y)
        graph_estimate = memory._peak_bytes([root], True)

        def run():
            root.forward(clear_no_need_grad=True)
            root.backward(clear_buffer=True)
    else:
        root = y
        graph_estimate = memory._peak_bytes([root], False)

        def run():
            root.forward(clear_buffer=True)
    passes = later_pass_growth([root], run)
    first, steady = passes["first"], passes["steady"]
    print(json.dumps({"estimated": estimated, "graph_estimate": graph_estimate,
                      "with_scratch": with_scratch, "first": first, "steady": steady,
                      "nnabla": nn.__version__}))


def measure(network, array_class, training):
    from nnabla_nas.contrib.estimator.peak_memory import ENV
    env = dict(os.environ, **ENV)
    out = subprocess.run([sys.executable, __file__, "--child", network, array_class,
                          str(int(training))], capture_output=True, text=True, env=env,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3,
                        help="processes per measurement; the median is reported")
    parser.add_argument("--networks", nargs="+", choices=NETWORKS, default=list(NETWORKS))
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        network, array_class, training = args.child
        return child(network, array_class, bool(int(training)))
    rows, nnabla_version, errors = [], "?", {}
    for network in args.networks:
        for training in (False, True):
            runs = {a: [measure(network, a, training) for _ in range(args.repeats)]
                    for a in ARRAYS}
            first = runs[ARRAYS[0]][0]
            nnabla_version = first["nnabla"]
            if any(r[k] != first[k] for rs in runs.values() for r in rs
                   for k in ("estimated", "with_scratch")) \
                    or first["graph_estimate"] != first["estimated"]:
                raise SystemExit(f"{network}: estimates differ between runs, or between "
                                 f"the module and its graph: {runs}")
            cells = []
            for est, array_class, key in COLUMNS:
                est = first[est]
                measured = float(np.median([r[key] for r in runs[array_class]]))
                error = (est - measured) / measured
                errors.setdefault((array_class, key), []).append(error)
                cells.append(f"{est / MIB:9.2f}{measured / MIB:9.2f}{error:+8.1%}")
            kind = "train" if training else "infer"
            rows.append(f"{network:14}{kind:6}" + "".join(cells))
    print(f"Peak activation memory (MiB), estimated vs measured: nnabla {nnabla_version}, "
          f"{cpu_model()}, medians of {args.repeats} processes per figure")
    print(f"{'':20}" + "".join(f"{title:>26}" for title in (
        "later passes, CpuArray", "first pass, CpuArray", "first, CpuCachedArray")))
    print(f"{'network':14}{'pass':6}" + f"{'est':>9}{'meas':>9}{'error':>8}" * 3)
    print("\n".join(rows))
    print(f"{'mean |error|':20}" + "".join(
        f"{np.mean(np.abs(errors[a, key])):>26.1%}" for _, a, key in COLUMNS))
    print("est: activation_bytes(net, training) for later passes; with scratch=True for "
          "first passes. error = (est - meas) / meas.")


if __name__ == "__main__":
    main()
