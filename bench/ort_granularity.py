"""Which granularity predicts ONNX Runtime latency better: functions or blocks?

ONNX Runtime fuses a convolution with the batch normalization and activation after it,
so the sum of isolated NNabla functions timed through ONNX Runtime (what the device
``onnxruntime-cpu`` does) may miss; timing whole blocks (a MobileNetV2 inverted
residual, the stem, the head) keeps the fusion inside each block. This script
measures both on random MobileNetV2-style networks (``random_mobilenet``, batch 1,
64x64x3) against the whole network timed through ONNX Runtime:

* ``function``: ``LatencyEstimator(context='onnxruntime-cpu')`` (isolated functions,
  session-call cost subtracted), raw, then calibrated on the default calibration
  networks (``calibration.CALIBRATION_SET``) measured through ONNX Runtime.
* ``block``: the sum of each block of the network converted to ONNX alone and timed
  through ONNX Runtime, raw, then calibrated the same way (the same terms, the sum of
  block times in place of the sum of function times, fitted on the same networks).

Networks come from seeds ``SEED, SEED+1, ...`` (``--seed``, drawn at random and
printed when not given). The function table, the block times and the whole networks
are timed in separate passes, each round-robin, with the same statistic
(``lower_quartile``, the library default) on every side. ONNX Runtime runs with the
threads NNabla uses (``OMP_NUM_THREADS`` or the cores). Also printed: Kendall's tau
between NNabla's and ONNX Runtime's measured latencies of the same networks.

Reproduce::

    .venv/bin/python bench/ort_granularity.py [--networks 12] [--seed S]
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


def scores(estimates, measured):
    from scipy.stats import kendalltau
    e, m = np.asarray(estimates), np.asarray(measured)
    rel = e / m - 1
    return (f"within ±10%: {np.mean(np.abs(rel) <= 0.10) * 100:5.1f}%  "
            f"MAPE {np.mean(np.abs(rel)) * 100:5.1f}%  "
            f"mean error {np.mean(rel) * 100:+5.1f}%  "
            f"tau {kendalltau(e, m)[0]:.3f}")


def blocks_of(net):
    """The blocks of a MobileNetV2Like network, in order."""
    return [net.stem] + list(net.blocks) + [net.head, net.pool, net.classifier]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--networks", type=int, default=12)
    parser.add_argument("--seed", type=int, default=None,
                        help="first network seed (default: random, printed)")
    parser.add_argument("--repeats", type=int, default=100,
                        help="timed runs per whole network and per block")
    args = parser.parse_args(argv)
    seed = int(np.random.randint(10_000, 1_000_000)) if args.seed is None else args.seed
    print(f"seed {seed} (networks {seed}..{seed + args.networks - 1})")

    from nnabla_nas.contrib.estimator import LatencyEstimator, measure
    from nnabla_nas.contrib.estimator import calibration as C
    from nnabla_nas.contrib.estimator import onnx_runtime as R
    from nnabla_nas.contrib.estimator.graph import graph_functions, module_graph
    from nnabla_nas.contrib.estimator.graph_files import (function_graph,
                                                          graph_parameters, onnx_models)
    from nnabla_nas.contrib.estimator.ort_profiler import OVERHEAD_SPEC
    from nnabla_nas.contrib.estimator.profiler import IN_MEMORY

    est = LatencyEstimator(context=R.DEVICE, table=IN_MEMORY, calibrate_mode="never")
    print(f"device: {measure.describe_fingerprint(est.table.fingerprint)}")
    ctx, threads = est.profiler.ctx, est.profiler.threads
    statistic = est.profiler.statistic

    tests = [C.network(seed + i, (1, 3, 64, 64)) for i in range(args.networks)]
    calib = C.default_networks()

    # 1. the function table (all functions of test and calibration networks)
    start = time.perf_counter()
    report = est.profile(tests + calib)
    print(f"function table: {report} ({time.perf_counter() - start:.0f} s)")

    # 2. blocks: each distinct block converted alone and timed, round-robin
    def session_run(model):
        session = R.make_session(model, threads)
        return R.session_runner(session, R.session_inputs(session))

    start = time.perf_counter()
    keys, graphs = {}, [function_graph(OVERHEAD_SPEC, ctx)]
    for net in tests + calib:
        for b in blocks_of(net):
            key = (type(b).__name__, b.extra_repr(), str(b.input_shapes))
            if key not in keys:
                keys[key] = len(graphs) - 1
                inputs, outputs = module_graph(b, ctx)
                graphs.append((inputs, outputs, graph_parameters(inputs, outputs)))
    overhead, *runs = [session_run(m) for m in onnx_models(graphs)]
    print(f"{len(runs)} distinct blocks converted in {time.perf_counter() - start:.0f} s")
    start = time.perf_counter()
    samples = measure.time_round_robin([overhead] + runs, 2, args.repeats, 5)
    ms = [measure.summarize(s, statistic) for s in samples]
    block_ms = [max(0.0, t - ms[0]) for t in ms[1:]]
    print(f"{len(runs)} distinct blocks timed in {time.perf_counter() - start:.0f} s")

    def block_sum(net):
        return sum(block_ms[keys[(type(b).__name__, b.extra_repr(),
                                  str(b.input_shapes))]] for b in blocks_of(net))

    # 3. whole networks through ONNX Runtime, and through NNabla
    graphs = [module_graph(net, ctx) for net in tests + calib]
    for inputs, _ in graphs:
        C.fill_inputs(inputs)
    start = time.perf_counter()
    ort_ms = [measure.summarize(s, statistic) for s in est.profiler.graph_samples(
        [(i, o) for i, o in graphs], 10, args.repeats, 4)]
    nnabla_ms = [measure.summarize(s, statistic) for s in measure.time_round_robin(
        [measure.forward_runner(o) for _, o in graphs], 10, args.repeats, 4)]
    print(f"whole networks timed in {time.perf_counter() - start:.0f} s")
    n = len(tests)
    truth, calib_truth = ort_ms[:n], ort_ms[n:]

    raw_fn = [est.get_estimation(net) for net in tests]
    C.calibrate_graphs(est, graphs[n:], measured=calib_truth)
    est.reset()
    cal_fn = [est.get_estimation(net) for net in tests]
    # blocks: the same calibration terms, with the sum of block times in place of
    # the sum of function times
    rows = []
    for net, (_, outputs) in zip(tests + calib, graphs):
        specs = graph_functions(outputs)
        rows.append([block_sum(net)] + measure.calibration_features(
            specs, [0.0] * len(specs))[1:])
    fit = measure.fit_calibration(rows[n:], calib_truth)
    raw_blk = [row[0] for row in rows[:n]]
    cal_blk = [float(np.dot([fit[k] for k in measure.CALIBRATION_TERMS], row))
               for row in rows[:n]]

    print(f"function calibration: {est.calibration}")
    print(f"block calibration:    {fit}")
    print(f"function, raw:        {scores(raw_fn, truth)}")
    print(f"function, calibrated: {scores(cal_fn, truth)}")
    print(f"block, raw:           {scores(raw_blk, truth)}")
    print(f"block, calibrated:    {scores(cal_blk, truth)}")
    from scipy.stats import kendalltau
    print(f"NNabla vs ONNX Runtime measured, same {n} networks: tau "
          f"{kendalltau(nnabla_ms[:n], truth)[0]:.3f}; ORT/NNabla time ratio "
          f"median {np.median(np.asarray(truth) / np.asarray(nnabla_ms[:n])):.2f}")
    print("network  ort_ms  nnabla_ms  fn_raw  fn_cal  blk_raw  blk_cal")
    for i in range(n):
        print(f"{seed + i:7d} {truth[i]:7.3f} {nnabla_ms[i]:9.3f} {raw_fn[i]:7.3f} "
              f"{cal_fn[i]:7.3f} {raw_blk[i]:8.3f} {cal_blk[i]:8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
