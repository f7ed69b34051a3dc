"""What our modules cost on a DARTS supernet training step, against plain NNabla.

The same DARTS supernet (init_channels 8, 5 cells, 4 nodes, 10 classes, batch 16,
32x32x3 input) is built twice: from ``nnabla_nas`` modules (``SearchNet``) and written
directly with ``nnabla.functions`` and ``nnabla.parametric_functions``, with the same
candidates, the same softmax-weighted sum and the same trainable parameter count
(checked before timing). Each variant runs in its own process, so that its peak
resident memory can be read; processes alternate ours/plain over several rounds so
machine drift cancels, and the medians are compared.

Reproduce with::

    make venv && .venv/bin/python bench/darts_step.py [--rounds 5] [--steps 10]

``--baseline DIR`` compares instead ours against ours as another checkout ``DIR`` of
nnabla-nas builds it (e.g. the previous commit, ``git worktree add /tmp/prev HEAD~1``),
alternating the two the same way: the cost of a change, measured side by side.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections import OrderedDict

import numpy as np

INIT_CHANNELS, NUM_CELLS, NUM_NODES, MULTIPLIER, STEM = 8, 5, 4, 4, 3
BATCH, SIZE, CLASSES = 16, 32, 10
PRIMITIVES = ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
              "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"]


# ----------------------------------------------------------------- plain NNabla
def plain_supernet(x):
    """The DARTS supernet written directly with NNabla functions; returns the logits."""
    import nnabla as nn
    import nnabla.functions as F
    import nnabla.parametric_functions as PF

    def bn(h, name, affine):
        if affine:
            return PF.batch_normalization(h, batch_stat=True, name=name)
        # Constant beta and gamma, running statistics as non-trainable parameters
        # (PF's fix_parameters would still register beta and gamma as trainable).
        shape = (1, h.shape[1], 1, 1)
        stat = {k: nn.parameter.get_parameter_or_create(
            f"{name}/{k}", shape, np.full(shape, v, np.float32), False)
            for k, v in (("mean", 0.0), ("var", 1.0))}
        beta = nn.Variable.from_numpy_array(np.zeros(shape, np.float32))
        gamma = nn.Variable.from_numpy_array(np.ones(shape, np.float32))
        return F.batch_normalization(h, beta, gamma, stat["mean"], stat["var"],
                                     batch_stat=True)

    def relu_conv_bn(h, out, name):
        return bn(PF.convolution(F.relu(h), out, (1, 1), with_bias=False,
                                 name=f"{name}/conv"), f"{name}/bn", False)

    def factorized_reduce(h, out, name):
        h = F.relu(h)
        shifted = F.pad(F.slice(h, (0, 0, 1, 1), h.shape), (0, 1, 0, 1))
        a = PF.convolution(h, out // 2, (1, 1), stride=(2, 2), with_bias=False,
                           name=f"{name}/conv1")
        b = PF.convolution(shifted, out // 2, (1, 1), stride=(2, 2), with_bias=False,
                           name=f"{name}/conv2")
        return bn(F.concatenate(a, b, axis=1), f"{name}/bn", False)

    def dw_pw_bn(h, c, k, stride, pad, dil, name):
        h = PF.depthwise_convolution(F.relu(h), (k, k), pad=(pad, pad), stride=(stride,) * 2,
                                     dilation=(dil, dil), with_bias=False, name=f"{name}/dw")
        h = PF.convolution(h, c, (1, 1), with_bias=False, name=f"{name}/pw")
        return bn(h, f"{name}/bn", False)

    def candidate(op, h, c, stride, name):
        if op == "none":
            shape = (h.shape[0], c, (h.shape[2] - 1) // stride + 1,
                     (h.shape[3] - 1) // stride + 1)
            return F.constant(0.0, shape)
        if op == "max_pool_3x3":
            return bn(F.max_pooling(h, (3, 3), (stride, stride), pad=(1, 1)), name, False)
        if op == "avg_pool_3x3":
            return bn(F.average_pooling(h, (3, 3), (stride, stride), pad=(1, 1),
                                        including_pad=False), name, False)
        if op == "skip_connect":
            return h if stride == 1 else factorized_reduce(h, c, name)
        k = 3 if op.endswith("3x3") else 5
        if op.startswith("sep"):
            h = dw_pw_bn(h, c, k, stride, k // 2, 1, f"{name}/1")
            return dw_pw_bn(h, c, k, 1, k // 2, 1, f"{name}/2")
        return dw_pw_bn(h, c, k, stride, k - 1, 2, name)

    def mixed(h, c, stride, alpha, name):
        outs = [candidate(op, h, c, stride, f"{name}/{i}") for i, op in enumerate(PRIMITIVES)]
        n = len(outs)
        weights = F.reshape(F.softmax(alpha, axis=0), (1, n), inplace=False)
        mixed_out = F.affine(weights, F.reshape(F.stack(*outs, axis=0), (n, -1)))
        return F.reshape(mixed_out, outs[0].shape)

    edges = sum(2 + i for i in range(NUM_NODES))
    alphas = {kind: [nn.parameter.get_parameter_or_create(
        f"alpha_{kind}/{e}", (len(PRIMITIVES),), np.zeros(len(PRIMITIVES)), True)
        for e in range(edges)] for kind in ("normal", "reduce")}
    c = STEM * INIT_CHANNELS
    s0 = s1 = bn(PF.convolution(x, c, (3, 3), pad=(1, 1), with_bias=False,
                                name="stem/conv"), "stem/bn", True)
    c = INIT_CHANNELS
    reduction_prev = False
    for i in range(NUM_CELLS):
        reduction = i in (NUM_CELLS // 3, 2 * NUM_CELLS // 3)
        c *= 2 if reduction else 1
        name = f"cells/{i}"
        states = [factorized_reduce(s0, c, f"{name}/pre0") if reduction_prev
                  else relu_conv_bn(s0, c, f"{name}/pre0"),
                  relu_conv_bn(s1, c, f"{name}/pre1")]
        e = 0
        for _ in range(NUM_NODES):
            outs = []
            for j, h in enumerate(states):
                stride = 2 if reduction and j < 2 else 1
                alpha = alphas["reduce" if reduction else "normal"][e]
                outs.append(mixed(h, c, stride, alpha, f"{name}/edges/{e}"))
                e += 1
            states.append(F.add_n(*outs))
        s0, s1 = s1, F.concatenate(*states[-MULTIPLIER:], axis=1)
        reduction_prev = reduction
    return PF.affine(F.mean(s1, axis=(2, 3)), CLASSES, name="classifier")


def build(variant, batch=BATCH, size=SIZE):
    import nnabla as nn
    import nnabla.functions as F

    x = nn.Variable((batch, 3, size, size))
    y = nn.Variable((batch, 1))
    if variant == "ours":
        from nnabla_nas.contrib.darts import SearchNet
        net = SearchNet(3, INIT_CHANNELS, NUM_CELLS, CLASSES, num_nodes=NUM_NODES,
                        multiplier=MULTIPLIER, stem_multiplier=STEM)
        logits, params = net(x), net.get_parameters(grad_only=True)
    else:
        with nn.parameter_scope("plain", OrderedDict()):
            logits = plain_supernet(x)
            params = nn.get_parameters(grad_only=True)
    loss = F.mean(F.softmax_cross_entropy(logits, y))
    return x, y, loss, params


def child(variant, steps, batch=BATCH, size=SIZE):
    """Run in a subprocess: time ``steps`` training steps, report JSON on stdout."""
    import nnabla as nn

    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rng = np.random.RandomState(0)
    x, y, loss, params = build(variant, batch, size)
    x.d = rng.randn(*x.shape)
    y.d = rng.randint(0, CLASSES, y.shape)
    for p in params.values():
        p.grad.zero()
    loss.forward(clear_no_need_grad=True)
    loss.backward(clear_buffer=True)  # warm-up
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        loss.forward(clear_no_need_grad=True)
        loss.backward(clear_buffer=True)
        times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    count = int(sum(np.prod(p.shape) for p in params.values()))
    import nnabla_nas
    print(json.dumps({"step_s": float(np.median(times)), "peak_mib": (peak - base_rss) / 1024,
                      "params": count, "nnabla": nn.__version__,
                      "source": os.path.dirname(os.path.dirname(nnabla_nas.__file__))}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=BATCH,
                        help="batch size (default %(default)s; smaller only for tests)")
    parser.add_argument("--size", type=int, default=SIZE,
                        help="input height and width (default %(default)s)")
    parser.add_argument("--child", choices=("ours", "plain"), help=argparse.SUPPRESS)
    parser.add_argument("--baseline", metavar="DIR", default=None,
                        help="another checkout of nnabla-nas to compare ours against, "
                             "instead of plain NNabla")
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.steps, args.batch, args.size)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    other = "baseline" if args.baseline else "plain"
    sources = {"ours": here, "baseline": os.path.abspath(args.baseline or here)}
    results = {"ours": [], other: []}
    for _ in range(args.rounds):
        for variant in ("ours", other):
            env = dict(os.environ)
            if variant in sources:  # that checkout's nnabla_nas comes first
                env["PYTHONPATH"] = os.pathsep.join(
                    [sources[variant]] + [p for p in [env.get("PYTHONPATH")] if p])
            out = subprocess.run([sys.executable, __file__, "--child",
                                  "plain" if variant == "plain" else "ours",
                                  "--steps", str(args.steps), "--batch", str(args.batch),
                                  "--size", str(args.size)], capture_output=True,
                                 text=True, check=True, env=env).stdout
            result = json.loads(out.strip().splitlines()[-1])
            if variant in sources and result["source"] != sources[variant]:
                raise SystemExit(f"{variant}: imported nnabla_nas from {result['source']}, "
                                 f"expected {sources[variant]}")
            results[variant].append(result)
    counts = {v: r[0]["params"] for v, r in results.items()}
    if counts["ours"] != counts[other]:
        raise SystemExit(f"trainable parameter counts differ: {counts}")
    med = {v: {k: float(np.median([r[k] for r in rs])) for k in ("step_s", "peak_mib")}
           for v, rs in results.items()}
    print(f"DARTS supernet: init_channels {INIT_CHANNELS}, {NUM_CELLS} cells, batch {args.batch}, "
          f"{args.size}x{args.size} input, {counts['ours']:,} trainable parameters, "
          f"nnabla {results['ours'][0]['nnabla']}, CPU")
    if args.baseline:
        print(f"ours: {sources['ours']}; baseline: {sources['baseline']}")
    print(f"{'':26}{'ours':>10}{other:>10}{'ours/' + other:>16}")
    a, b = med["ours"]["step_s"] * 1e3, med[other]["step_s"] * 1e3
    print(f"{'train step (ms)':26}{a:10.1f}{b:10.1f}{a / b:16.3f}")
    a, b = med["ours"]["peak_mib"], med[other]["peak_mib"]
    print(f"{'peak memory growth (MiB)':26}{a:10.1f}{b:10.1f}{a / b:16.3f}")
    print(f"medians of {args.rounds} alternating rounds of {args.steps} steps, one process "
          "per measurement")


if __name__ == "__main__":
    main()
