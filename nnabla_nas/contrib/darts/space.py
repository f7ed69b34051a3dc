"""The DARTS search space, registered as ``darts`` for configs and the command line.

Its choices are the edges of the two cells, ``normal/node<i>/edge<j>`` and
``reduce/node<i>/edge<j>`` (the edge from state ``j`` to node ``i``; states 0 and 1
are the cell's inputs, state ``k >= 2`` is node ``k - 2``), each among
:data:`~.ops.PRIMITIVES`. An architecture keeps exactly two edges per node: the other
edges choose ``'none'``. Its options are ``num_nodes`` and the states each cell
concatenates (``normal_concat``, ``reduce_concat``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

import numpy as np

from ...config.fields import ConfigError, option
from ...visual.cells import draw_cells
from ..architecture import Architecture, Choice
from ..spaces import SEARCH_SPACES, Decision, SearchSpace, labelled_ops, log_probabilities
from .cells import edge_label
from .genotype import Genotype, num_edges
from .network import SearchNet, TrainNet
from .ops import PRIMITIVES

KINDS = ("normal", "reduce")
NONE = "none"
#: The candidates an edge that is kept may choose.
KEPT = tuple(name for name in PRIMITIVES if name != NONE)


@SEARCH_SPACES.register("darts")
class DartsSpace(SearchSpace):
    """DARTS cells (Liu et al., 2019): a supernet of MixedOps over eight candidates per
    edge, derived into two cells that a deeper network repeats."""

    name = "darts"
    smoke_options = dict(init_channels=2, num_cells=3, num_nodes=2, multiplier=2,
                         stem_multiplier=1)
    smoke_train_options = dict(init_channels=4, num_cells=3)

    @dataclass(frozen=True)
    class SearchConfig:
        """Size of the DARTS supernet (the paper: 16 channels, 8 cells)."""

        init_channels: int = option(8, "channels of the first cells", minimum=1,
                                    maximum=256)
        num_cells: int = option(5, "cells; reductions at 1/3 and 2/3 depth", minimum=3,
                                maximum=64)
        num_nodes: int = option(4, "intermediate nodes per cell", minimum=1, maximum=16)
        multiplier: int = option(4, "last nodes concatenated into a cell's output",
                                 minimum=1, maximum=16)
        stem_multiplier: int = option(3, "stem channels per init channel", minimum=1,
                                      maximum=16)
        shared: bool = option(True, "share alphas between the cells of each kind, as "
                                    "in the paper")

        def __post_init__(self):
            if self.multiplier > self.num_nodes:
                raise ConfigError(f"multiplier: expected at most num_nodes="
                                  f"{self.num_nodes}, got {self.multiplier}")

    @dataclass(frozen=True)
    class TrainConfig:
        """Size and regularization of the retrained network (the paper: 36 channels,
        20 cells, auxiliary weight 0.4, drop path 0.2)."""

        init_channels: int = option(16, "channels of the first cells", minimum=1,
                                    maximum=1024)
        num_cells: int = option(8, "cells; reductions at 1/3 and 2/3 depth", minimum=3,
                                maximum=128)
        stem_multiplier: int = option(3, "stem channels per init channel", minimum=1,
                                      maximum=16)
        auxiliary: bool = option(True, "auxiliary classifier at 2/3 depth")
        auxiliary_weight: float = option(0.4, "weight of the auxiliary loss", minimum=0)
        drop_path_prob: float = option(0.2, "final drop-path probability (ramped up "
                                            "linearly)", minimum=0, maximum=1,
                                       exclusive_maximum=True)

    # ---------------------------------------------------------------- decisions
    @classmethod
    def arch_options(cls, options) -> Dict[str, Any]:
        n = options.num_nodes
        concat = list(range(n + 2 - options.multiplier, n + 2))
        return {"num_nodes": n, "normal_concat": concat, "reduce_concat": list(concat)}

    @classmethod
    def choices(cls, arch_options: Dict[str, Any]) -> List[Choice]:
        n = arch_options["num_nodes"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"num_nodes: expected a positive int, got {n!r}")
        return [Choice(edge_label(kind, node, j), PRIMITIVES)
                for kind in KINDS for node in range(n) for j in range(node + 2)]

    @classmethod
    def check(cls, arch: Architecture, source: str = "architecture") -> None:
        """Every node keeps exactly two input edges (the others choose ``'none'``), and
        the concatenated states exist."""
        genotype_of(arch, source)

    @classmethod
    def sample(cls, arch_options: Dict[str, Any], rng: np.random.RandomState
               ) -> Architecture:
        """Uniform over the architectures: per node two distinct inputs, each with a
        uniform candidate other than ``'none'``."""
        choices = {c.label: NONE for c in cls.choices(arch_options)}
        for kind in KINDS:
            for node in range(arch_options["num_nodes"]):
                for j in rng.choice(node + 2, size=2, replace=False):
                    choices[edge_label(kind, node, int(j))] = KEPT[rng.randint(len(KEPT))]
        return Architecture(cls.name, arch_options, choices)

    @classmethod
    def size(cls, arch_options: Dict[str, Any]) -> int:
        cls.choices(arch_options)  # validates the options
        per_cell = math.prod(math.comb(node + 2, 2) * len(KEPT) ** 2
                             for node in range(arch_options["num_nodes"]))
        return per_cell ** len(KINDS)

    # --------------------------------------------------------------- derivation
    @classmethod
    def most_probable(cls, model: SearchNet, options) -> Architecture:
        """The DARTS rule (:func:`~.genotype.derive_cell`): per node the two strongest
        edges, each with its strongest candidate other than ``'none'``."""
        return arch_of(model.genotype(), cls.arch_options(options))

    @classmethod
    def decisions(cls, model: SearchNet, options) -> List[Decision]:
        """One per edge the DARTS rule keeps: its MixedOps in every cell of the kind,
        scored by the kind's alphas; ``'none'`` is never allowed."""
        groups = labelled_ops(model)
        allowed = tuple(k for k, name in enumerate(PRIMITIVES) if name != NONE)
        out = []
        arch = cls.most_probable(model, options)
        for kind in KINDS:
            alpha = model.alpha_array(kind)
            for node in range(options.num_nodes):
                for j in range(node + 2):
                    label = edge_label(kind, node, j)
                    if arch.choices[label] == NONE:
                        continue
                    edge = num_edges(node) + j  # the edges of earlier nodes come first
                    out.append(Decision(label, tuple(groups[label]),
                                        log_probabilities(alpha[edge]), allowed,
                                        PRIMITIVES.index(arch.choices[label]), PRIMITIVES))
        return out

    # ------------------------------------------------------------------ networks
    @classmethod
    def build_search(cls, options, shape: Tuple[int, ...], num_classes: int,
                     rng: np.random.RandomState) -> SearchNet:
        return SearchNet(shape[0], options.init_channels, options.num_cells, num_classes,
                         num_nodes=options.num_nodes, multiplier=options.multiplier,
                         stem_multiplier=options.stem_multiplier, mode="full",
                         shared=options.shared, rng=rng)

    @classmethod
    def build_train(cls, arch: Architecture, options, shape: Tuple[int, ...],
                    num_classes: int, rng: np.random.RandomState) -> TrainNet:
        return TrainNet(genotype_of(arch), shape[0], options.init_channels,
                        options.num_cells, num_classes, auxiliary=options.auxiliary,
                        auxiliary_weight=options.auxiliary_weight,
                        stem_multiplier=options.stem_multiplier,
                        drop_path_prob=options.drop_path_prob)

    # ------------------------------------------------------------- presentation
    @classmethod
    def draw(cls, arch: Architecture, folder: str) -> List[str]:
        genotype = genotype_of(arch)
        return draw_cells({kind: (getattr(genotype, kind), getattr(genotype, f"{kind}_concat"))
                           for kind in KINDS}, folder)

    @classmethod
    def describe(cls, arch: Architecture) -> str:
        return str(genotype_of(arch))

    @classmethod
    def from_legacy(cls, data: Any, source: str) -> Architecture:
        """An ``arch.json`` of version 1 (a :class:`~nnabla_nas.contrib.darts.genotype.Genotype`)."""
        genotype = Genotype.from_dict(data, source)
        return arch_of(genotype, source=source)


def genotype_of(arch: Architecture, source: str = "architecture") -> Genotype:
    """The :class:`~.genotype.Genotype` of a DARTS architecture: per node its two kept
    edges, in input order.

    Raises:
        ValueError: naming ``source`` and the node that does not keep two edges.
    """
    n, cells = arch.options["num_nodes"], {}
    for kind in KINDS:
        pairs = []
        for node in range(n):
            kept = [(arch.choices[edge_label(kind, node, j)], j) for j in range(node + 2)
                    if arch.choices[edge_label(kind, node, j)] != NONE]
            if len(kept) != 2:
                raise ValueError(f"{source}: choices.{kind}/node{node}: expected exactly "
                                 f"two edges other than 'none', got {len(kept)} "
                                 f"({', '.join(f'edge{j}={op}' for op, j in kept) or '-'})")
            pairs.extend(kept)
        cells[kind] = pairs
    try:
        return Genotype(cells["normal"], arch.options["normal_concat"], cells["reduce"],
                        arch.options["reduce_concat"])
    except ValueError as e:
        raise ValueError(f"{source}: options: {e}") from None


def arch_of(genotype: Genotype, arch_options: Dict[str, Any] = None,
            source: str = "genotype") -> Architecture:
    """The architecture of a :class:`~.genotype.Genotype` (with the options
    ``arch_options``, by default those the genotype implies).

    Raises:
        ValueError: naming ``source`` for a node that takes one input twice.
    """
    n = len(genotype.normal) // 2
    if arch_options is None:
        arch_options = {"num_nodes": n, "normal_concat": list(genotype.normal_concat),
                        "reduce_concat": list(genotype.reduce_concat)}
    choices = {c.label: NONE for c in DartsSpace.choices(arch_options)}
    for kind in KINDS:
        cell = getattr(genotype, kind)
        for node in range(len(cell) // 2):
            (op0, j0), (op1, j1) = cell[2 * node:2 * node + 2]
            if j0 == j1:
                raise ValueError(f"{source}: {kind}[{2 * node + 1}]: node {node} takes "
                                 f"input {j0} twice, which this space cannot express")
            choices[edge_label(kind, node, j0)] = op0
            choices[edge_label(kind, node, j1)] = op1
    return Architecture(DartsSpace.name, arch_options, choices)
