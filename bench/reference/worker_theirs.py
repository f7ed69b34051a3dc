"""The reference's side of ``bench/vs_reference.py``: one workload per process, with
the public ``nnabla-nas==0.15.0`` (run with ``bench/.venv-ref/bin/python``).

Every network is built from the reference's own classes; where its API lacks a switch
our configuration needs, the adjustment is made on its objects and said here:

* DARTS supernet: the reference's normalizations always learn ``beta`` and ``gamma``,
  while the DARTS search network (the paper's code, and ours) keeps them constant
  (``affine=False``). The cells' ``beta``/``gamma`` are therefore frozen at their
  initial 0 and 1 (``need_grad=False``): the same function, and the same trainable
  parameters. The stem's normalization learns them on both sides.
* Searchers: ``Runner.__init__`` needs a Hydra run (output folder, log files), so the
  searcher object is created without it and given what its step methods read (the
  placeholders, optimizers, a loader that always returns one fixed batch, a monitor
  that discards). ``callback_on_start``, ``train_on_batch`` and ``valid_on_batch``
  are then the reference's own code.

What still differs is implementation, not the network (``bench/vs_reference.py``
prints the function counts that differ): the DARTS paper's search cells normalize
the two pooling candidates (BN without affine), as ours do and the reference does
not; depthwise convolutions are ``depthwise_convolution`` in ours and a grouped
``convolution`` in the reference; the softmax-weighted sum of an edge scales each
candidate's last batch normalization (gamma and beta times the weight) in ours, a
broadcast ``mul2`` of every output and a ``sum`` in the reference; ``none`` costs nothing in ours and a 1x1 max pooling times zero in the
reference; node sums are ``add_n`` against ``add_scalar`` and ``add2`` chains; the
final pooling is ``mean`` against an 8x8 ``average_pooling``; gradient clipping is by
the global norm in ours and per parameter in the reference.
"""
from __future__ import annotations

import importlib.metadata
import os
import sys
import time
import types
from types import SimpleNamespace
from typing import MutableMapping

import numpy as np

import common as C

WORKLOADS = C.Registry("theirs")

#: The sub-package the 0.15.0 wheel imports but does not ship.
MISSING = "nnabla_nas.contrib.classification.ofa.networks"
#: The names ``nnabla_nas/contrib/__init__.py`` imports from it.
MISSING_NAMES = ("ofa_mbv3", "ofa_xception", "ofa_resnet50")


def _not_shipped(*args, **kwargs):
    raise ImportError(f"{MISSING} is not in the nnabla-nas 0.15.0 wheel")


def install_stand_in(modules: MutableMapping[str, types.ModuleType] = sys.modules
                     ) -> types.ModuleType:
    """Stand in an empty module for :data:`MISSING` before ``nnabla_nas`` is imported.

    ``nnabla_nas/contrib/__init__.py`` of the 0.15.0 wheel runs ``from
    .classification.ofa.networks import ofa_mbv3, ofa_xception, ofa_resnet50``, but
    the wheel has no ``ofa/networks`` folder, so importing any ``nnabla_nas.contrib``
    module fails. The stand-in holds those three names, each raising ImportError if
    called; nothing benchmarked here uses the OFA networks. An existing module of that
    name (a fixed wheel) is left alone.
    """
    if MISSING not in modules:
        stand_in = types.ModuleType(MISSING, "Stand-in: not shipped in nnabla-nas 0.15.0")
        for name in MISSING_NAMES:
            setattr(stand_in, name, _not_shipped)
        modules[MISSING] = stand_in
    return modules[MISSING]


def version() -> str:
    """The reference's version, after checking that the ``nnabla_nas`` imported is the
    one installed in this interpreter's environment (a ``PYTHONPATH`` naming our
    checkout would otherwise lend it our modules of the same names)."""
    import nnabla_nas
    where = os.path.realpath(nnabla_nas.__file__)
    if not where.startswith(os.path.realpath(sys.prefix) + os.sep):
        raise RuntimeError(f"theirs: imported nnabla_nas from {where}, not from "
                           f"{sys.prefix}")
    return importlib.metadata.version("nnabla-nas")


# --------------------------------------------------------------------------- DARTS
def darts_net(d: dict = C.DARTS):
    """The reference's DARTS supernet with the settings ``d`` (see the module
    docstring)."""
    from nnabla_nas import module as Mo
    from nnabla_nas.contrib.classification.darts import SearchNet

    net = SearchNet(d["in_channels"], d["init_channels"], d["num_cells"], d["num_classes"],
                    num_choices=d["num_nodes"], multiplier=d["multiplier"], mode="full",
                    shared=True, stem_multiplier=d["stem_multiplier"])
    for _, m in net._cells.get_modules():  # affine=False, see the module docstring
        if isinstance(m, Mo.BatchNormalization):
            m.parameters["_beta"].need_grad = False
            m.parameters["_gamma"].need_grad = False
    return net


DARTS_IMPORTS = ("nnabla_nas.module", "nnabla_nas.contrib.classification.darts")
SEARCHER_IMPORTS = ("nnabla_nas.optimizer",)


@WORKLOADS.register("darts_step", imports=DARTS_IMPORTS)
def darts_step(args) -> dict:
    return C.darts_step(args, darts_net)


class _FixedLoader:
    """Stands in for the reference's data loader: one fixed batch, no transform."""

    def __init__(self, x, y):
        self.transform = None
        self._batch = {"inputs": [x], "targets": [y]}

    def next(self):
        return self._batch

    def __len__(self):
        return len(self._batch["inputs"][0])


class _NullMonitor:
    """Stands in for the reference's ProgressMeter (which needs a Hydra run)."""

    def update(self, *args, **kwargs):
        pass

    info = display = update


def reference_searcher(cls, model, net_optimizer, arch_optimizer, batch, size, classes):
    """A reference searcher of class ``cls`` ready for its step methods (see the
    module docstring)."""
    import nnabla as nn

    s = cls.__new__(cls)
    s.model, s.regularizer = model, {}
    s.optimizer = {"train": net_optimizer, "valid": arch_optimizer}
    s.hparams, s.args = {"loss_weights": None}, {}
    s.comm, s.event = SimpleNamespace(n_procs=1, rank=0), None
    s.bs_train = s.mbs_train = s.bs_valid = s.mbs_valid = batch
    s.accum_train = s.accum_valid = 1
    s.cur_epoch, s._fast_mode = 0, False
    s.dataloader = {k: _FixedLoader(*C.cifar_batch(batch, size, classes, seed))
                    for k, seed in (("train", 0), ("valid", 1))}
    s.placeholder = {k: {"inputs": [nn.Variable([batch, 3, size, size])],
                         "targets": [nn.Variable([batch, 1])]} for k in ("train", "valid")}
    s.monitor = _NullMonitor()
    s.load_checkpoint = lambda: None  # no checkpoint folder outside a Hydra run
    s.callback_on_start()
    return s


def search_workload(args, memory, build, checks) -> dict:
    """Time iterations of the searcher ``build()`` returns, as ``Searcher.run`` steps:
    a weight step, then an architecture step."""
    if args.check_only:
        return {"checks": checks}
    s = build()
    graphs = C.CallCounter(s, "update_graph")  # one per sampled path it runs

    def iteration():
        s.train_on_batch()
        s.valid_on_batch()

    times = C.time_calls(iteration, args.steps)
    return {"checks": checks, "metrics": {"iter_ms": float(np.median(times) * 1e3),
                                          "peak_mib": memory.growth_mib(),
                                          "path_graphs": graphs.calls / (args.steps + 1)}}


@WORKLOADS.register("darts_search", imports=DARTS_IMPORTS + SEARCHER_IMPORTS + (
    "nnabla_nas.runner.searcher.darts",))
def darts_search(args) -> dict:
    """The reference's DartsSearcher with its CIFAR-10 settings, constant rates."""
    from nnabla_nas.optimizer import Optimizer
    from nnabla_nas.runner.searcher.darts import DartsSearcher

    d = C.DARTS
    memory = C.PeakMemory()
    net = darts_net()
    checks = {"params": C.unique_count(net.get_parameters(grad_only=True).values()),
              "arch_params": C.unique_count(net.get_arch_parameters().values())}
    net_opt = Optimizer(name="Momentum", lr=0.025, momentum=0.9, weight_decay=3e-4,
                        grad_clip=5.0)
    arch_opt = Optimizer(name="Adam", alpha=3e-4, beta1=0.5, beta2=0.999,
                         weight_decay=1e-3)
    return search_workload(args, memory, lambda: reference_searcher(
        DartsSearcher, net, net_opt, arch_opt, d["batch"], d["size"], d["num_classes"]),
        checks)


# ---------------------------------------------------------------------- ProxylessNAS
PNAS_IMPORTS = SEARCHER_IMPORTS + ("nnabla_nas.contrib.classification.mobilenet",
                                    "nnabla_nas.runner.searcher.pnas")


@WORKLOADS.register("pnas_search_reinforce", imports=PNAS_IMPORTS)  # its only one
@WORKLOADS.register("pnas_search", imports=PNAS_IMPORTS)
def pnas_search(args) -> dict:
    """The reference's ProxylessNasSearcher (REINFORCE over ten sampled paths per
    architecture step) in its MobileNetV2 space, no hardware regularizer."""
    from nnabla_nas.contrib.classification.mobilenet import SearchNet
    from nnabla_nas.optimizer import Optimizer
    from nnabla_nas.runner.searcher.pnas import ProxylessNasSearcher

    p = C.PNAS
    memory = C.PeakMemory()
    net = SearchNet(num_classes=p["num_classes"], width_mult=p["width_mult"],
                    settings=p["settings"], candidates=list(p["candidates"]),
                    mode="sample", skip_connect=True)
    checks = {"params": C.unique_count(net.get_parameters().values()),
              "arch_params": C.unique_count(net.get_arch_parameters().values())}
    net_opt = Optimizer(name="Momentum", lr=0.1, momentum=0.9, weight_decay=4e-5)
    arch_opt = Optimizer(name="Adam", alpha=1e-3, beta1=0.0, beta2=0.999)
    return search_workload(args, memory, lambda: reference_searcher(
        ProxylessNasSearcher, net, net_opt, arch_opt, p["batch"], p["size"],
        p["num_classes"]), checks)


# ------------------------------------------------------------------------ latency
def mobilenet(Mo, blocks, stem=16, head=128, classes=10):
    """Our ``MobileNetV2Like`` layer for layer, from the reference's modules: the same
    functions on the same shapes (see ``nnabla_nas/contrib/pnas/blocks.py``)."""

    def conv_bn(cin, cout, kernel=1, stride=1, relu6=True):
        layers = [Mo.Conv(cin, cout, (kernel, kernel), pad=(kernel // 2,) * 2,
                          stride=(stride, stride), with_bias=False),
                  Mo.BatchNormalization(cout, 4)]
        return Mo.Sequential(*(layers + [Mo.ReLU6()] if relu6 else layers))

    class Block(Mo.Module):
        def __init__(self, cin, cout, kernel, stride, expansion):
            Mo.Module.__init__(self)
            hidden = cin * expansion
            layers = [conv_bn(cin, hidden)] if expansion != 1 else []
            layers += [Mo.DwConv(hidden, (kernel, kernel), pad=(kernel // 2,) * 2,
                                 stride=(stride, stride), with_bias=False),
                       Mo.BatchNormalization(hidden, 4), Mo.ReLU6(),
                       conv_bn(hidden, cout, relu6=False)]
            self._body = Mo.Sequential(*layers)
            self._residual = stride == 1 and cin == cout
            if self._residual:
                self._add = Mo.Add2()

        def call(self, x):
            h = self._body(x)
            return self._add(h, x) if self._residual else h

    class Net(Mo.Module):
        def __init__(self):
            Mo.Module.__init__(self)
            layers, channels = [conv_bn(3, stem, 3, 2)], stem
            for out, kernel, stride, expansion in blocks:
                layers.append(Block(channels, out, kernel, stride, expansion))
                channels = out
            layers += [conv_bn(channels, head), Mo.GlobalAvgPool(), Mo.Linear(head, classes)]
            self._layers = Mo.Sequential(*layers)

        def call(self, x):
            return self._layers(x)

    return Net()


@WORKLOADS.register("latency", imports=("nnabla_nas.module",
                                         "nnabla_nas.utils.estimator.latency"))
def latency(args) -> dict:
    from nnabla_nas import module as Mo
    from nnabla_nas.utils.estimator.latency import LatencyEstimator, LatencyGraphEstimator

    spec = C.read_specs(args.specs)
    networks = [mobilenet(Mo, blocks) for blocks in spec["blocks"]]
    graphs, checks = C.latency_graphs(networks, spec["size"])
    if args.check_only:
        return {"checks": checks}
    measured = C.measure_latency_ms(graphs, **(C.QUICK_TIMING if args.quick else {}))

    profiling = dict(n_run=3, n_warmup=1) if args.quick else {}  # else its defaults
    est = LatencyGraphEstimator(**profiling)
    start = time.perf_counter()
    estimates = [est.get_estimation(y) for _, y in graphs]
    profile_s = time.perf_counter() - start
    by_module = LatencyEstimator(**profiling)  # the reference's module-based one
    start = time.perf_counter()
    module_estimates = [by_module.get_estimation(n) for n in networks]
    module_s = time.perf_counter() - start
    module_acc = {f"module_{k}": v for k, v in C.accuracy(module_estimates, measured).items()}
    return {"checks": checks, "metrics": {
        **C.accuracy(estimates, measured), **module_acc, "profile_s": profile_s,
        "total_s": profile_s, "module_profile_s": module_s,
        "measured_ms": float(np.median(measured))},
        "per_network": {"measured_ms": measured, "estimated_ms": estimates,
                        "module_ms": module_estimates}}


if __name__ == "__main__":
    install_stand_in()
    sys.exit(C.worker_main(WORKLOADS, version))
