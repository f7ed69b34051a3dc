"""NAS-Bench-101 (Ying et al., 2019), registered as ``nasbench101``.

A cell is a DAG of 7 vertices given as NASBench's ``ModelSpec`` gives it: an
upper-triangular adjacency matrix and one op per vertex, ``input``, then five of
:data:`OPS`, then ``output``; at most 9 edges. Vertices not on a path from the input to
the output are pruned. The channels are those of the original: the output
concatenates the vertices that feed it, which share its channels (the first ones one
more when they do not divide evenly); every other vertex has the largest channels of
the vertices it feeds, an input into a smaller vertex is truncated to its channels;
the cell's input reaches a vertex through a 1x1 convolution-BN-ReLU projection (and is
added to the output by one, when they are linked). The network: a 3x3
convolution-BN-ReLU stem with 128 channels, 3 stacks of 3 cells, a 2x2 max pooling
and doubled channels before every stack but the first, global average pooling and a
linear classifier. Its parameters are those of the PyTorch port NASBench-PyTorch
(``nasbench_pytorch/model``) with its defaults, convolutions without bias, affine
batch normalizations (that port's current code adds one unused scalar per
placeholder module, which this count leaves out, as the port did before July 2022
and as the original TensorFlow code does).

The choices are the 21 possible edges ``edge/<i>-<j>`` (``'0'`` or ``'1'``) and the
five ops ``vertex<k>``; an ``arch.json`` may hold ``"matrix"`` and ``"ops"`` instead
(of 2 to 7 vertices), and every one written holds them too. The supernet, for the
gradient searchers (a simplification: the benchmark has none): every vertex has the
cell's channels, the cell's input is projected to them once, every edge is a choice
between nothing and its link, the output sums its links, and all cells share the
alphas.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Dict, List, Sequence, Tuple

import nnabla.functions as F
import numpy as np

from .. import module as Mo
from ..config.fields import option
from ..module import ArchParameter, MixedOp, Module
from ..visual.cells import draw_graph
from .architecture import Architecture, Choice
from .model import Model
from .spaces import SEARCH_SPACES, Decision, SearchSpace

OPS = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
INPUT, OUTPUT = "input", "output"
VERTICES, MAX_EDGES = 7, 9
PAIRS = tuple((i, j) for j in range(1, VERTICES) for i in range(j))
OFF, ON = "0", "1"


def edge_label(i: int, j: int) -> str:
    """The label of the edge from vertex ``i`` to vertex ``j``: ``edge/0-3``."""
    return f"edge/{i}-{j}"


def vertex_label(k: int) -> str:
    """The label of the op of vertex ``k`` (1..5): ``vertex3``."""
    return f"vertex{k}"


# ------------------------------------------------------------------------- specs
def spec_of(arch: Architecture) -> Tuple[np.ndarray, List[str]]:
    """The 7 x 7 adjacency matrix and the ops of an architecture's choices."""
    matrix = np.zeros((VERTICES, VERTICES), dtype=np.int64)
    for i, j in PAIRS:
        matrix[i, j] = arch.choices[edge_label(i, j)] == ON
    ops = [INPUT] + [arch.choices[vertex_label(k)] for k in range(1, VERTICES - 1)]
    return matrix, ops + [OUTPUT]


def on_a_path(matrix: np.ndarray) -> List[int]:
    """The vertices on a path from the input (0) to the output (the last)."""
    n = len(matrix)
    forward, backward = {0}, {n - 1}
    for v in range(1, n):
        if any(matrix[u, v] and u in forward for u in range(v)):
            forward.add(v)
    for v in range(n - 2, -1, -1):
        if any(matrix[v, w] and w in backward for w in range(v + 1, n)):
            backward.add(v)
    return sorted(forward & backward)


def check_spec(matrix: np.ndarray) -> None:
    """At most :data:`MAX_EDGES` edges and a path from input to output.

    Raises:
        ValueError: naming which rule fails.
    """
    edges = int(np.sum(matrix))
    if edges > MAX_EDGES:
        raise ValueError(f"{edges} edges, at most {MAX_EDGES}")
    if len(on_a_path(matrix)) < 2:
        raise ValueError("no path from input to output")


def prune(matrix: np.ndarray, ops: Sequence[str]) -> Tuple[np.ndarray, List[str]]:
    """The spec without the vertices off every input-to-output path."""
    keep = on_a_path(matrix)
    return matrix[np.ix_(keep, keep)], [ops[v] for v in keep]


def vertex_channels(in_channels: int, out_channels: int, matrix: np.ndarray) -> List[int]:
    """Channels of every vertex of a pruned spec: the output's are shared among the
    vertices feeding it (the first ones get one more while the division leaves a
    remainder); the others take the largest of the vertices they feed."""
    n = len(matrix)
    channels = [in_channels] + [0] * (n - 2) + [out_channels]
    feeding = [v for v in range(1, n - 1) if matrix[v, n - 1]]
    if feeding:
        share, extra = divmod(out_channels, len(feeding))
        for k, v in enumerate(feeding):
            channels[v] = share + (k < extra)
    for v in range(n - 3, 0, -1):
        if not matrix[v, n - 1]:
            channels[v] = max(channels[w] for w in range(v + 1, n - 1) if matrix[v, w])
    return channels


def valid_masks() -> np.ndarray:
    """Whether each of the 2^21 7 x 7 upper-triangular matrices has at most 9 edges and
    a path from input to output, all at once (bit ``k`` of the index is edge
    ``PAIRS[k]``)."""
    masks = np.arange(1 << len(PAIRS), dtype=np.int32)
    bit = {pair: ((masks >> k) & 1).astype(np.uint8) for k, pair in enumerate(PAIRS)}
    edges = sum(b.astype(np.int8) for b in bit.values())
    reach = [np.ones(len(masks), dtype=np.uint8)]  # reachable from the input
    for j in range(1, VERTICES):
        reach.append(np.bitwise_or.reduce([reach[i] & bit[(i, j)] for i in range(j)]))
    return (edges <= MAX_EDGES) & (reach[-1] == 1)


@lru_cache(maxsize=1)
def count_valid_matrices() -> int:
    """The number of valid matrices (:func:`valid_masks`)."""
    return int(np.sum(valid_masks()))


# ------------------------------------------------------------------------- networks
def conv_bn_relu(in_channels: int, out_channels: int, kernel: int) -> Mo.Sequential:
    """Convolution (no bias), batch normalization, ReLU."""
    return Mo.Sequential(Mo.Conv(in_channels, out_channels, (kernel, kernel),
                                 pad=(kernel // 2, kernel // 2), with_bias=False),
                         Mo.BatchNormalization(out_channels, 4), Mo.ReLU())


def vertex_op(name: str, channels: int) -> Module:
    """The op ``name`` of a vertex with ``channels`` in and out."""
    if name == "maxpool3x3":
        return Mo.MaxPool((3, 3), stride=(1, 1), pad=(1, 1))
    kernel = {"conv3x3-bn-relu": 3, "conv1x1-bn-relu": 1}[name]
    return conv_bn_relu(channels, channels, kernel)


def _truncated(x, channels: int):
    return x if x.shape[1] == channels else F.slice(
        x, (0, 0, 0, 0), (x.shape[0], channels) + tuple(x.shape[2:]))


def _sum(terms: List[Any]):
    return terms[0] if len(terms) == 1 else F.add_n(*terms)


class Cell(Module):
    """The cell of a pruned spec, from ``in_channels`` to ``out_channels``."""

    def __init__(self, matrix: np.ndarray, ops: Sequence[str], in_channels: int,
                 out_channels: int):
        self._matrix = np.asarray(matrix)
        n = len(matrix)
        self._channels = vertex_channels(in_channels, out_channels, self._matrix)
        self.ops = Mo.ModuleList([vertex_op(ops[v], self._channels[v])
                                  for v in range(1, n - 1)])
        self._projected = [v for v in range(1, n) if self._matrix[0, v]]
        self.projections = Mo.ModuleList([conv_bn_relu(in_channels, self._channels[v], 1)
                                          for v in self._projected])

    def call(self, input):
        m, n = self._matrix, len(self._matrix)
        projected = {v: p(input) for v, p in zip(self._projected, self.projections)}
        states = [input]
        for t in range(1, n - 1):
            terms = [_truncated(states[s], self._channels[t]) for s in range(1, t)
                     if m[s, t]] + ([projected[t]] if t in projected else [])
            states.append(self.ops[t - 1](_sum(terms)))
        feeding = [states[v] for v in range(1, n - 1) if m[v, n - 1]]
        out = (feeding[0] if len(feeding) == 1 else F.concatenate(*feeding, axis=1)) \
            if feeding else None
        if n - 1 in projected:
            out = projected[n - 1] if out is None else out + projected[n - 1]
        return out


class SearchCell(Module):
    """The supernet's cell: every edge a MixedOp between nothing and its link, every
    vertex one among :data:`OPS`, every vertex of ``channels``; ``alphas`` by label."""

    def __init__(self, in_channels: int, channels: int, alphas: Dict[str, Any]):
        def mixed(label, ops, names):
            return MixedOp(ops, "full", alpha=alphas[label], label=label, names=names)

        self.projection = conv_bn_relu(in_channels, channels, 1)
        self.edges = Mo.ModuleList([mixed(edge_label(i, j), [Mo.Zero(), Mo.Identity()],
                                          (OFF, ON)) for i, j in PAIRS])
        self.ops = Mo.ModuleList([mixed(vertex_label(k), [vertex_op(n, channels)
                                                          for n in OPS], OPS)
                                  for k in range(1, VERTICES - 1)])

    def call(self, input):
        states, edges = [self.projection(input)], dict(zip(PAIRS, self.edges))
        for j in range(1, VERTICES):
            x = _sum([edges[(i, j)](states[i]) for i in range(j)])
            states.append(self.ops[j - 1](x) if j < VERTICES - 1 else x)
        return states[-1]


class NasBench101Net(Model):
    """Stem, stacks of cells (``cell(in_channels, out_channels)`` makes one) with max
    pooling between them, global pooling and a classifier."""

    def __init__(self, in_channels: int, num_classes: int, stem_channels: int,
                 stacks: int, cells: int, cell):
        layers, c = [conv_bn_relu(in_channels, stem_channels, 3)], stem_channels
        prev = c
        for s in range(stacks):
            if s:
                layers.append(Mo.MaxPool((2, 2), stride=(2, 2)))
                c *= 2
            for _ in range(cells):
                layers.append(cell(prev, c))
                prev = c
        self.features = Mo.Sequential(*layers, Mo.GlobalAvgPool())
        self.classifier = Mo.Linear(c, num_classes)

    def call(self, input):
        return self.classifier(self.features(input))


def _stem(default: int) -> Any:
    return option(default, "channels of the stem; each stack after the first doubles "
                           "them", minimum=1, maximum=1024)


def _stacks() -> Any:
    return option(3, "stacks of cells, a 2x2 max pooling before each but the first",
                  minimum=1, maximum=6)


def _cells() -> Any:
    return option(3, "cells per stack", minimum=1, maximum=32)


@SEARCH_SPACES.register("nasbench101")
class NasBench101Space(SearchSpace):
    """The NAS-Bench-101 cell in the benchmark's network."""

    name = "nasbench101"
    smoke_options: Dict[str, Any] = {"stem_channels": 2, "cells": 1}
    smoke_train_options: Dict[str, Any] = {"stem_channels": 3, "cells": 1}
    native_keys = ("matrix", "ops")

    @dataclass(frozen=True)
    class SearchConfig:
        """The supernet (not the benchmark's: it has none)."""

        stem_channels: int = _stem(16)
        stacks: int = _stacks()
        cells: int = _cells()

    @dataclass(frozen=True)
    class TrainConfig:
        """The network trained from a cell (the benchmark's: 128, 3, 3)."""

        stem_channels: int = _stem(128)
        stacks: int = _stacks()
        cells: int = _cells()

    @classmethod
    def arch_options(cls, options) -> Dict[str, Any]:
        return {}

    @classmethod
    def choices(cls, arch_options: Dict[str, Any]) -> List[Choice]:
        if arch_options:
            raise ValueError(f"expected no options, got {sorted(arch_options)}")
        return [Choice(edge_label(i, j), (OFF, ON)) for i, j in PAIRS] + [
            Choice(vertex_label(k), OPS) for k in range(1, VERTICES - 1)]

    @classmethod
    def check(cls, arch: Architecture, source: str = "architecture") -> None:
        try:
            check_spec(spec_of(arch)[0])
        except ValueError as e:
            raise ValueError(f"{source}: choices: {e}") from None

    @classmethod
    def size(cls, arch_options: Dict[str, Any]) -> int:
        """Valid labelled specs (before pruning and isomorphism, which leave the
        benchmark's 423,624 cells)."""
        cls.choices(arch_options)
        return count_valid_matrices() * len(OPS) ** (VERTICES - 2)

    @classmethod
    def most_probable(cls, model: Model, options) -> Architecture:
        """Each vertex's strongest op; the edges the alphas prefer on, strongest
        first, at most 9, after the strongest input-to-output path."""
        return Architecture(cls.name, cls.arch_options(options), {
            d.name: d.candidates[d.choice] for d in cls.decisions(model, options)})

    @classmethod
    def decisions(cls, model: Model, options) -> List[Decision]:
        """One per label, scored by its alphas; the edges chosen as
        :meth:`most_probable` says."""
        d = {x.name: x for x in super().decisions(model, options)}
        gain = {p: d[edge_label(*p)].scores[1] - d[edge_label(*p)].scores[0] for p in PAIRS}
        best = {0: (0.0, [])}  # the path of largest summed gain to every vertex
        for j in range(1, VERTICES):
            best[j] = max(((best[i][0] + gain[(i, j)], best[i][1] + [(i, j)])
                           for i in range(j)), key=lambda t: t[0])
        kept = list(best[VERTICES - 1][1])
        kept += [p for p in sorted(PAIRS, key=lambda p: -gain[p])
                 if gain[p] > 0 and p not in kept][:MAX_EDGES - len(kept)]
        for p in PAIRS:
            d[edge_label(*p)] = dataclasses.replace(d[edge_label(*p)],
                                                    choice=int(p in kept))
        return list(d.values())

    @classmethod
    def build_search(cls, options, shape: Tuple[int, ...], num_classes: int,
                     rng: np.random.RandomState) -> NasBench101Net:
        alphas = {c.label: ArchParameter((len(c.candidates),))
                  for c in cls.choices(cls.arch_options(options))}
        return NasBench101Net(shape[0], num_classes, options.stem_channels,
                              options.stacks, options.cells,
                              lambda cin, cout: SearchCell(cin, cout, alphas))

    @classmethod
    def build_train(cls, arch: Architecture, options, shape: Tuple[int, ...],
                    num_classes: int, rng: np.random.RandomState) -> NasBench101Net:
        matrix, ops = prune(*spec_of(arch))
        return NasBench101Net(shape[0], num_classes, options.stem_channels,
                              options.stacks, options.cells,
                              lambda cin, cout: Cell(matrix, ops, cin, cout))

    # --------------------------------------------------------------- notation
    @classmethod
    def to_native(cls, arch: Architecture) -> Dict[str, Any]:
        matrix, ops = spec_of(arch)
        return {"matrix": matrix.tolist(), "ops": ops}

    @classmethod
    def from_native(cls, data: Dict[str, Any], source: str) -> Architecture:
        if sorted(data) != ["matrix", "ops"]:
            raise ValueError(f"{source}: expected the keys 'matrix' and 'ops' (and "
                             f"optionally 'space'), got {sorted(data)}")
        try:
            return arch_of_spec(data["matrix"], data["ops"])
        except ValueError as e:
            raise ValueError(f"{source}: {e}") from None

    @classmethod
    def describe(cls, arch: Architecture) -> str:
        matrix, ops = prune(*spec_of(arch))
        edges = " ".join(f"{i}-{j}" for i in range(len(matrix))
                         for j in range(len(matrix)) if matrix[i, j])
        return f"ops {','.join(ops[1:-1]) or '-'}; edges {edges}"

    @classmethod
    def draw(cls, arch: Architecture, folder: str) -> List[str]:
        matrix, ops = prune(*spec_of(arch))
        n = len(matrix)
        nodes = [(str(v), ops[v]) for v in range(n)]
        edges = [(str(i), str(j), None) for i in range(n) for j in range(n) if matrix[i, j]]
        return draw_graph("nasbench101_cell", nodes, edges, folder,
                          title=cls.describe(arch))


def arch_of_spec(matrix: Any, ops: Any) -> Architecture:
    """The architecture of a ``ModelSpec``'s matrix and ops (2 to 7 vertices; a
    smaller one is placed in the first vertices and the output of the 7).

    Raises:
        ValueError: naming the key and what is wrong (shape, an unknown op, an edge
            making a cycle, more than 9 edges, no path from input to output).
    """
    if not isinstance(ops, list) or not 2 <= len(ops) <= VERTICES:
        raise ValueError(f"ops: expected a list of 2 to {VERTICES} ops, got {ops!r}")
    n = len(ops)
    if not (isinstance(matrix, list) and len(matrix) == n and all(
            isinstance(r, list) and len(r) == n and all(x in (0, 1) and not isinstance(
                x, float) for x in r) for r in matrix)):
        raise ValueError(f"matrix: expected {n} rows of {n} zeros and ones (one per op)")
    if ops[0] != INPUT or ops[-1] != OUTPUT:
        raise ValueError(f"ops: expected {INPUT!r} first and {OUTPUT!r} last, got "
                         f"{ops[0]!r} and {ops[-1]!r}")
    for k, op in enumerate(ops[1:-1], start=1):
        if op not in OPS:
            raise ValueError(f"ops[{k}]: unknown op {op!r}; expected one of "
                             f"{', '.join(OPS)}")
    m = np.array(matrix, dtype=np.int64)
    for i in range(n):
        for j in range(i + 1):
            if m[i, j]:
                raise ValueError(f"matrix[{i}][{j}]: an edge {i}->{j} "
                                 f"{'onto itself' if i == j else 'backwards'} makes a "
                                 "cycle (the matrix must be upper triangular)")
    try:
        check_spec(m)
    except ValueError as e:
        raise ValueError(f"matrix: {e}") from None
    place = list(range(n - 1)) + [VERTICES - 1]  # vertex v of the spec is place[v]
    choices = {edge_label(i, j): OFF for i, j in PAIRS}
    choices.update({edge_label(place[i], place[j]): ON for i in range(n)
                    for j in range(n) if m[i, j]})
    padded = list(ops[1:-1]) + [OPS[0]] * (VERTICES - n)  # unlinked: pruned
    choices.update({vertex_label(k): padded[k - 1] for k in range(1, VERTICES - 1)})
    return Architecture(NasBench101Space.name, {}, choices)


__all__ = ["NasBench101Space", "NasBench101Net", "Cell", "arch_of_spec", "spec_of",
           "prune", "vertex_channels", "check_spec"]
