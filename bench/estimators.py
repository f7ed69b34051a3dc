"""How close LatencyEstimator comes to measured latency on unseen networks, here.

A fixed, seeded set of random MobileNetV2-style networks (``random_mobilenet``: 7-12
inverted-residual blocks, kernels 3/5/7, expansions 1/3/6, widths 16-96, residual
adds, batch 1, 64x64x3 input) is estimated and measured end to end.

1. Profiling and calibration time: ``LatencyEstimator.profile`` builds a fresh table
   for every function of the test and calibration networks and
   ``LatencyEstimator.calibrate`` measures the calibration networks, with the library
   defaults; the time they take is what a search pays once per device.
2. Accuracy: the isolated function micro-benchmarks, the calibration networks (the
   estimator's default seeds, never the test ones) and the test networks are then
   timed in the same round-robin passes, so that a change of the machine's load
   (other processes on a shared machine can slow everything by 30-50% for minutes)
   hits all three alike instead of passing for an estimation error. The function
   times fill a fresh table, the calibration networks calibrate it, and the
   estimates of the test networks are compared with their measurements. Networks
   are measured as calibration measures them: inference mode,
   ``forward(clear_no_need_grad=True)``, warm-up, the statistic of all samples.

For each timing statistic (median, lower quartile and min by default, from the same
samples) it
prints the share of networks within ±10%, the mean absolute percentage error and
Kendall tau between estimates and measurements.

Reproduce with (best on an otherwise idle machine)::

    make venv && .venv/bin/python bench/estimators.py [--networks 30] [--verbose]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

#: Seeds of the benchmark networks; the calibration networks use 9000 and up.
FIRST_SEED = 100


def kendall_tau(x, y) -> float:
    """Kendall's tau-b between two sequences."""
    from scipy.stats import kendalltau
    return float(kendalltau(x, y)[0])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--networks", type=int, default=30, help="networks to test (30)")
    parser.add_argument("--size", type=int, default=64, help="input height and width")
    parser.add_argument("--statistics", default="median,lower_quartile,min",
                        help="timing statistics to compare (median, trimmed_mean, "
                             "lower_quartile, min; default median,lower_quartile,min)")
    parser.add_argument("--rounds", type=int, default=8,
                        help="round-robin passes over functions and networks (8)")
    parser.add_argument("--network-rounds", type=int, default=40,
                        help="round-robin passes over the networks, --rounds of them "
                             "with the functions too (40)")
    parser.add_argument("--repeats", type=int, default=160,
                        help="timed forwards per network, over all rounds (160)")
    parser.add_argument("--function-repeats", type=int, default=24,
                        help="timed samples per function, over all rounds (24)")
    parser.add_argument("--quick", action="store_true",
                        help="few repeats and calibration networks (a smoke test; the "
                             "figures are then meaningless)")
    parser.add_argument("--verbose", action="store_true", help="one line per network")
    args = parser.parse_args(argv)

    from nnabla_nas.contrib.estimator import LatencyEstimator, measure
    from nnabla_nas.contrib.estimator import calibration as cal
    from nnabla_nas.contrib.estimator.graph import module_graph
    from nnabla_nas.contrib.estimator.latency import search_space_functions

    shape = (1, 3, args.size, args.size)
    rounds, repeats, f_repeats = args.rounds, args.repeats, args.function_repeats
    profiling = {}
    if args.quick:
        rounds, repeats, f_repeats = 1, 3, 3
        profiling = dict(warmup=1, repeats=3, rounds=1)
    calib_seeds = cal.CALIBRATION_SEEDS[:3] if args.quick else cal.CALIBRATION_SEEDS
    seeds = range(FIRST_SEED, FIRST_SEED + args.networks)
    networks = cal.default_networks(shape, seeds)
    calib_nets = cal.default_networks(shape, calib_seeds)

    # 1. The table and calibration as a search would build them.
    fresh = LatencyEstimator(**profiling)
    report = fresh.profile(networks + calib_nets)
    calib_timing = dict(rounds=1, repeats=3, warmup=1) if args.quick else {}
    calib_s = fresh.calibrate(calib_nets, **calib_timing)["seconds"]

    # 2. Functions, calibration networks and test networks in the same passes.
    est = LatencyEstimator(**profiling)
    ctx, sync = est.profiler.ctx, est.profiler.synchronize
    specs = list({s.key: s for s in search_space_functions(networks + calib_nets, ctx)}
                 .values())
    rng = np.random.RandomState(0)
    f_runs = [measure.forward_runner(measure.build_function(s, ctx, rng)[1])
              for s in specs]
    graphs = [module_graph(net, ctx) for net in calib_nets + networks]
    for inputs, _ in graphs:
        cal.fill_inputs(inputs)
    n_runs = [measure.forward_runner(outputs) for _, outputs in graphs]
    f_samples = [[] for _ in specs]
    n_samples = [[] for _ in graphs]
    start = time.perf_counter()
    # The networks are timed in many short passes (a few forwards each, after one that
    # re-warms the caches), so that every network's samples spread over the whole
    # measurement: minutes-long changes of the machine's load then shift them all
    # alike. With 8 long passes the same network measured twice ranked 30 networks
    # with Kendall tau of only 0.86-0.92 against itself here.
    n_rounds = max(rounds, min(args.network_rounds, repeats))
    f_rounds = {i * n_rounds // rounds: i for i in range(rounds)}  # spread evenly
    for r in range(n_rounds):
        if r in f_rounds:
            i = f_rounds[r]
            f_count = f_repeats // rounds + (i < f_repeats % rounds)
            for samples, run in zip(f_samples, f_runs):
                samples.extend(measure.time_calls(run, 2, f_count, sync))
        n_count = repeats // n_rounds + (r < repeats % n_rounds)
        for samples, run in zip(n_samples, n_runs):
            samples.extend(measure.time_calls(run, 1, n_count, sync))
    measure_s = time.perf_counter() - start
    n_cal = len(calib_nets)

    print(f"device: {measure.describe_fingerprint(est.table.fingerprint)}, "
          f"{os.cpu_count()} logical CPUs, load average {os.getloadavg()[0]:.2f} "
          "at the end")
    print(f"networks: {len(networks)} random MobileNetV2-style, input "
          f"{'x'.join(map(str, shape))}, seeds {seeds.start}-{seeds.stop - 1}; "
          f"calibration on {n_cal} others (seeds {calib_seeds[0]}-{calib_seeds[-1]})")
    print(f"profiling: {report} (LatencyEstimator.profile, fresh table); "
          f"calibration: {n_cal} networks in {calib_s:.1f} s (LatencyEstimator.calibrate)")
    print(f"measuring: {len(specs)} functions x {f_repeats} in {rounds} and "
          f"{len(graphs)} networks x {repeats} forwards in {n_rounds} round-robin passes, "
          f"{measure_s:.1f} s")
    for stat in args.statistics.split(","):
        est = LatencyEstimator(statistic=stat)
        for spec, samples in zip(specs, f_samples):
            est.table.put(spec.key, measure.summarize(samples, stat), len(samples))
        measured = [measure.summarize(s, stat) for s in n_samples]
        calib = cal.calibrate_graphs(est, graphs[:n_cal], measured[:n_cal])
        estimates = [est.get_estimation(net) for net in networks]
        if est.profiler.profiled:
            raise RuntimeError("a function missed the timed passes")
        test = measured[n_cal:]
        rel = np.array(estimates) / np.array(test) - 1
        within = int(np.sum(np.abs(rel) <= 0.10))
        print(f"[{stat}] measured {min(test):.1f}-{max(test):.1f} ms; calibration "
              f"a={calib['a']:.3f} b={calib['b'] * 1e3:.1f} us, fit rms "
              f"{calib['rms_relative_error'] * 100:.1f}%")
        print(f"[{stat}] within ±10%: {within}/{len(networks)} "
              f"({100 * within / len(networks):.1f}%)")
        print(f"[{stat}] MAPE: {100 * np.mean(np.abs(rel)):.2f}%")
        print(f"[{stat}] Kendall tau: {kendall_tau(estimates, test):.3f}")
        if args.verbose:
            for seed, net, e, m, r in zip(seeds, networks, estimates, test, rel):
                print(f"[{stat}]   seed {seed}: {len(net.specs)} blocks, estimated "
                      f"{e:6.2f} ms, measured {m:6.2f} ms, {100 * r:+5.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
