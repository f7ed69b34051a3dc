"""NAS-Bench-201 (Dong & Yang, 2020), registered as ``nasbench201``.

The cell has 4 nodes; node ``i`` (1..3) sums one operation on each earlier node ``j``:
6 edges, each among :data:`OPS` (``none``, ``skip_connect``, ``nor_conv_1x1``,
``nor_conv_3x3``, ``avg_pool_3x3``), 5^6 = 15,625 cells. The cell's output is node 3.
The choices are the edges, ``node<i>/edge<j>``; one cell is repeated through the
benchmark's network: a 3x3 convolution and batch normalization with ``C`` channels,
three stages of ``N`` cells with ``C``, ``2C``, ``4C`` channels, a residual block of
stride 2 between stages, batch normalization, ReLU, global pooling and a linear
classifier (``C = 16``, ``N = 5`` in the benchmark).

The train network has the parameters of the authors' PyTorch ``TinyNetwork``
(AutoDL-Projects, ``xautodl/models/cell_infers``): convolutions without bias, every
batch normalization affine, ``nor_conv_kxk`` = ReLU, k x k convolution, batch
normalization; average pooling 3x3 of stride 1 that does not count the padding; the
residual block's shortcut a 2x2 average pooling and a 1x1 convolution (no
normalization). An edge into a node whose inputs are all ``none`` still computes on
the zeros of that node, as there. In the supernet every edge is a
:class:`~nnabla_nas.module.MixedOp` whose alphas all cells share, and its
normalizations are not affine, as in the benchmark's search code.

Architectures are also written as the benchmark's strings, node by node::

    |nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|

accepted in ``arch.json`` (``{"arch_str": "..."}``) and on the command line wherever
an architecture file is, and written next to the choices of every ``arch.json``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

import nnabla.functions as F
import numpy as np

from .. import module as Mo
from ..config.fields import option
from ..module import ArchParameter, MixedOp, Module
from ..visual.cells import draw_graph
from .architecture import Architecture, Choice
from .darts.ops import ReLUConvBN
from .model import Model
from .spaces import SEARCH_SPACES, SearchSpace

#: The candidates of every edge, in the order of its alphas (the benchmark's order).
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NONE = "none"
#: Nodes of the cell, the input (node 0) included.
NODES = 4
#: The edges ``(node, input)`` in the order of the architecture string.
EDGES = tuple((i, j) for i in range(1, NODES) for j in range(i))


def edge_label(node: int, j: int) -> str:
    """The label of the edge from node ``j`` into node ``node``: ``node2/edge1``."""
    return f"node{node}/edge{j}"


LABELS = tuple(edge_label(i, j) for i, j in EDGES)


# ----------------------------------------------------------------- architecture strings
def parse_arch_str(text: Any) -> Dict[str, str]:
    """The edge choices of an architecture string, by label.

    Each node's group lists ``op~j`` for its inputs ``j``, in any order, each once.

    Raises:
        ValueError: naming what is wrong (the node count, an unknown operation, an
            edge index out of range, a repeated or missing input).
    """
    if not isinstance(text, str):
        raise ValueError(f"expected an architecture string such as "
                         f"'|nor_conv_3x3~0|+|...|', got {text!r}")
    groups = text.strip().split("+")
    if len(groups) != NODES - 1:
        raise ValueError(f"expected {NODES - 1} nodes separated by '+', got "
                         f"{len(groups)} in {text!r}")
    choices = {}
    for node, group in enumerate(groups, start=1):
        if not (group.startswith("|") and group.endswith("|")) or len(group) < 2:
            raise ValueError(f"node {node}: expected '|op~j|...|', got {group!r}")
        for item in group[1:-1].split("|"):
            op, sep, index = item.partition("~")
            if not sep or not index.isdigit():
                raise ValueError(f"node {node}: expected 'op~j' with an input index j, "
                                 f"got {item!r}")
            if op not in OPS:
                raise ValueError(f"node {node}: unknown operation {op!r}; expected one "
                                 f"of {', '.join(OPS)}")
            j = int(index)
            if j >= node:
                raise ValueError(f"node {node}: edge index {j} out of range: node "
                                 f"{node} takes inputs 0..{node - 1}")
            if edge_label(node, j) in choices:
                raise ValueError(f"node {node}: input {j} given twice")
            choices[edge_label(node, j)] = op
        missing = [j for j in range(node) if edge_label(node, j) not in choices]
        if missing:
            raise ValueError(f"node {node}: no operation for inputs {missing} (write "
                             f"'none~j' for an absent edge)")
    return {label: choices[label] for label in LABELS}


def arch_str(choices: Dict[str, str]) -> str:
    """The architecture string of edge choices by label."""
    return "+".join("|" + "|".join(f"{choices[edge_label(i, j)]}~{j}" for j in range(i))
                    + "|" for i in range(1, NODES))


# ------------------------------------------------------------------------- networks
def candidate(name: str, channels: int, affine: bool) -> Module:
    """The operation ``name`` of an edge with ``channels`` in and out."""
    if name == NONE:
        return Mo.Zero()
    if name == "skip_connect":
        return Mo.Identity()
    if name == "avg_pool_3x3":
        return Mo.AvgPool((3, 3), stride=(1, 1), pad=(1, 1), including_pad=False)
    k = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}[name]
    return ReLUConvBN(channels, channels, k, 1, k // 2, affine=affine)


class Cell(Module):
    """Nodes 1..3 each sum their edges' outputs on the earlier nodes; ``edges`` holds
    one module per edge in :data:`EDGES` order, None for an absent (``none``) edge."""

    def __init__(self, edges: List[Optional[Module]]):
        self._live = [e is not None for e in edges]
        self.edges = Mo.ModuleList([e if e is not None else Mo.Zero() for e in edges])

    def call(self, input):
        nodes = [input]
        for i in range(1, NODES):
            outs = [self.edges[k](nodes[j]) for k, (node, j) in enumerate(EDGES)
                    if node == i and self._live[k]]
            nodes.append(F.add_n(*outs) if len(outs) > 1 else outs[0] if outs
                         else F.constant(0.0, input.shape))
        return nodes[-1]


class ResidualBlock(Module):
    """The reduction between stages: two ReLU-conv-BN 3x3 (the first of stride 2)
    plus a shortcut of 2x2 average pooling and a 1x1 convolution."""

    def __init__(self, in_channels: int, out_channels: int):
        self.conv_a = ReLUConvBN(in_channels, out_channels, 3, 2, 1, affine=True)
        self.conv_b = ReLUConvBN(out_channels, out_channels, 3, 1, 1, affine=True)
        self.shortcut = Mo.Sequential(
            Mo.AvgPool((2, 2), stride=(2, 2), ignore_border=False),
            Mo.Conv(in_channels, out_channels, (1, 1), with_bias=False))

    def call(self, input):
        return self.shortcut(input) + self.conv_b(self.conv_a(input))


class NasBench201Net(Model):
    """The benchmark's network; ``edge(k, channels)`` makes the module of edge ``k``
    (of :data:`EDGES`) of a cell with ``channels`` (None: absent)."""

    def __init__(self, in_channels: int, num_classes: int, channels: int, cells: int,
                 edge: Callable[[int, int], Optional[Module]]):
        self.stem = Mo.Sequential(
            Mo.Conv(in_channels, channels, (3, 3), pad=(1, 1), with_bias=False),
            Mo.BatchNormalization(channels, 4))
        layers, prev = [], channels
        for stage in range(3):
            c = channels * 2 ** stage
            if stage:
                layers.append(ResidualBlock(prev, c))
            layers += [Cell([edge(k, c) for k in range(len(EDGES))]) for _ in range(cells)]
            prev = c
        self.cells = Mo.Sequential(*layers)
        self.head = Mo.Sequential(Mo.BatchNormalization(prev, 4), Mo.ReLU(),
                                  Mo.GlobalAvgPool())
        self.classifier = Mo.Linear(prev, num_classes)

    def call(self, input):
        return self.classifier(self.head(self.cells(self.stem(input))))


def _channels(default: int) -> Any:
    return option(default, "channels C of the first stage (2C, 4C in the next)",
                  minimum=1, maximum=1024)


def _cells(default: int) -> Any:
    return option(default, "cells N per stage", minimum=1, maximum=64)


@SEARCH_SPACES.register("nasbench201")
class NasBench201Space(SearchSpace):
    """The NAS-Bench-201 cell in the benchmark's network."""

    name = "nasbench201"
    smoke_options: Dict[str, Any] = {"channels": 2, "cells": 1}
    smoke_train_options: Dict[str, Any] = {"channels": 2, "cells": 1}
    native_keys = ("arch_str",)

    @dataclass(frozen=True)
    class SearchConfig:
        """The supernet (the benchmark's search setting: C = 16, N = 5)."""

        channels: int = _channels(16)
        cells: int = _cells(5)

    @dataclass(frozen=True)
    class TrainConfig:
        """The network trained from an architecture (the benchmark: C = 16, N = 5)."""

        channels: int = _channels(16)
        cells: int = _cells(5)

    @classmethod
    def arch_options(cls, options) -> Dict[str, Any]:
        return {}  # the cell is the benchmark's; C and N size the network only

    @classmethod
    def choices(cls, arch_options: Dict[str, Any]) -> List[Choice]:
        if arch_options:
            raise ValueError(f"expected no options, got {sorted(arch_options)}")
        return [Choice(label, OPS) for label in LABELS]

    @classmethod
    def build_search(cls, options, shape: Tuple[int, ...], num_classes: int,
                     rng: np.random.RandomState) -> NasBench201Net:
        alphas = [ArchParameter((len(OPS),)) for _ in EDGES]  # shared by every cell

        def mixed(k: int, channels: int) -> MixedOp:
            return MixedOp([candidate(n, channels, affine=False) for n in OPS], "full",
                           alpha=alphas[k], label=LABELS[k], names=OPS)

        return NasBench201Net(shape[0], num_classes, options.channels, options.cells,
                              mixed)

    @classmethod
    def build_train(cls, arch: Architecture, options, shape: Tuple[int, ...],
                    num_classes: int, rng: np.random.RandomState) -> NasBench201Net:
        def chosen(k: int, channels: int) -> Optional[Module]:
            name = arch.choices[LABELS[k]]
            return None if name == NONE else candidate(name, channels, affine=True)

        return NasBench201Net(shape[0], num_classes, options.channels, options.cells,
                              chosen)

    # --------------------------------------------------------------- notation
    @classmethod
    def to_native(cls, arch: Architecture) -> Dict[str, Any]:
        return {"arch_str": arch_str(arch.choices)}

    @classmethod
    def from_native(cls, data: Dict[str, Any], source: str) -> Architecture:
        unknown = sorted(set(data) - {"arch_str"})
        if unknown or "arch_str" not in data:
            raise ValueError(f"{source}: expected the key 'arch_str' (and optionally "
                             f"'space'), got {sorted(data)}")
        try:
            return Architecture(cls.name, {}, parse_arch_str(data["arch_str"]))
        except ValueError as e:
            raise ValueError(f"{source}: arch_str: {e}") from None

    @classmethod
    def from_text(cls, text: str) -> Optional[Architecture]:
        if not text.lstrip().startswith("|"):
            return None
        try:
            return Architecture(cls.name, {}, parse_arch_str(text))
        except ValueError as e:
            raise ValueError(f"architecture string: {e}") from None

    @classmethod
    def describe(cls, arch: Architecture) -> str:
        return arch_str(arch.choices)

    @classmethod
    def draw(cls, arch: Architecture, folder: str) -> List[str]:
        edges = [(str(j), str(i), arch.choices[edge_label(i, j)]) for i, j in EDGES]
        nodes = [("0", "input")] + [(str(n), str(n)) for n in range(1, NODES - 1)] \
            + [(str(NODES - 1), f"{NODES - 1} (output)")]
        return draw_graph("nasbench201_cell", nodes, edges,
                          folder, title=arch_str(arch.choices))
