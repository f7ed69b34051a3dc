"""Randomly wired networks (Xie et al., 2019), registered as ``random_wired``.

Each stage is a random graph from a seeded generator: Watts-Strogatz ``ws`` (a ring of
``k`` neighbours, each edge rewired with probability ``p``), Erdos-Renyi ``er`` (each
edge with probability ``p``) or Barabasi-Albert ``ba`` (each new node links ``m`` nodes
by degree). As in the paper, edges point from lower to higher nodes, a unique input
feeds the nodes without inputs (they run at stride 2) and a unique output averages the
nodes without outputs; a node sums its inputs with learned sigmoid weights and runs its
op. Stages double the channels; stem: 3x3 convolution; head: pooling and a classifier.

The choices are the nodes' ops, ``stage<s>/node<i>``, among :data:`OPS` (from
:mod:`.darts.ops`). ``arch.json`` stores every stage's edges, so the network is rebuilt
from it alone. The generators use ``numpy.random.RandomState``, whose stream NumPy keeps
fixed (networkx's generators have changed between releases).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Tuple

import nnabla.functions as F
import numpy as np

from .. import module as Mo
from ..config.fields import ConfigError, option
from ..module import MixedOp, Module, Parameter
from .architecture import Architecture, Choice
from .darts.ops import CANDIDATES
from .model import Model
from .spaces import SEARCH_SPACES, SearchSpace

OPS = ("sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "max_pool_3x3", "avg_pool_3x3",
       "skip_connect")
GENERATORS = ("ws", "er", "ba")
Edges = List[Tuple[int, int]]


def watts_strogatz(n: int, k: int, p: float, rng: np.random.RandomState) -> Edges:
    """A ring where each node links its ``k // 2`` next neighbours, each link then moved
    with probability ``p`` to a uniform node not yet linked."""
    adj = [set() for _ in range(n)]
    for j in range(1, k // 2 + 1):
        for u in range(n):
            adj[u].add((u + j) % n), adj[(u + j) % n].add(u)
    for j in range(1, k // 2 + 1):
        for u in range(n):
            v = (u + j) % n
            if v in adj[u] and rng.rand() < p:
                free = [w for w in range(n) if w != u and w not in adj[u]]
                if free:  # else u links every node already
                    w = free[rng.randint(len(free))]
                    adj[u].discard(v), adj[v].discard(u), adj[u].add(w), adj[w].add(u)
    return sorted({(min(u, v), max(u, v)) for u in range(n) for v in adj[u]})


def erdos_renyi(n: int, p: float, rng: np.random.RandomState) -> Edges:
    """Each of the ``n (n - 1) / 2`` links with probability ``p``."""
    return [(u, v) for u in range(n) for v in range(u + 1, n) if rng.rand() < p]


def barabasi_albert(n: int, m: int, rng: np.random.RandomState) -> Edges:
    """``m`` unlinked nodes; each next node links ``m`` distinct earlier ones, drawn
    with probability proportional to their degree (the first links all ``m``)."""
    edges, ends, targets = [], [], list(range(m))
    for new in range(m, n):
        edges += [(t, new) for t in targets]
        ends += targets + [new] * m
        chosen = set()
        while len(chosen) < m:
            chosen.add(ends[rng.randint(len(ends))])
        targets = sorted(chosen)
    return sorted(edges)


def generate(options) -> List[Edges]:
    """One graph per stage, all drawn from one random state seeded by the options."""
    rng, n = np.random.RandomState(options.seed), options.nodes
    draw = {"ws": lambda: watts_strogatz(n, options.k, options.p, rng),
            "er": lambda: erdos_renyi(n, options.p, rng),
            "ba": lambda: barabasi_albert(n, options.m, rng)}[options.generator]
    return [draw() for _ in range(options.stages)]


def check_even(channels: int) -> None:  # skip_connect at stride 2: FactorizedReduce
    if channels % 2:
        raise ConfigError(f"channels: expected an even number, got {channels}")


def node_label(stage: int, node: int) -> str:
    """The label of a node's op: ``stage1/node7``."""
    return f"stage{stage}/node{node}"


def check_graph(nodes: int, edges: Any, where: str) -> Edges:
    """``edges`` as distinct pairs ``u < v`` of nodes in ``[0, nodes)``."""
    if not isinstance(edges, list):
        raise ValueError(f"{where}: expected a list of [u, v] edges, got {edges!r}")
    for i, e in enumerate(edges):
        if not (isinstance(e, list) and len(e) == 2 and all(type(x) is int for x in e)
                and 0 <= e[0] < e[1] < nodes):
            raise ValueError(f"{where}[{i}]: expected [u, v] with 0 <= u < v < {nodes}, "
                             f"got {e!r}")
    if len({tuple(e) for e in edges}) != len(edges):
        raise ValueError(f"{where}: repeated edges")
    return [tuple(e) for e in edges]


class Stage(Module):
    """One random graph; ``op(node, stride)`` makes a node's op. Predecessor -1 is the
    stage's input."""

    def __init__(self, nodes: int, edges: Edges, op: Callable[[int, int], Module]):
        self.preds = [[u for u, v in edges if v == i] or [-1] for i in range(nodes)]
        self.outputs = [i for i in range(nodes) if all(u != i for u, _ in edges)]
        self.ops = Mo.ModuleList([op(i, 2 if p == [-1] else 1)
                                  for i, p in enumerate(self.preds)])
        # the aggregation weights of the nodes with several inputs
        self.weights = Mo.ParameterList([Parameter((len(p),)) for p in self.preds
                                         if len(p) > 1])

    def call(self, input):
        states, weights = [], iter(self.weights)
        for preds, op in zip(self.preds, self.ops):
            xs = [input if u < 0 else states[u] for u in preds]
            if len(xs) > 1:
                gate = F.reshape(F.sigmoid(next(weights)), (len(xs), 1, 1, 1, 1))
                xs = [F.sum(F.stack(*xs, axis=0) * gate, axis=0)]
            states.append(op(xs[0]))
        return F.add_n(*[states[i] for i in self.outputs]) / len(self.outputs) \
            if len(self.outputs) > 1 else states[self.outputs[0]]


class RandomWiredNet(Model):
    """The stem, one :class:`Stage` per graph (``op(stage, node, channels, stride)``
    makes the nodes' ops), and the head."""

    def __init__(self, in_channels, num_classes, channels, nodes, graphs, op):
        self.stem = Mo.Sequential(Mo.Conv(in_channels, channels, (3, 3), pad=(1, 1),
                                          with_bias=False),
                                  Mo.BatchNormalization(channels, 4))
        stages, prev = [], channels
        for s, edges in enumerate(graphs):
            c = channels * 2 ** s  # a 1x1 projection to the stage's channels first
            stages.append(Mo.Sequential(
                Mo.Conv(prev, c, (1, 1), with_bias=False), Mo.BatchNormalization(c, 4),
                Stage(nodes, edges, lambda i, stride, s=s, c=c: op(s, i, c, stride))))
            prev = c
        self.stages = Mo.ModuleList(stages)
        self.head = Mo.Sequential(Mo.ReLU(), Mo.GlobalAvgPool())
        self.classifier = Mo.Linear(prev, num_classes)

    def call(self, input):
        x = self.stem(input)
        for stage in self.stages:
            x = stage(x)
        return self.classifier(self.head(x))


@SEARCH_SPACES.register("random_wired")
class RandomWiredSpace(SearchSpace):
    """Randomly wired stages whose nodes each choose an op."""

    name = "random_wired"
    smoke_options: Dict[str, Any] = {"nodes": 4, "k": 2, "stages": 2, "channels": 4}

    @dataclass(frozen=True)
    class SearchConfig:
        """The generator and the supernet (defaults: the paper's WS(4, 0.75), 32 nodes
        and 78 channels of its small regime)."""

        generator: str = option("ws", "random graph model", choices=GENERATORS)
        nodes: int = option(32, "nodes per stage", minimum=2, maximum=256)
        k: int = option(4, "ws: even number of ring neighbours (< nodes)", minimum=2,
                        maximum=64)
        p: float = option(0.75, "ws: rewiring probability; er: edge probability",
                          minimum=0, maximum=1)
        m: int = option(5, "ba: links of each new node (< nodes)", minimum=1, maximum=64)
        seed: int = option(0, "seed of the graphs", minimum=0, maximum=2 ** 32 - 1)
        stages: int = option(3, "random stages; each halves the resolution",
                             minimum=1, maximum=6)
        channels: int = option(78, "channels of the stem and first stage, doubled by "
                                   "each next stage", minimum=2, maximum=1024)

        def __post_init__(self):
            if self.generator == "ws" and (self.k % 2 or self.k >= self.nodes):
                raise ConfigError(f"k: expected an even number < nodes={self.nodes}, "
                                  f"got {self.k}")
            if self.generator == "ba" and self.m >= self.nodes:
                raise ConfigError(f"m: expected fewer than nodes={self.nodes}, "
                                  f"got {self.m}")
            check_even(self.channels)

    @dataclass(frozen=True)
    class TrainConfig:
        """The retrained network's width (its graphs come from arch.json)."""

        channels: int = option(78, "channels of the stem and first stage, doubled by "
                                   "each next stage (even)", minimum=2, maximum=1024)

        def __post_init__(self):
            check_even(self.channels)

    @classmethod
    def arch_options(cls, options) -> Dict[str, Any]:
        """The generator's settings, for the record, and the graphs it drew."""
        return {"generator": options.generator, "k": options.k, "p": options.p,
                "m": options.m, "seed": options.seed, "nodes": options.nodes,
                "graphs": [[list(e) for e in g] for g in generate(options)]}

    @classmethod
    def choices(cls, arch_options: Dict[str, Any]) -> List[Choice]:
        nodes, graphs = arch_options["nodes"], arch_options["graphs"]
        if isinstance(nodes, bool) or not isinstance(nodes, int) or not 2 <= nodes <= 256:
            raise ValueError(f"nodes: expected an int in [2, 256], got {nodes!r}")
        if not isinstance(graphs, list) or not 1 <= len(graphs) <= 6:
            raise ValueError(f"graphs: expected a list of 1 to 6 edge lists, got "
                             f"{graphs!r}")
        for s, edges in enumerate(graphs):
            check_graph(nodes, edges, f"graphs[{s}]")
        return [Choice(node_label(s, i), OPS) for s in range(len(graphs))
                for i in range(nodes)]

    @classmethod
    def build_search(cls, options, shape: Tuple[int, ...], num_classes: int,
                     rng: np.random.RandomState) -> RandomWiredNet:
        def mixed(stage, node, channels, stride):
            return MixedOp([CANDIDATES.get(n)(channels, stride, False) for n in OPS],
                           "full", label=node_label(stage, node), names=OPS)

        return RandomWiredNet(shape[0], num_classes, options.channels, options.nodes,
                              generate(options), mixed)

    @classmethod
    def build_train(cls, arch: Architecture, options, shape: Tuple[int, ...],
                    num_classes: int, rng: np.random.RandomState) -> RandomWiredNet:
        def chosen(stage, node, channels, stride):
            return CANDIDATES.get(arch.choices[node_label(stage, node)])(
                channels, stride, True)

        graphs = [[tuple(e) for e in g] for g in arch.options["graphs"]]
        return RandomWiredNet(shape[0], num_classes, options.channels,
                              arch.options["nodes"], graphs, chosen)
