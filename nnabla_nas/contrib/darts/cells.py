"""Cells of the DARTS networks: the searchable `SearchCell`, the discrete `TrainCell`,
drop path and the auxiliary head of the train network."""
from __future__ import annotations

import math
from typing import Callable, Optional, Sequence, Set, Tuple

import nnabla.functions as F
import numpy as np

from ... import module as Mo
from ...module import ArchParameter, Module, MixedOp, Parameter
from ...module.misc import graph_seed
from ...module import checks as C
from .genotype import Cell, num_edges
from .ops import CANDIDATES, PRIMITIVES, FactorizedReduce, ReLUConvBN


def reduction_indices(num_cells: int) -> Set[int]:
    """The reduction cells of a network of ``num_cells`` cells: at 1/3 and 2/3 depth."""
    return {num_cells // 3, 2 * num_cells // 3}


def _preprocess(prev_prev_channels: int, prev_channels: int, channels: int,
                reduction_prev: bool, affine: bool) -> Tuple[Module, Module]:
    """Bring both cell inputs to ``channels`` and the same size: the older one is
    halved by a :class:`FactorizedReduce` when the previous cell was a reduction."""
    pre0 = (FactorizedReduce(prev_prev_channels, channels, affine) if reduction_prev
            else ReLUConvBN(prev_prev_channels, channels, 1, 1, 0, affine))
    return pre0, ReLUConvBN(prev_channels, channels, 1, 1, 0, affine)


def concat_channels(states):
    """The states concatenated along channels (one state is returned as it is: NNabla's
    concatenate needs two inputs)."""
    return states[0] if len(states) == 1 else F.concatenate(*states, axis=1)


def drop_path(x, drop_prob: float):
    """Zero whole samples with probability ``drop_prob`` and scale the kept ones by
    ``1 / (1 - drop_prob)`` (Larsson et al., 2017), so the expectation is unchanged.

    A new per-sample Bernoulli mask is drawn at every forward pass.

    Args:
        x: The batch, samples along axis 0.
        drop_prob: Probability of dropping a sample, in [0, 1).
    """
    keep = 1.0 - C.probability("drop_path", "drop_prob", drop_prob)
    u = F.rand(shape=(x.shape[0],) + (1,) * (x.ndim - 1), seed=graph_seed())
    return x * F.mul_scalar(F.less_scalar(u, keep), 1.0 / keep)


def edge_label(kind: str, node: int, input_index: int) -> str:
    """The label of the choice on the edge from state ``input_index`` to ``node`` in
    the cells of ``kind`` (``'normal'`` or ``'reduce'``): ``normal/node2/edge0``."""
    return f"{kind}/node{node}/edge{input_index}"


class SearchCell(Module):
    """A cell of the search network: every node sums a :class:`MixedOp` over every
    earlier state.

    Args:
        prev_prev_channels: Channels of the output of the cell before the previous one.
        prev_channels: Channels of the output of the previous cell.
        channels: Channels of every node.
        reduction: Halve the spatial size (edges from the cell inputs have stride 2).
        reduction_prev: The previous cell was a reduction cell.
        num_nodes: Intermediate nodes.
        multiplier: The output concatenates the last ``multiplier`` nodes.
        mode: The mode of every MixedOp.
        alphas: One architecture parameter per edge to share (shape
            ``(len(PRIMITIVES),)``), or None for parameters of the cell's own, drawn by
            ``alpha_init``.
        alpha_init: Called as ``alpha_init(shape=...)``, returns initial alphas (used
            when ``alphas`` is None; default: zeros).

    The edges are the children ``edges/0 ..``: node 0's inputs 0 and 1, node 1's
    inputs 0, 1 and 2, and so on.
    """

    def __init__(self, prev_prev_channels: int, prev_channels: int, channels: int,
                 reduction: bool, reduction_prev: bool, num_nodes: int, multiplier: int,
                 mode: str, alphas: Optional[Sequence[Parameter]] = None,
                 alpha_init: Optional[Callable[..., np.ndarray]] = None):
        if alphas is not None and len(alphas) != num_edges(num_nodes):
            raise ValueError(f"{type(self).__name__}: alphas: expected "
                             f"{num_edges(num_nodes)} parameters (one per edge of "
                             f"{num_nodes} nodes), got {len(alphas)}")
        self.reduction = reduction
        self.kind = "reduce" if reduction else "normal"
        self._num_nodes = num_nodes
        self._multiplier = multiplier
        self._channels = channels
        self.preprocess0, self.preprocess1 = _preprocess(
            prev_prev_channels, prev_channels, channels, reduction_prev, affine=False)
        edges = []
        for node in range(num_nodes):
            for j in range(node + 2):
                stride = 2 if reduction and j < 2 else 1
                ops = [CANDIDATES.get(name)(channels, stride, False) for name in PRIMITIVES]
                alpha = (alphas[len(edges)] if alphas is not None else
                         ArchParameter((len(PRIMITIVES),), initializer=alpha_init))
                edges.append(MixedOp(ops, mode=mode, alpha=alpha, names=PRIMITIVES,
                                     label=edge_label(self.kind, node, j)))
        self.edges = Mo.ModuleList(edges)

    @property
    def out_channels(self) -> int:
        """Channels of the cell's output (``multiplier`` nodes concatenated)."""
        return self._multiplier * self._channels

    def call(self, s0, s1):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        first = 0
        for _ in range(self._num_nodes):
            outs = [self.edges[first + j](h) for j, h in enumerate(states)]
            first += len(states)
            states.append(F.add_n(*outs))
        return concat_channels(states[-self._multiplier:])

    def extra_repr(self) -> str:
        return (f"reduction={self.reduction}, num_nodes={self._num_nodes}, "
                f"multiplier={self._multiplier}, edges={num_edges(self._num_nodes)}")


class TrainCell(Module):
    """A cell of the train network, built from one cell of a genotype.

    Args:
        cell: ``(op_name, input_index)`` pairs, two per node.
        concat: The states concatenated into the output.
        prev_prev_channels: Channels of the output of the cell before the previous one.
        prev_channels: Channels of the output of the previous cell.
        channels: Channels of every node.
        reduction: Halve the spatial size (ops on the cell inputs have stride 2).
        reduction_prev: The previous cell was a reduction cell.
    """

    def __init__(self, cell: Cell, concat: Sequence[int], prev_prev_channels: int,
                 prev_channels: int, channels: int, reduction: bool,
                 reduction_prev: bool):
        self.reduction = reduction
        self._cell = tuple(cell)
        self._concat = tuple(concat)
        self._channels = channels
        self.preprocess0, self.preprocess1 = _preprocess(
            prev_prev_channels, prev_channels, channels, reduction_prev, affine=True)
        self.ops = Mo.ModuleList([
            CANDIDATES.get(name)(channels, 2 if reduction and index < 2 else 1, True)
            for name, index in self._cell])

    @property
    def multiplier(self) -> int:
        """How many states the output concatenates."""
        return len(self._concat)

    @property
    def out_channels(self) -> int:
        """Channels of the cell's output (``multiplier`` states concatenated)."""
        return self.multiplier * self._channels

    def call(self, s0, s1, drop_prob: float = 0.0):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in range(len(self._cell) // 2):
            outs = []
            for k in (2 * node, 2 * node + 1):
                op = self.ops[k]
                h = op(states[self._cell[k][1]])
                if self.training and drop_prob > 0 and not isinstance(op, Mo.Identity):
                    h = drop_path(h, drop_prob)
                outs.append(h)
            states.append(outs[0] + outs[1])
        return concat_channels([states[i] for i in self._concat])

    def extra_repr(self) -> str:
        return f"reduction={self.reduction}, concat={list(self._concat)}"


def aux_pooling(size: int) -> Tuple[int, int]:
    """``(kernel, stride)`` of the auxiliary head's pooling along an axis of ``size``.

    The paper pools its 8x8 maps with a 5x5 window of stride 3 to 2x2, which the head's
    2x2 convolution turns into 1x1. To work for any map, the window keeps that 2-pixel
    output: stride ``ceil(3 size / 8)`` and kernel ``size - stride``, which is the
    paper's 5 and 3 for ``size == 8`` (then ``(size - kernel) // stride + 1 == 2`` for
    every ``size >= 2``; :class:`AuxiliaryHead` repeats a 1-pixel axis to 2 pixels).
    """
    if not C.positive_int("aux_pooling", "size", size) >= 2:
        raise ValueError(f"aux_pooling: size: expected an int >= 2, got {size!r}")
    stride = math.ceil(3 * size / 8)
    return size - stride, stride


class AuxiliaryHead(Module):
    """The auxiliary classifier of the train network (Szegedy et al., 2016; DARTS
    CIFAR-10 setting): ReLU, average pooling to 2x2 (see :func:`aux_pooling`; an axis
    of 1 pixel is first repeated to 2), 1x1 convolution to 128 channels, BN, ReLU, 2x2
    convolution to 768 channels, BN, ReLU, and a linear classifier.

    Args:
        channels: Input channels.
        num_classes: Output classes.
    """

    def __init__(self, channels: int, num_classes: int):
        self._settings = f"channels={channels}, num_classes={num_classes}"
        self.relu = Mo.ReLU()
        self.features = Mo.Sequential(
            Mo.Conv(channels, 128, (1, 1), with_bias=False),
            Mo.BatchNormalization(128, 4), Mo.ReLU(),
            Mo.Conv(128, 768, (2, 2), with_bias=False),
            Mo.BatchNormalization(768, 4), Mo.ReLU())
        self.classifier = Mo.Linear(768, num_classes)

    def call(self, input):
        C.variable(type(self).__name__, input, ndim=4)
        x = self.relu(input)
        if 1 in x.shape[2:]:
            x = F.broadcast(x, x.shape[:2] + tuple(max(s, 2) for s in x.shape[2:]))
        kernel, stride = zip(*(aux_pooling(s) for s in x.shape[2:]))
        x = F.average_pooling(x, kernel, stride, ignore_border=True, pad=(0, 0),
                              including_pad=False)
        return self.classifier(self.features(x))  # features are (N, 768, 1, 1)

    def extra_repr(self) -> str:
        return self._settings
