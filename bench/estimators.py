"""How close the default LatencyEstimator comes to measured latency on unseen networks.

Test networks: ``--networks`` seeded random MobileNetV2-style networks
(``random_mobilenet``: 7-12 inverted-residual blocks, kernels 3/5/7, expansions 1/3/6,
widths 16-96, residual adds), batch 1, ``--size`` x ``--size`` RGB input (96 by
default). Their seeds are drawn from ``--seed`` (default: drawn at random, and
printed) in [10**6, 2**31): never the calibration seeds (9000-9999) nor the
development seeds (7000-7999) the estimator's design was tuned on.

Protocol (fixed before looking at any test figure; the same on both sides):

1. The estimator: ``LatencyEstimator()``, the default constructor, in a fresh cache
   folder (a new user's first use: ``--cache DIR`` reuses one). Its first estimate
   calibrates the device's table (the library's default calibration, timed and
   printed), then profiles the test networks' functions (isolated micro-benchmarks,
   the library's default timing). Raw figures are the plain sums of the isolated
   times of the same table; calibrated figures are what ``get_estimation`` returns.
2. The truth: each test network in inference mode, timed end to end as deployed,
   ``forward(clear_buffer=True)`` on random input, ``--repeats`` samples per network
   in ``--passes`` round-robin passes over the networks (one untimed forward per
   pass), half of the passes before the estimator's table is built and half after,
   so that a slow drift of the machine's load shifts neither side alone. The function
   table is never timed in these passes.
3. Statistic: the estimator's default statistic (``lower_quartile``: other processes
   only ever add time) for the function table, the calibration and the truth alike.
4. Figures: share of networks within ±10%, mean absolute percentage error (MAPE) and
   Kendall tau (tau-b) between estimates and truth, raw and calibrated.

With ``--ort``, the same networks are also estimated by
``LatencyEstimator(context="onnxruntime-cpu")`` (its default constructor and first-use
calibration, through ONNX Runtime), and measured through ONNX Runtime (each network
converted to ONNX once, an inference session run in the same passes, right after
NNabla's, with the same statistic); Kendall tau between NNabla's and ONNX Runtime's
measured latencies of the same networks is printed. There is no reference
implementation in this benchmark (the reference nnabla-nas has no such estimator).

Reproduce with (best on an otherwise idle machine)::

    make venv && .venv/bin/python bench/estimators.py [--seed N] [--networks 30]

``--development FIRST`` runs on the development seeds instead and adds, for each
support of the calibration terms, its fit on the calibration's own measurements, its
leave-one-out error there and its figures on the networks: the evidence on which the
calibration model is chosen, never on test seeds::

    .venv/bin/python bench/estimators.py --development 7000
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

#: Test network seeds are drawn from this range (calibration: 9000-9999,
#: development: 7000-7999).
TEST_SEEDS = (10 ** 6, 2 ** 31 - 1)
#: ``--development``: the seeds the estimator's design is chosen on.
DEVELOPMENT_SEEDS = (7000, 7999)


def kendall_tau(x, y) -> float:
    """Kendall's tau-b between two sequences."""
    from scipy.stats import kendalltau
    return float(kendalltau(x, y)[0])


def figures(estimates, truth) -> str:
    """``within ±10%``, MAPE and Kendall tau of ``estimates`` against ``truth``."""
    rel = np.asarray(estimates) / np.asarray(truth) - 1
    within = int(np.sum(np.abs(rel) <= 0.10))
    return (f"within ±10%: {within}/{rel.size} ({100 * within / rel.size:.1f}%), "
            f"MAPE: {100 * np.mean(np.abs(rel)):.2f}%, bias: {100 * np.mean(rel):+.2f}%, "
            f"Kendall tau: {kendall_tau(estimates, truth):.3f}")


def network_seeds(seed: int, count: int):
    """``count`` distinct test network seeds drawn from :data:`TEST_SEEDS`."""
    rng = np.random.RandomState(seed)
    seeds = []
    while len(seeds) < count:
        s = int(rng.randint(*TEST_SEEDS))
        if s not in seeds:
            seeds.append(s)
    return seeds


def truth_runner(outputs):
    """One deployed inference forward in NNabla: ``forward(clear_buffer=True)``."""
    out = outputs[0]
    return lambda: out.forward(clear_buffer=True)


def estimator_figures(est, networks, quick: bool) -> dict:
    """Calibrate ``est`` as its first use does (the default calibration; fewest
    repeats with ``quick``), profile the networks' functions, and estimate them: raw
    sums of isolated times and calibrated estimates."""
    from nnabla_nas.contrib.estimator import calibration as cal
    from nnabla_nas.contrib.estimator import measure

    start = time.perf_counter()
    if quick:
        calibration = est.calibrate(cal.default_networks()[:3], rounds=1, repeats=3,
                                    warmup=1)
    else:
        est.ensure_calibrated()
        calibration = est.last_calibration
    report = est.profile(networks)
    estimates = [est.get_estimation(net) for net in networks]
    seconds = time.perf_counter() - start
    features = []
    for net in networks:
        specs = est.functions(net)
        features.append(measure.calibration_features(specs, est.profiler.times(specs)))
    raw = [row[0] for row in features]
    return dict(calibration=calibration, report=report, estimates=estimates, raw=raw,
                features=features, seconds=seconds)


def leave_one_out(features, measured, support) -> float:
    """Root mean square relative error of each calibration network's time predicted by
    the fit of ``support`` on the other networks (inf when a fit has a negative
    coefficient)."""
    from nnabla_nas.contrib.estimator import measure

    errors = []
    for i in range(measured.size):
        rest = np.arange(measured.size) != i
        coef = measure.fit_support(features[rest], measured[rest], support)
        if coef is None:
            return float("inf")
        errors.append(features[i] @ coef / measured[i] - 1)
    return float(np.sqrt(np.mean(np.square(errors))))


def supports_report(name, calibration, features, truth) -> None:
    """For choosing the calibration model, on development networks only: each support
    of the calibration terms fitted on the calibration's own measurements, its
    leave-one-out error there, and its figures on the networks."""
    from nnabla_nas.contrib.estimator import measure

    F = np.asarray(calibration["features"], dtype=np.float64)
    t = np.asarray(calibration["measured"], dtype=np.float64)
    G = np.asarray(features, dtype=np.float64)
    print(f"[{name} supports] calibration networks, measured/raw: "
          + " ".join(f"{r:.3f}" for r in t / F[:, 0])
          + f"; raw rms {np.sqrt(np.mean((F[:, 0] / t - 1) ** 2)):.1%}")
    terms = measure.CALIBRATION_TERMS
    for k in range(1, len(terms) + 1):
        for support in itertools.combinations(range(len(terms)), k):
            label = ",".join(terms[i] for i in support)
            coef = measure.fit_support(F, t, support)
            if coef is None:
                print(f"[{name} support {label}] a negative coefficient")
                continue
            shown = ", ".join(f"{terms[i]}={coef[i]:.4g}" for i in support)
            print(f"[{name} support {label}] {shown}; leave-one-out rms "
                  f"{leave_one_out(F, t, support):.1%} | {figures(G @ coef, truth)}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the test networks' seeds (default: drawn at "
                             "random, and printed)")
    parser.add_argument("--networks", type=int, default=30, help="networks to test (30)")
    parser.add_argument("--size", type=int, default=96, help="input height and width (96)")
    parser.add_argument("--repeats", type=int, default=60,
                        help="timed forwards per network for the truth (60)")
    parser.add_argument("--passes", type=int, default=20,
                        help="round-robin passes the truth's forwards spread over (20)")
    parser.add_argument("--cache", default=None, metavar="DIR",
                        help="cache folder of the estimator's table (default: a fresh "
                             "temporary one, so the first use calibrates)")
    parser.add_argument("--quick", action="store_true",
                        help="few repeats and calibration networks (a smoke test; the "
                             "figures are then meaningless)")
    parser.add_argument("--ort", action="store_true",
                        help="also ONNX Runtime: LatencyEstimator(context="
                             "'onnxruntime-cpu') against networks timed through it")
    parser.add_argument("--verbose", action="store_true", help="one line per network")
    parser.add_argument("--development", type=int, default=None, metavar="FIRST",
                        help="networks of the development seeds FIRST, FIRST+1, ... "
                             f"({DEVELOPMENT_SEEDS[0]}-{DEVELOPMENT_SEEDS[1]}) instead of "
                             "test seeds, and each support of the calibration terms with "
                             "its leave-one-out error on the calibration networks and its "
                             "figures on these: for choosing the calibration model, never "
                             "on test seeds")
    parser.add_argument("--save", metavar="FILE", default=None,
                        help="with --development: write what the supports were fitted "
                             "and judged on (calibration features and times, the "
                             "networks' features and truth) as JSON, for trying other "
                             "calibration models on the same measurements")
    args = parser.parse_args(argv)
    if args.save and args.development is None:
        parser.error("--save: only with --development (test measurements are not kept "
                     "for choosing anything)")
    if args.development is not None and not (
            DEVELOPMENT_SEEDS[0] <= args.development
            and args.development + args.networks - 1 <= DEVELOPMENT_SEEDS[1]):
        parser.error(f"--development: {args.networks} networks from {args.development} "
                     f"leave the development seeds {DEVELOPMENT_SEEDS[0]}-"
                     f"{DEVELOPMENT_SEEDS[1]}")
    seed = args.seed if args.seed is not None else int(np.random.SeedSequence().entropy
                                                       % (2 ** 31))
    from nnabla_nas.utils.cache import CACHE_ENV
    cache = args.cache or tempfile.mkdtemp(prefix="nnabla-nas-bench-cache-")
    os.environ[CACHE_ENV] = cache

    import nnabla_nas.builtins  # noqa: F401
    from nnabla_nas.contrib.estimator import LatencyEstimator, measure
    from nnabla_nas.contrib.estimator import calibration as cal
    from nnabla_nas.contrib.estimator.graph import module_graph

    shape = (1, 3, args.size, args.size)
    repeats, passes = args.repeats, args.passes
    timing = {}
    if args.quick:
        repeats, passes = 4, 2
        timing = dict(warmup=1, repeats=3, rounds=1)
    if args.development is None:
        seeds = network_seeds(seed, args.networks)
    else:
        seeds = list(range(args.development, args.development + args.networks))
    networks = cal.default_networks(shape, seeds)

    runtimes = [("nnabla", LatencyEstimator(**timing))]
    if args.ort:
        runtimes.append(("onnxruntime", LatencyEstimator(context="onnxruntime-cpu",
                                                         **timing)))
    est = runtimes[0][1]
    ctx, sync = est.profiler.ctx, est.profiler.synchronize
    graphs = [module_graph(net, ctx) for net in networks]
    for inputs, _ in graphs:
        cal.fill_inputs(inputs)
    runs = [truth_runner(outputs) for _, outputs in graphs]
    samples = {name: [[] for _ in graphs] for name, _ in runtimes}
    truth_s = [0.0]

    def truth_passes(count: int) -> None:
        """``count`` round-robin passes over the networks, in each runtime."""
        start = time.perf_counter()
        for p in range(count):
            n = repeats // passes + (p < repeats % passes)
            for s, run in zip(samples["nnabla"], runs):
                s.extend(measure.time_calls(run, 1, n, sync))
            if args.ort:
                timed = runtimes[1][1].profiler.graph_samples(graphs, 1, n, 1)
                for s, t in zip(samples["onnxruntime"], timed):
                    s.extend(t)
        truth_s[0] += time.perf_counter() - start

    truth_passes(passes // 2)
    results = {name: estimator_figures(e, networks, args.quick) for name, e in runtimes}
    truth_passes(passes - passes // 2)
    statistic = est.profiler.statistic
    truth = {name: [measure.summarize(s, statistic) for s in samples[name]]
             for name, _ in runtimes}

    print(f"device: {measure.describe_fingerprint(est.table.fingerprint)}, "
          f"{os.cpu_count()} logical CPUs, load average {os.getloadavg()[0]:.2f} "
          "at the end (a machine shared with other jobs shows a higher one)")
    if args.development is None:
        print(f"seed: {seed} (test networks' seeds: {', '.join(map(str, seeds[:5]))}"
              f"{', ...' if len(seeds) > 5 else ''})")
    else:
        print(f"DEVELOPMENT networks: seeds {seeds[0]}-{seeds[-1]} (not a test: "
              "figures for choosing the estimator's design)")
    print(f"networks: {len(networks)} random MobileNetV2-style, input "
          f"{'x'.join(map(str, shape))}")
    print(f"truth: {len(networks)} networks x {repeats} forwards in {passes} "
          f"round-robin passes per runtime, {truth_s[0]:.1f} s; statistic {statistic} "
          "on both sides")
    for name, e in runtimes:
        r = results[name]
        calibration = r["calibration"]
        if calibration is None:
            print(f"[{name}] calibration: reused from {e.table.path}")
        else:
            coefficients = ", ".join(f"{k}={calibration[k]:.4g}"
                                     for k in measure.CALIBRATION_TERMS)
            print(f"[{name}] calibration: {calibration['networks']} networks in "
                  f"{calibration['seconds']:.1f} s ({coefficients}; fit rms "
                  f"{100 * calibration['rms_relative_error']:.1f}%)")
        print(f"[{name}] profiling: {r['report']} (test networks' functions); "
              f"estimator total {r['seconds']:.1f} s; measured "
              f"{min(truth[name]):.2f}-{max(truth[name]):.2f} ms")
        print(f"[{name} raw] {figures(r['raw'], truth[name])}")
        print(f"[{name} calibrated] {figures(r['estimates'], truth[name])}")
        if args.development is not None and calibration is not None:
            supports_report(name, calibration, r["features"], truth[name])
        if args.verbose:
            for s, net, raw, est_ms, m in zip(seeds, networks, r["raw"], r["estimates"],
                                              truth[name]):
                print(f"[{name}]   seed {s}: {len(net.specs)} blocks, raw {raw:6.2f} ms, "
                      f"calibrated {est_ms:6.2f} ms, measured {m:6.2f} ms "
                      f"({100 * (est_ms / m - 1):+5.1f}%)")
    if args.save:
        saved = {name: dict(calibration={k: results[name]["calibration"][k]
                                         for k in ("features", "measured")},
                            features=results[name]["features"], truth=truth[name])
                 for name, _ in runtimes if results[name]["calibration"] is not None}
        Path(args.save).write_text(json.dumps(dict(seeds=seeds, runtimes=saved)))
        print(f"saved: {args.save}")
    if args.ort:
        print(f"Kendall tau between NNabla's and ONNX Runtime's measured latencies: "
              f"{kendall_tau(truth['nnabla'], truth['onnxruntime']):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
