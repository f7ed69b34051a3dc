"""The DARTS search space, registered as ``darts`` for configs and the command line."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ...config.fields import option
from ...visual.cells import draw_genotype
from ..spaces import SEARCH_SPACES, Decision, SearchSpace, log_probabilities
from .genotype import Genotype, load_genotype, num_edges, save_genotype
from .ops import PRIMITIVES
from .network import SearchNet, TrainNet


@SEARCH_SPACES.register("darts")
class DartsSpace(SearchSpace):
    """DARTS cells (Liu et al., 2019): a supernet of MixedOps over eight candidates per
    edge, derived into two cells that a deeper network repeats."""

    name = "darts"

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
                from ...config.fields import ConfigError
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

    @classmethod
    def build_search(cls, options, shape: Tuple[int, ...], num_classes: int,
                     rng: np.random.RandomState) -> SearchNet:
        return SearchNet(shape[0], options.init_channels, options.num_cells, num_classes,
                         num_nodes=options.num_nodes, multiplier=options.multiplier,
                         stem_multiplier=options.stem_multiplier, mode="full",
                         shared=options.shared, rng=rng)

    @classmethod
    def derive(cls, model: SearchNet, choices: Optional[Sequence[int]] = None) -> Genotype:
        genotype = model.genotype()
        if choices is None:
            return genotype
        names = iter(PRIMITIVES[int(k)] for k in choices)
        cells = {kind: tuple((next(names), j) for _, j in getattr(genotype, kind))
                 for kind in ("normal", "reduce")}
        return Genotype(cells["normal"], genotype.normal_concat, cells["reduce"],
                        genotype.reduce_concat)

    @classmethod
    def decisions(cls, model: SearchNet) -> List[Decision]:
        """One per edge the DARTS rule keeps: its MixedOp in every cell of the kind,
        scored by the kind's alphas; ``'none'`` is never allowed."""
        genotype = model.genotype()
        allowed = tuple(k for k, name in enumerate(PRIMITIVES) if name != "none")
        out = []
        for kind in ("normal", "reduce"):
            alpha = model.alpha_array(kind)
            cells = [c for c in model.cells if c.reduction == (kind == "reduce")]
            for i, (op, j) in enumerate(getattr(genotype, kind)):
                node = i // 2
                edge = num_edges(node) + j  # the edges of earlier nodes come first
                out.append(Decision(f"{kind}/node{node}/input{j}",
                                    tuple(c.edges[edge] for c in cells),
                                    log_probabilities(alpha[edge]), allowed,
                                    PRIMITIVES.index(op)))
        return out

    @classmethod
    def candidate_names(cls, model: SearchNet) -> Dict[str, Sequence[str]]:
        return {name: PRIMITIVES for name in model.get_arch_parameters()}

    @classmethod
    def draw(cls, arch: Genotype, folder: str) -> List[str]:
        return draw_genotype(arch, folder)

    @classmethod
    def save_arch(cls, arch: Genotype, path: str) -> None:
        save_genotype(arch, path)

    @classmethod
    def load_arch(cls, path: str) -> Genotype:
        return load_genotype(path)

    @classmethod
    def build_train(cls, arch: Genotype, options, shape: Tuple[int, ...],
                    num_classes: int, rng: np.random.RandomState) -> TrainNet:
        return TrainNet(arch, shape[0], options.init_channels, options.num_cells,
                        num_classes, auxiliary=options.auxiliary,
                        auxiliary_weight=options.auxiliary_weight,
                        stem_multiplier=options.stem_multiplier,
                        drop_path_prob=options.drop_path_prob)
