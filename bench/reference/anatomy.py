"""Where a DARTS supernet training step spends its time and memory, by function type:
the analysis behind the ``darts_step`` ratios of ``bench/vs_reference.py``.

Run it with each side's interpreter (the same network as the benchmark)::

    .venv/bin/python bench/reference/anatomy.py ours
    bench/.venv-ref/bin/python bench/reference/anatomy.py theirs

For every function type it prints how many the graph has, the forward and backward
milliseconds of one step (function hooks, median of ``--steps`` steps), and the MiB of
outputs still held after ``forward(clear_no_need_grad=True)``: the buffers that the
backward pass needs, which make the step's peak memory.
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
    started = {}

    def pre(f):
        started[id(f)] = time.perf_counter()

    def post(f):
        totals[f.info.type_name] += time.perf_counter() - started.pop(id(f))

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
    parser.add_argument("--json", help="also write the table here")
    args = parser.parse_args(argv)
    if args.side == "theirs":
        import worker_theirs as worker
        worker.install_stand_in()
    else:
        import worker_ours as worker
    import nnabla as nn
    import nnabla.functions as F

    d = C.DARTS
    net = worker.darts_net()
    x = nn.Variable((d["batch"], d["in_channels"], d["size"], d["size"]))
    y = nn.Variable((d["batch"], 1))
    x.d, y.d = C.cifar_batch(d["batch"], d["size"], d["num_classes"])
    loss = F.mean(F.softmax_cross_entropy(net(x), y))
    params = list(net.get_parameters(grad_only=True).values())
    C.train_step(loss, params)  # warm-up
    counts = C.function_counts(loss)
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
                     "held_mib": held.get(name, 0.0)})
    print(f"{args.side}: {'function':28}{'count':>7}{'fwd ms':>10}{'bwd ms':>10}"
          f"{'held MiB':>10}")
    for r in rows:
        print(f"{args.side}: {r['function']:28}{r['count']:7d}{r['forward_ms']:10.1f}"
              f"{r['backward_ms']:10.1f}{r['held_mib']:10.1f}")
    total = {k: sum(r[k] for r in rows) for k in ("forward_ms", "backward_ms", "held_mib")}
    print(f"{args.side}: {'total':28}{sum(counts.values()):7d}{total['forward_ms']:10.1f}"
          f"{total['backward_ms']:10.1f}{total['held_mib']:10.1f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"side": args.side, "rows": rows, "total": total}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
