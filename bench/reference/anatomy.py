"""Where a DARTS supernet training step spends its time and memory, by function type:
the analysis behind the ``darts_step`` ratios of ``bench/vs_reference.py``.

Run it with each side's interpreter (the same network as the benchmark)::

    .venv/bin/python bench/reference/anatomy.py ours
    bench/.venv-ref/bin/python bench/reference/anatomy.py theirs

For every function type it prints how many the graph has, the forward and backward
milliseconds of one step (function hooks, median of ``--steps`` steps after a cold
one), the MiB of outputs still held after ``forward(clear_no_need_grad=True)`` (what
the backward pass needs), and the resident memory its functions add in the cold
step's forward and backward passes (where the peak memory is made).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict

import numpy as np

import common as C


def hooks(totals):
    """Pre/post hooks that add each function's wall time to ``totals[type]``."""
    started = [0.0]  # NNabla calls pre, runs the function, calls post: one at a time

    def pre(f):
        started[0] = time.perf_counter()

    def post(f):
        totals[f.info.type_name] += time.perf_counter() - started[0]

    return pre, post


def growth_hooks(totals):
    """Pre/post hooks that add the resident memory each function's first run adds
    (MiB; NNabla's caching allocator keeps freed blocks, so growth is where the
    step's peak is made) to ``totals[type]``."""
    started = [0]

    def pre(f):
        started[0] = C._status_kib("VmRSS")

    def post(f):
        grown = C._status_kib("VmRSS") - started[0]
        totals[f.info.type_name] += max(grown, 0) / 1024.0

    return pre, post


def retained_mib(loss):
    """MiB of function outputs whose data survived the forward pass, by producer
    type (in-place outputs, which share their input's buffer, are not counted)."""
    held = defaultdict(float)

    def visit(f):
        if f.info.args.get("inplace"):
            return
        for v in f.outputs:
            if not v.data.clear_called:
                held[f.info.type_name] += v.size * 4 / 2 ** 20

    loss.visit(visit)
    return held


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("side", choices=("ours", "theirs"))
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--darts", type=C.parse_darts_config, default=None,
                        metavar="INIT_CHANNELS,NUM_CELLS,BATCH",
                        help="the supernet's configuration (default: the benchmark's)")
    parser.add_argument("--json", help="also write the table here")
    args = parser.parse_args(argv)
    if args.side == "theirs":
        import worker_theirs as worker
        worker.install_stand_in()
    else:
        import worker_ours as worker
    import nnabla as nn
    import nnabla.functions as F

    d = C.darts_settings(args.darts)
    net = worker.darts_net(d)
    x = nn.Variable((d["batch"], d["in_channels"], d["size"], d["size"]))
    y = nn.Variable((d["batch"], 1))
    x.d, y.d = C.cifar_batch(d["batch"], d["size"], d["num_classes"])
    loss = F.mean(F.softmax_cross_entropy(net(x), y))
    params = list(net.get_parameters(grad_only=True).values())
    counts = C.function_counts(loss)
    f_grow, b_grow = defaultdict(float), defaultdict(float)
    for p in params:  # the cold step: where the resident memory grows
        p.grad.zero()
    pre, post = growth_hooks(f_grow)
    loss.forward(clear_no_need_grad=True, function_pre_hook=pre, function_post_hook=post)
    pre, post = growth_hooks(b_grow)
    loss.backward(clear_buffer=True, function_pre_hook=pre, function_post_hook=post)
    fwd, bwd = [], []
    for _ in range(args.steps):
        for p in params:
            p.grad.zero()
        f_tot, b_tot = defaultdict(float), defaultdict(float)
        pre, post = hooks(f_tot)
        loss.forward(clear_no_need_grad=True, function_pre_hook=pre,
                     function_post_hook=post)
        held = retained_mib(loss)
        pre, post = hooks(b_tot)
        loss.backward(clear_buffer=True, function_pre_hook=pre, function_post_hook=post)
        fwd.append(f_tot)
        bwd.append(b_tot)
    rows = []
    for name in sorted(counts, key=lambda n: -np.median([b[n] + f[n] for f, b in
                                                         zip(fwd, bwd)])):
        rows.append({"function": name, "count": counts[name],
                     "forward_ms": float(np.median([f[name] for f in fwd]) * 1e3),
                     "backward_ms": float(np.median([b[name] for b in bwd]) * 1e3),
                     "held_mib": held.get(name, 0.0),
                     "grow_fwd_mib": f_grow.get(name, 0.0),
                     "grow_bwd_mib": b_grow.get(name, 0.0)})
    keys = ("forward_ms", "backward_ms", "held_mib", "grow_fwd_mib", "grow_bwd_mib")
    print(f"{args.side}: {'function':24}{'count':>6}{'fwd ms':>9}{'bwd ms':>9}"
          f"{'held MiB':>10}{'+MiB fwd':>10}{'+MiB bwd':>10}")
    for r in rows:
        print(f"{args.side}: {r['function']:24}{r['count']:6d}" +
              "".join(f"{r[k]:{9 if k.endswith('ms') else 10}.1f}" for k in keys))
    total = {k: sum(r[k] for r in rows) for k in keys}
    print(f"{args.side}: {'total':24}{sum(counts.values()):6d}" +
          "".join(f"{total[k]:{9 if k.endswith('ms') else 10}.1f}" for k in keys))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"side": args.side, "rows": rows, "total": total}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
