"""What the module tree costs over plain NNabla.

Builds the same convolutional network twice, once from ``nnabla_nas.module`` layers and
once with ``nnabla.parametric_functions`` directly, and times graph construction and a
training step (forward and backward) of each, alternating the two so that machine drift
cancels. Prints ours/plain ratios; a ratio near 1.0 means the tree adds nothing to the
computation.

Reproduce with::

    make venv && .venv/bin/python bench/module_overhead.py [--repeats 20]
"""
from __future__ import annotations

import argparse
import time
from collections import OrderedDict

import nnabla as nn
import nnabla.functions as F
import nnabla.parametric_functions as PF
import numpy as np

from nnabla_nas import module as Mo

CHANNELS = (3, 16, 16, 32, 32, 64, 64)


def ours(x):
    layers = []
    for i, (cin, cout) in enumerate(zip(CHANNELS[:-1], CHANNELS[1:])):
        stride = (2, 2) if i % 2 else (1, 1)
        layers += [Mo.Conv(cin, cout, (3, 3), pad=(1, 1), stride=stride, with_bias=False),
                   Mo.BatchNormalization(cout, 4), Mo.ReLU()]
    net = Mo.Sequential(*layers, Mo.GlobalAvgPool(), Mo.Linear(CHANNELS[-1], 10))
    return net(x), net.get_parameters(grad_only=True)


def plain(x):
    h = x
    with nn.parameter_scope("plain", OrderedDict()):
        for i, (cin, cout) in enumerate(zip(CHANNELS[:-1], CHANNELS[1:])):
            stride = (2, 2) if i % 2 else (1, 1)
            with nn.parameter_scope(f"l{i}"):
                h = PF.convolution(h, cout, (3, 3), pad=(1, 1), stride=stride,
                                   with_bias=False)
                h = F.relu(PF.batch_normalization(h, batch_stat=True))
        h = PF.affine(F.mean(h, axis=(2, 3)), 10)
        params = nn.get_parameters(grad_only=True)
    return h, params


def measure(build, x, repeats):
    t0 = time.perf_counter()
    y, params = build(x)
    loss = F.mean(y)
    built = time.perf_counter() - t0
    loss.forward()
    loss.backward()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        loss.forward(clear_no_need_grad=True)
        loss.backward(clear_buffer=True)
    step = (time.perf_counter() - t0) / repeats
    return built, step, sum(int(np.prod(p.shape)) for p in params.values())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    x = nn.Variable.from_numpy_array(
        np.random.RandomState(0).randn(args.batch, 3, 32, 32).astype(np.float32))
    results = {"ours": [], "plain": []}
    for _ in range(args.rounds):
        for name, build in (("ours", ours), ("plain", plain)):
            results[name].append(measure(build, x, args.repeats))
    med = {k: np.median(np.array(v), axis=0) for k, v in results.items()}
    if med["ours"][2] != med["plain"][2]:
        raise SystemExit(f"parameter counts differ: {med['ours'][2]} vs {med['plain'][2]}")
    print(f"network: {len(CHANNELS) - 1} conv-bn-relu layers, {int(med['ours'][2])} "
          f"parameters, batch {args.batch}, 32x32 input, CPU")
    print(f"{'':24}{'ours':>12}{'plain':>12}{'ours/plain':>12}")
    for i, label in enumerate(("graph build (ms)", "train step (ms)")):
        a, b = med["ours"][i] * 1e3, med["plain"][i] * 1e3
        print(f"{label:24}{a:12.2f}{b:12.2f}{a / b:12.2f}")
    print(f"median of {args.rounds} alternating rounds, {args.repeats} steps each")


if __name__ == "__main__":
    main()
