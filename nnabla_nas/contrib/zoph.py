"""Zoph et al.'s cell space in its one-shot form (Bender et al., 2018), registered as
``zoph``.

A stem (7x7 then 3x3 convolution), then cells. A cell projects its two inputs (the
outputs of the two cells before it) to its channels with 1x1 convolutions, max-pools
the older one 2x2 when the cell before reduced, and both when it reduces itself. Each of
its blocks reads the concatenation of every earlier state of the cell (both inputs and
the blocks before it) through a 1x1 convolution, then runs one of :data:`OPS`; the cell
outputs the concatenation of all its states. Reducing cells double the channels. The
head is ReLU, global average pooling and a linear classifier.

The choices are the blocks' ops, ``cell<c>/block<b>``, each cell with its own. The
candidates are the DARTS registry's (:mod:`.darts.ops`): separable and dilated separable
3x3 and 5x5 convolutions, 3x3 max and average pooling, identity and zero. The retrained
network leaves out the blocks that choose ``none``, which add nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

import nnabla.functions as F
import numpy as np

from .. import module as Mo
from ..config.fields import ConfigError, option
from ..module import MixedOp, Module
from .architecture import Architecture, Choice
from .darts.ops import CANDIDATES, ReLUConvBN
from .model import Model
from .spaces import SEARCH_SPACES, SearchSpace

#: The candidates of every block, in the order of its alpha.
OPS = ("sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5", "max_pool_3x3",
       "avg_pool_3x3", "skip_connect", "none")
NONE = "none"
#: ``op(cell, block, channels)``: a block's op, or None to leave the block out.
OpFactory = Callable[[int, int, int], Optional[Module]]


def block_label(cell: int, block: int) -> str:
    """The label of a block's op: ``cell2/block5``."""
    return f"cell{cell}/block{block}"


class Cell(Module):
    """One cell over ``(older, newer)`` inputs; ``ops`` are its blocks' ops (None: left
    out). ``adapt`` pools the older input to the newer one's resolution."""

    def __init__(self, in_channels: Tuple[int, int], channels: int, reduce: bool,
                 adapt: bool, ops: List[Optional[Module]], affine: bool):
        self.pre0 = ReLUConvBN(in_channels[0], channels, affine=affine)
        self.pre1 = ReLUConvBN(in_channels[1], channels, affine=affine)
        if adapt or reduce:  # registered only where it runs: estimators price it
            self.pool = Mo.MaxPool((2, 2), stride=(2, 2))
        self._adapt, self._reduce = adapt, reduce
        kept = [op for op in ops if op is not None]
        self.inputs = Mo.ModuleList([ReLUConvBN((2 + i) * channels, channels, affine=affine)
                                     for i in range(len(kept))])
        self.ops = Mo.ModuleList(kept)
        self.out_channels = (2 + len(kept)) * channels

    def call(self, s0, s1):
        s0, s1 = self.pre0(s0), self.pre1(s1)
        s0 = self.pool(s0) if self._adapt else s0
        states = [self.pool(s0), self.pool(s1)] if self._reduce else [s0, s1]
        for read, op in zip(self.inputs, self.ops):
            states.append(op(read(F.concatenate(*states, axis=1))))
        return F.concatenate(*states, axis=1)


class ZophNet(Model):
    """The stem, one :class:`Cell` per entry of ``reducing``, and the head."""

    def __init__(self, shape: Tuple[int, ...], num_classes: int, stem_channels: int,
                 channels: int, reducing: Tuple[bool, ...], blocks: int, op: OpFactory,
                 affine: bool):
        if min(shape[1:]) >> sum(reducing) < 1:
            raise ValueError(f"reducing: {sum(reducing)} reducing cells leave no pixel of "
                             f"{'x'.join(map(str, shape[1:]))} images")
        self.stem0 = Mo.Sequential(Mo.Conv(shape[0], stem_channels, (7, 7), pad=(3, 3),
                                           with_bias=False),
                                   Mo.BatchNormalization(stem_channels, 4))
        self.stem1 = Mo.Sequential(Mo.ReLU(), Mo.Conv(stem_channels, stem_channels, (3, 3),
                                                      pad=(1, 1), with_bias=False),
                                   Mo.BatchNormalization(stem_channels, 4))
        cells, prev, adapt = [], (stem_channels, stem_channels), False
        for c, reduce in enumerate(reducing):
            channels *= 2 if reduce else 1
            cell = Cell(prev, channels, reduce, adapt,
                        [op(c, b, channels) for b in range(blocks)], affine)
            cells.append(cell)
            prev, adapt = (prev[1], cell.out_channels), reduce
        self.cells = Mo.ModuleList(cells)
        self.head = Mo.Sequential(Mo.ReLU(), Mo.GlobalAvgPool())
        self.classifier = Mo.Linear(prev[1], num_classes)

    def call(self, input):
        s0 = self.stem0(input)
        s1 = self.stem1(s0)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(self.head(s1))


def _channels(doc: str, default: int) -> Any:
    return option(default, doc, minimum=1, maximum=2048)


@SEARCH_SPACES.register("zoph")
class ZophSpace(SearchSpace):
    """Zoph et al.'s cells as Bender et al. (2018) search them one-shot: every block
    of every cell chooses one of eight ops."""

    name = "zoph"
    smoke_options: Dict[str, Any] = {"stem_channels": 4, "channels": 4,
                                     "reducing": [False, True], "blocks": 2}

    @dataclass(frozen=True)
    class SearchConfig:
        """The supernet (defaults: nnabla-nas 0.15's, after Bender et al.)."""

        stem_channels: int = _channels("channels of the two stem convolutions", 128)
        channels: int = _channels("channels of the first cell; reducing cells double "
                                  "them", 128)
        reducing: Tuple[bool, ...] = option((False, True, True), "one entry per cell: "
                                            "whether it halves the resolution")
        blocks: int = option(7, "blocks per cell", minimum=1, maximum=32)

        def __post_init__(self):
            check_reducing(self.reducing)
            object.__setattr__(self, "reducing", tuple(self.reducing))

    @dataclass(frozen=True)
    class TrainConfig:
        """The retrained network's widths (its cells and blocks come from arch.json)."""

        stem_channels: int = _channels("channels of the two stem convolutions", 128)
        channels: int = _channels("channels of the first cell; reducing cells double "
                                  "them", 128)

    @classmethod
    def arch_options(cls, options) -> Dict[str, Any]:
        return {"reducing": list(options.reducing), "blocks": options.blocks}

    @classmethod
    def choices(cls, arch_options: Dict[str, Any]) -> List[Choice]:
        cells = len(check_reducing(arch_options["reducing"]))
        blocks = arch_options["blocks"]
        if isinstance(blocks, bool) or not isinstance(blocks, int) or not 1 <= blocks <= 32:
            raise ValueError(f"blocks: expected an int in [1, 32], got {blocks!r}")
        return [Choice(block_label(c, b), OPS) for c in range(cells) for b in range(blocks)]

    @classmethod
    def build_search(cls, options, shape: Tuple[int, ...], num_classes: int,
                     rng: np.random.RandomState) -> ZophNet:
        def mixed(cell: int, block: int, channels: int) -> MixedOp:
            return MixedOp([CANDIDATES.get(n)(channels, 1, False) for n in OPS], "full",
                           label=block_label(cell, block), names=OPS)

        return ZophNet(shape, num_classes, options.stem_channels, options.channels,
                       options.reducing, options.blocks, mixed, affine=False)

    @classmethod
    def build_train(cls, arch: Architecture, options, shape: Tuple[int, ...],
                    num_classes: int, rng: np.random.RandomState) -> ZophNet:
        def chosen(cell: int, block: int, channels: int) -> Optional[Module]:
            name = arch.choices[block_label(cell, block)]
            return None if name == NONE else CANDIDATES.get(name)(channels, 1, True)

        return ZophNet(shape, num_classes, options.stem_channels, options.channels,
                       tuple(arch.options["reducing"]), arch.options["blocks"], chosen,
                       affine=True)

    @classmethod
    def describe(cls, arch: Architecture) -> str:
        cells = len(arch.options["reducing"])
        return " | ".join(f"cell{c}: " + ",".join(
            arch.choices[block_label(c, b)] for b in range(arch.options["blocks"]))
            for c in range(cells))


def check_reducing(reducing: Any) -> Tuple[bool, ...]:
    """``reducing`` as a tuple: 1 to 16 booleans, one per cell.

    Raises:
        ConfigError: (a ValueError) naming the bad entry.
    """
    if not isinstance(reducing, (list, tuple)) or not 1 <= len(reducing) <= 16:
        raise ConfigError(f"reducing: expected a list of 1 to 16 booleans, got "
                          f"{reducing!r}")
    for i, r in enumerate(reducing):
        if not isinstance(r, bool):
            raise ConfigError(f"reducing[{i}]: expected a boolean, got {r!r}")
    return tuple(reducing)
