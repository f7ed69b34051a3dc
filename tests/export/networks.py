"""The networks the export tests run: a DARTS train network with every candidate
operation, a random MobileNetV2-style network, and a ProxylessNAS retrained network,
with random batch-norm statistics."""
from __future__ import annotations

from typing import Callable, Dict, NamedTuple, Tuple

import nnabla as nn
import numpy as np

from nnabla_nas import module as Mo
from nnabla_nas.contrib.darts import Genotype, TrainNet
from nnabla_nas.contrib.pnas import random_mobilenet

#: Both cells use every candidate: in the reduction cell the ops on the cell inputs
#: have stride 2 (``skip_connect`` is then a FactorizedReduce), the others stride 1.
ALL_OPS = Genotype(
    normal=[("sep_conv_3x3", 0), ("sep_conv_5x5", 1), ("dil_conv_3x3", 0),
            ("dil_conv_5x5", 2), ("max_pool_3x3", 1), ("avg_pool_3x3", 3),
            ("skip_connect", 0), ("none", 4)],
    normal_concat=[2, 3, 4, 5],
    reduce=[("max_pool_3x3", 0), ("avg_pool_3x3", 1), ("skip_connect", 0),
            ("sep_conv_3x3", 2), ("sep_conv_5x5", 1), ("dil_conv_3x3", 3),
            ("dil_conv_5x5", 0), ("none", 2)],
    reduce_concat=[2, 3, 4, 5])


class Case(NamedTuple):
    """A network to export, the shape of one input sample and its arch.json content."""

    net: Mo.Module
    shape: Tuple[int, ...]
    arch: dict


def darts() -> Case:
    """Four cells (reductions at 1 and 2, so a FactorizedReduce preprocesses cell 3),
    with the auxiliary head and drop path, which inference must leave out."""
    net = TrainNet(ALL_OPS, in_channels=3, init_channels=4, num_cells=4, num_classes=10,
                   auxiliary=True, drop_path_prob=0.3)
    return Case(net, (3, 16, 16), ALL_OPS.to_dict())


def mobilenet() -> Case:
    net = random_mobilenet(0, depth=(5, 6))
    return Case(net, (3, 32, 32), {"space": "mobilenet",
                                   "blocks": [list(b) for b in net.specs]})


def proxylessnas() -> Case:
    """The ProxylessNAS space's retrained network: every candidate kind (kernels 3, 5,
    7, expansions 3 and 6, a skip), with stride-2 blocks and the small stem."""
    from nnabla_nas.contrib.pnas import TrainNet as PnasTrainNet
    from nnabla_nas.contrib.pnas import plain_mobilenet_v2_arch

    plain = plain_mobilenet_v2_arch([[1, 8, 1, 1], [3, 16, 3, 2], [6, 24, 4, 2]],
                                    stem="small", stem_channels=8, head_channels=32)
    arch = plain.with_ops(["k3_e3", "k5_e6", "skip", "k7_e3", "k3_e6", "k5_e3", "k7_e6"])
    net = PnasTrainNet(arch, in_channels=3, num_classes=10, dropout=0.2)
    return Case(net, (3, 16, 16), arch.to_dict())


NETWORKS: Dict[str, Callable[[], Case]] = {"darts": darts, "mobilenet": mobilenet,
                                           "proxylessnas": proxylessnas}


def randomize_batch_norms(net: Mo.Module, seed: int = 0) -> Mo.Module:
    """Running statistics and affine parameters far from their initial values, so a
    conversion that drops or misreads any of them changes the outputs."""
    rng = np.random.RandomState(seed)
    for _, m in net.get_modules():
        if isinstance(m, Mo.BatchNormalization):
            shape = m.mean.shape
            for p, value in ((m.mean, 0.5 * rng.randn(*shape)),
                             (m.var, rng.uniform(0.5, 2.0, shape)),
                             (m.gamma, 1 + 0.3 * rng.randn(*shape)),
                             (m.beta, 0.3 * rng.randn(*shape))):
                p.d = value.astype(np.float32)
    return net


def build(name: str) -> Case:
    case = NETWORKS[name]()
    randomize_batch_norms(case.net)
    return case


def inference(net: Mo.Module, x: np.ndarray) -> np.ndarray:
    """The outputs of ``net`` in inference mode (left set) on the batch ``x``."""
    net.apply(training=False)
    y = net(nn.Variable.from_numpy_array(x.astype(np.float32)))
    y.forward(clear_buffer=True)
    return np.array(y.d)


def random_inputs(shape: Tuple[int, ...], batch_size: int, seed: int = 1) -> np.ndarray:
    return np.random.RandomState(seed).randn(batch_size, *shape).astype(np.float32)
