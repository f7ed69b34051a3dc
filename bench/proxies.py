"""Zero-cost proxies against trained accuracy on NAS-Bench-201 cells, on the digits.

Protocol (fixed before the first full run; the options only scale it):

1. ``--archs`` (60) distinct architectures of the ``nasbench201`` space are drawn
   uniformly with ``--seed`` (default: a fresh random seed, printed first).
2. Each is built as the benchmark's network with ``--channels`` C = 16 (as the
   benchmark) and ``--cells`` N reduced to 1 per stage (the benchmark has 5), so that
   the whole bench runs in under 30 minutes on this loaded 2-core machine (about 12 s
   per architecture). Its initial weights
   are seeded by the architecture's position in the draw.
3. Every registered proxy (``main.py list --kind proxies``) is computed on the
   untrained network, on one batch of ``--proxy-batch`` (64) training images drawn
   with the seed; each proxy's wall time is recorded.
4. The same network is then trained from those weights for ``--epochs`` (3) epochs of
   the digits' training split (batch 64, the default optimizer of ``train:``: SGD,
   momentum 0.9, lr 0.025, cosine), and its accuracy on the test split (359 images) is
   the trained accuracy.
5. Per proxy: Spearman rho and Kendall tau against the trained accuracy, each with a
   95% percentile bootstrap interval (``--bootstrap`` resamples of the architectures,
   seeded), and the seconds per evaluation (median over the architectures).
6. Random search against proxy-pre-selected random search at an equal training
   budget, on the architectures trained above (as NASLib does with a benchmark's
   table): random search trains ``--keep`` (5) architectures drawn from the 60;
   pre-selected search draws ``--pool`` (20), scores them with the proxy and trains
   its ``--keep`` best. Printed: the best trained accuracy of each, mean and std over
   ``--search-seeds`` (5) seeds (the same draws for every proxy).

Timing figures are wall times on a shared machine: compare them with each other, in
this one run. Reproduce with::

    .venv/bin/python bench/proxies.py [--seed N] [--archs 60]
"""
from __future__ import annotations

import argparse
import sys
import warnings
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scipy.stats import kendalltau, spearmanr  # noqa: E402

import nnabla_nas.builtins  # noqa: E402,F401
from nnabla_nas.config.loader import from_dict  # noqa: E402
from nnabla_nas.contrib.proxies import PROXIES, Batch, score  # noqa: E402
from nnabla_nas.contrib.spaces import SEARCH_SPACES  # noqa: E402
from nnabla_nas.dataset import DATASETS  # noqa: E402
from nnabla_nas.runner.run import Run  # noqa: E402
from nnabla_nas.runner.schema import TrainConfig  # noqa: E402
from nnabla_nas.runner.trainer import Trainer  # noqa: E402
from nnabla_nas.utils.output import RunOutput  # noqa: E402

#: The issue's figures: what the full run is.
SPEC = dict(archs=60, channels=16, cells=1, epochs=3)


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the draw, the weights, the batches and the bootstrap "
                   "(default: a fresh random seed, printed)")
    p.add_argument("--archs", type=int, default=SPEC["archs"],
                   help="architectures drawn and trained")
    p.add_argument("--channels", type=int, default=SPEC["channels"],
                   help="C of the network (the benchmark: 16)")
    p.add_argument("--cells", type=int, default=SPEC["cells"],
                   help="N cells per stage (the benchmark: 5)")
    p.add_argument("--epochs", type=int, default=SPEC["epochs"],
                   help="training epochs of each architecture")
    p.add_argument("--batch-size", type=int, default=64, help="training batch")
    p.add_argument("--proxy-batch", type=int, default=64,
                   help="training images the proxies see")
    p.add_argument("--proxies", default=",".join(PROXIES.names()),
                   help="proxies, comma separated (default: every registered one)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples")
    p.add_argument("--search-seeds", type=int, default=5,
                   help="seeds of the search comparison")
    p.add_argument("--keep", type=int, default=5,
                   help="architectures trained per search (the training budget)")
    p.add_argument("--pool", type=int, default=20,
                   help="architectures the pre-selected search scores with the proxy")
    args = p.parse_args(argv)
    if args.seed is None:
        args.seed = int(np.random.SeedSequence().entropy % (2 ** 31))
    if not args.keep <= args.pool <= args.archs:
        p.error(f"expected keep <= pool <= archs, got {args.keep}, {args.pool}, "
                f"{args.archs}")
    return args


def draw_archs(space, n: int, rng: np.random.RandomState) -> list:
    """``n`` distinct architectures of ``space``, uniformly."""
    out, seen = [], set()
    while len(out) < n:
        arch = space.sample({}, rng)
        key = space.describe(arch)
        if key not in seen:
            seen.add(key)
            out.append(arch)
    return out


def evaluate(space, arch, index: int, args, data, batch, names, folder) -> dict:
    """The proxies of ``arch``'s untrained network, their seconds, and its test
    accuracy after training."""
    seed = args.seed + 1 + index
    train = from_dict(TrainConfig, {
        "epochs": args.epochs, "batch_size": args.batch_size,
        "net": {"name": space.name, "channels": args.channels, "cells": args.cells}},
        "train")
    net = space.build_train(arch, train.net.options, data.shape, data.num_classes,
                            np.random.RandomState(seed))
    scores, seconds = {}, {}
    for name in names:
        start = time.perf_counter()
        scores.update(score(net, batch, [name]))
        seconds[name] = time.perf_counter() - start
    output = RunOutput(str(folder / f"arch_{index}"), {"bench": index}, quiet=True)
    try:
        trainer = Trainer(Run(model=net, data=data, config=train, output=output,
                              space=space, quiet=True, seed=seed))
        start = time.perf_counter()
        trainer.run()
        train_seconds = time.perf_counter() - start
        accuracy = 1.0 - trainer.evaluate(data.test, "test")["error"]
    finally:
        output.close()
    return dict(arch=space.describe(arch), scores=scores, seconds=seconds,
                accuracy=accuracy, train_seconds=train_seconds)


def bootstrap(x: np.ndarray, y: np.ndarray, statistic, resamples: int,
              rng: np.random.RandomState):
    """``statistic(x, y)`` and its 95% percentile bootstrap interval."""
    value = statistic(x, y)
    draws = []
    for _ in range(resamples):
        i = rng.randint(len(x), size=len(x))
        v = statistic(x[i], y[i])
        if np.isfinite(v):  # a resample of constant scores has no rank correlation
            draws.append(v)
    low, high = np.percentile(draws, [2.5, 97.5]) if draws else (np.nan, np.nan)
    return value, low, high


def rho(x, y):
    with warnings.catch_warnings():  # constant resamples: nan, dropped by bootstrap()
        warnings.simplefilter("ignore")
        return float(spearmanr(x, y)[0])


def tau(x, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(kendalltau(x, y)[0])


def searches(results, names, args):
    """Best trained accuracy of random and pre-selected random search, per seed."""
    acc = np.array([r["accuracy"] for r in results])
    out = {"random": []}
    out.update((n, []) for n in names)
    for s in range(args.search_seeds):
        rng = np.random.RandomState([args.seed, 2, s])
        trained = rng.choice(len(results), args.keep, replace=False)
        out["random"].append(acc[trained].max())
        pool = rng.choice(len(results), args.pool, replace=False)
        for n in names:
            proxy = np.array([results[i]["scores"][n] for i in pool])
            top = pool[np.argsort(-proxy, kind="stable")[:args.keep]]
            out[n].append(acc[top].max())
    return out


def main(argv=None) -> int:
    args = parse(argv)
    names = [n.strip() for n in args.proxies.split(",") if n.strip()]
    for n in names:
        PROXIES.get(n)
    full = all(getattr(args, k) == v for k, v in SPEC.items())
    print(f"seed {args.seed}; {args.archs} NAS-Bench-201 architectures, network C="
          f"{args.channels} N={args.cells} (the benchmark: C=16 N=5), {args.epochs} "
          f"epochs on the digits, batch {args.batch_size}; proxies on {args.proxy_batch} "
          "training images at initialization"
          + ("" if full else f"  [NOT THE SPEC: {SPEC}]"))
    sys.stdout.flush()
    space = SEARCH_SPACES.get("nasbench201")
    dataset = DATASETS.get("digits")
    data = dataset.load(dataset.Config(), args.seed)
    rng = np.random.RandomState([args.seed, 0])
    archs = draw_archs(space, args.archs, rng)
    picked = np.random.RandomState([args.seed, 1]).choice(
        len(data.train.x), args.proxy_batch, replace=False)
    batch = Batch(data.train.x[picked], data.train.y[picked])
    results, started = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for i, arch in enumerate(archs):
            results.append(evaluate(space, arch, i, args, data, batch, names, Path(tmp)))
            r = results[-1]
            print(f"  {i + 1:3d}/{args.archs} accuracy {r['accuracy']:.4f} "
                  f"train {r['train_seconds']:.1f} s  {r['arch']}", flush=True)
    print(f"evaluated in {time.perf_counter() - started:.0f} s; trained accuracy: mean "
          f"{np.mean([r['accuracy'] for r in results]):.4f}, min "
          f"{min(r['accuracy'] for r in results):.4f}, max "
          f"{max(r['accuracy'] for r in results):.4f}; training "
          f"{np.median([r['train_seconds'] for r in results]):.1f} s per architecture "
          "(median)")
    acc = np.array([r["accuracy"] for r in results])
    brng = np.random.RandomState([args.seed, 3])
    print(f"\n{'proxy':10s} {'Spearman rho [95% CI]':>26s} {'Kendall tau [95% CI]':>26s}"
          f" {'s/eval':>8s}")
    for n in names:
        x = np.array([r["scores"][n] for r in results])
        r_ = bootstrap(x, acc, rho, args.bootstrap, brng)
        t_ = bootstrap(x, acc, tau, args.bootstrap, brng)
        secs = np.median([r["seconds"][n] for r in results])
        print(f"{n:10s} {r_[0]:8.3f} [{r_[1]:6.3f}, {r_[2]:6.3f}]   "
              f"{t_[0]:8.3f} [{t_[1]:6.3f}, {t_[2]:6.3f}]   {secs:8.3f}")
    found = searches(results, names, args)
    print(f"\nbest trained accuracy, {args.keep} architectures trained per search, "
          f"{args.search_seeds} seeds (mean +- std): random; pre-selected = the "
          f"{args.keep} best of {args.pool} by the proxy")
    for n, values in found.items():
        label = "random" if n == "random" else f"pre-selected by {n}"
        print(f"  {label:26s} {np.mean(values):.4f} +- {np.std(values):.4f}   "
              + " ".join(f"{v:.4f}" for v in values))
    return 0


if __name__ == "__main__":
    sys.exit(main())
