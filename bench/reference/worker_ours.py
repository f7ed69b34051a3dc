"""Our side of ``bench/vs_reference.py``: one workload per process, with our
``nnabla_nas`` (run with ``.venv/bin/python``). See ``common.py`` for the protocol."""
from __future__ import annotations

import os
import sys
import tempfile
import time

import numpy as np

import common as C

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:  # our package from this checkout, whichever venv runs us
    sys.path.insert(0, ROOT)

WORKLOADS = C.Registry("ours")

#: What building and running our searchers imports (see ``our_searcher``).
SEARCHER_IMPORTS = ("nnabla_nas.config.loader", "nnabla_nas.dataset",
                    "nnabla_nas.runner.run", "nnabla_nas.runner.schema",
                    "nnabla_nas.utils.output")
DARTS_IMPORTS = ("nnabla_nas.contrib.darts",)


def version() -> str:
    """Our version, after checking that ``nnabla_nas`` came from this checkout."""
    import nnabla_nas
    where = os.path.realpath(nnabla_nas.__file__)
    if not where.startswith(os.path.realpath(ROOT) + os.sep):
        raise RuntimeError(f"ours: imported nnabla_nas from {where}, not from {ROOT}")
    return getattr(nnabla_nas, "__version__", "checkout")


def darts_net(d: dict = C.DARTS):
    """Our DARTS supernet with the settings ``d`` (those of :data:`common.DARTS`)."""
    from nnabla_nas.contrib.darts import SearchNet
    return SearchNet(d["in_channels"], d["init_channels"], d["num_cells"], d["num_classes"],
                     num_nodes=d["num_nodes"], multiplier=d["multiplier"],
                     stem_multiplier=d["stem_multiplier"], mode="full", shared=True,
                     rng=np.random.RandomState(0))


@WORKLOADS.register("darts_step", imports=DARTS_IMPORTS)
def darts_step(args) -> dict:
    return C.darts_step(args, darts_net)


def our_searcher(cls, space, model, options, output_dir: str, batch: int, size: int,
                 classes: int, net_optimizer, arch_optimizer):
    """Our searcher of class ``cls``, built as ``main`` builds it, on random
    CIFAR-sized splits of one batch each (the steps are fed fixed batches)."""
    from nnabla_nas.config.loader import Component
    from nnabla_nas.dataset import DatasetSplits, Split
    from nnabla_nas.runner.run import Run
    from nnabla_nas.runner.schema import SearchConfig
    from nnabla_nas.utils.output import RunOutput

    splits = [Split(*C.cifar_batch(batch, size, classes, seed)) for seed in (0, 1, 2)]
    data = DatasetSplits(*splits, num_classes=classes, name="random")
    config = SearchConfig(epochs=1, batch_size=batch, net_optimizer=net_optimizer,
                          arch_optimizer=arch_optimizer,
                          searcher=Component(cls.__name__, options))
    output = RunOutput(output_dir, {"bench": "vs_reference"}, quiet=True)
    return cls(Run(model=model, data=data, config=config, output=output, space=space,
                   quiet=True))


def search_workload(args, memory, build, checks, arch_steps: int = 1) -> dict:
    """Time iterations of the searcher ``build(tmp)`` returns: a weight step, then
    ``arch_steps`` architecture steps (the reference's order), each on its fixed batch;
    ``path_graphs`` counts the sampled-path graphs an iteration builds and runs."""
    with tempfile.TemporaryDirectory() as tmp:
        s = build(tmp)
        graphs = C.CallCounter(s, "_graph") if hasattr(s, "_graph") else None
        batch, size, classes = s.x_train.shape[0], s.x_train.shape[2], s.data.num_classes
        x_train, y_train = C.cifar_batch(batch, size, classes, 0)
        x_valid, y_valid = C.cifar_batch(batch, size, classes, 1)
        step = [0]

        def iteration():
            s.x_train.d, s.y_train.d = x_train, y_train
            s.train_on_batch(step[0])
            s.x_valid.d, s.y_valid.d = x_valid, y_valid
            for _ in range(arch_steps):
                s.valid_on_batch(step[0])
            step[0] += 1

        times = C.time_calls(iteration, args.steps)
        s.output.close()
    metrics = {"iter_ms": float(np.median(times) * 1e3), "peak_mib": memory.growth_mib()}
    if graphs is not None:
        metrics["path_graphs"] = graphs.calls / step[0]
    return {"checks": checks, "metrics": metrics}


@WORKLOADS.register("darts_search", imports=DARTS_IMPORTS + SEARCHER_IMPORTS + (
    "nnabla_nas.contrib.darts.space", "nnabla_nas.runner.searcher.darts"))
def darts_search(args) -> dict:
    """Our DartsSearcher, first order, with the reference's optimizer settings
    (momentum SGD 0.025/0.9, weight decay 3e-4, clip 5; Adam 3e-4, betas 0.5/0.999,
    weight decay 1e-3; constant learning rates)."""
    from nnabla_nas.runner.schema import ArchOptimizerConfig, OptimizerConfig
    from nnabla_nas.contrib.darts.space import DartsSpace
    from nnabla_nas.runner.searcher.darts import DartsSearcher

    d = C.DARTS
    memory = C.PeakMemory()
    net = darts_net()
    checks = {"params": C.unique_count(net.get_parameters(grad_only=True).values()),
              "arch_params": C.unique_count(net.get_arch_parameters().values())}
    if args.check_only:
        return {"checks": checks}
    net_opt = OptimizerConfig(name="sgd", lr=0.025, schedule="constant", momentum=0.9,
                              weight_decay=3e-4, grad_clip=5.0)
    return search_workload(args, memory, lambda tmp: our_searcher(
        DartsSearcher, DartsSpace, net, DartsSearcher.Config(order=1), tmp, d["batch"],
        d["size"], d["num_classes"], net_opt, ArchOptimizerConfig()), checks)


PNAS_IMPORTS = SEARCHER_IMPORTS + ("nnabla_nas.contrib.pnas.network",
                                    "nnabla_nas.contrib.pnas.space",
                                    "nnabla_nas.runner.searcher.pnas")


@WORKLOADS.register("pnas_search_reinforce", imports=PNAS_IMPORTS)
def pnas_search_reinforce(args) -> dict:
    """Our ProxylessNasSearcher with REINFORCE, the reference's algorithm, with as many
    sampled-path forwards per iteration as its ``pnas_search``: one weight step, then
    :data:`common.REINFORCE_PATHS` one-path architecture steps."""
    return pnas_search(args, estimator="reinforce", arch_steps=C.REINFORCE_PATHS)


@WORKLOADS.register("latency", imports=("nnabla_nas.contrib.estimator",))
def latency(args) -> dict:
    from nnabla_nas.contrib.estimator import LatencyEstimator
    from nnabla_nas.contrib.estimator import calibration as cal
    from nnabla_nas.contrib.estimator.profiler import IN_MEMORY

    spec = C.read_specs(args.specs)
    networks = cal.default_networks((1, 3, spec["size"], spec["size"]), spec["seeds"])
    built = [[list(b) for b in net.specs] for net in networks]
    if built != spec["blocks"]:
        raise RuntimeError("ours: random_mobilenet built other blocks than the specs file")
    graphs, checks = C.latency_graphs(networks, spec["size"])
    if args.check_only:
        return {"checks": checks}
    measured = C.measure_latency_ms(graphs, **(C.QUICK_TIMING if args.quick else {}))

    profiling = dict(warmup=1, repeats=3, rounds=1) if args.quick else {}
    est = LatencyEstimator(table=IN_MEMORY, calibrate_mode="never", **profiling)
    start = time.perf_counter()
    report = est.profile(networks)
    profile_s = time.perf_counter() - start
    raw = [est.get_estimation(n) for n in networks]  # plain sums of function times
    start = time.perf_counter()
    calib_nets = cal.default_networks()[:3 if args.quick else None]
    est.calibrate(calib_nets, **(dict(rounds=1, repeats=3, warmup=1) if args.quick
                                 else cal.CALIBRATION_TIMING))
    calibrate_s = time.perf_counter() - start
    estimates = [est.get_estimation(n) for n in networks]
    raw_acc = {f"raw_{k}": v for k, v in C.accuracy(raw, measured).items()}
    return {"checks": checks, "metrics": {
        **C.accuracy(estimates, measured), **raw_acc,
        "profile_s": profile_s, "calibrate_s": calibrate_s,
        "total_s": profile_s + calibrate_s, "functions_profiled": report.profiled,
        "measured_ms": float(np.median(measured))},
        "per_network": {"measured_ms": measured, "estimated_ms": estimates,
                        "raw_ms": raw}}


def pnas_stages():
    """The reference's MobileNetV2 settings as our stage rows ``(expansion, channels,
    repeats, stride)``: its fixed ``MB1 3x3`` block first, then its stages (the
    expansion of a row only names the plain network; every searched block has all
    the candidates)."""
    return [[1, 16, 1, 1]] + [[6, c, n, s] for c, n, s in C.PNAS["settings"]]


@WORKLOADS.register("pnas_search", imports=PNAS_IMPORTS)
def pnas_search(args, estimator: str = "gradient", arch_steps: int = 1) -> dict:
    """Our ProxylessNasSearcher with its default architecture gradient (binary gates
    over two sampled paths); the reference's is REINFORCE over ten sampled paths."""
    try:
        from nnabla_nas.runner.schema import ArchOptimizerConfig, OptimizerConfig
        from nnabla_nas.contrib.pnas.network import SearchNet
        from nnabla_nas.contrib.pnas.space import ProxylessSpace
        from nnabla_nas.runner.searcher.pnas import ProxylessNasSearcher
    except ImportError as err:
        raise C.WorkloadUnavailable(
            f"ours: ProxylessNAS searcher not available yet ({err})") from err
    p = C.PNAS
    memory = C.PeakMemory()
    net = SearchNet(3, p["num_classes"], stages=pnas_stages(), stem="imagenet",
                    width_multiplier=p["width_mult"], mode="sample",
                    rng=np.random.RandomState(0))
    checks = {"params": C.unique_count(net.get_parameters().values()),
              "arch_params": C.unique_count(net.get_arch_parameters().values())}
    if args.check_only:
        return {"checks": checks}
    net_opt = OptimizerConfig(name="sgd", lr=0.1, schedule="constant", momentum=0.9,
                              weight_decay=4e-5, grad_clip=0.0)
    arch_opt = ArchOptimizerConfig(name="adam", lr=1e-3, betas=(0.0, 0.999),
                                   weight_decay=0.0)
    return search_workload(args, memory, lambda tmp: our_searcher(
        ProxylessNasSearcher, ProxylessSpace, net,
        ProxylessNasSearcher.Config(estimator=estimator), tmp,
        p["batch"], p["size"], p["num_classes"], net_opt, arch_opt), checks, arch_steps)


if __name__ == "__main__":
    sys.exit(C.worker_main(WORKLOADS, version))
