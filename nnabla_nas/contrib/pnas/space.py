"""The ProxylessNAS MobileNetV2 search space, registered as ``proxylessnas``.

Its choices are the searched blocks, ``block<i>`` (``i`` counts the fixed blocks too),
each among :func:`~.genotype.candidate_names` of its shape. An architecture's options
are the layout the search options give (stem, stem and head channels, and per block
its output channels, stride, and the op of a fixed block), so that the network is
rebuilt from ``arch.json`` alone.

A config for the 8x8 digits keeps the resolution with the ``small`` stem and uses a
short layout, e.g.::

    space:
      name: proxylessnas
      stem: small
      width_multiplier: 0.5
      stages: [[1, 16, 1, 1], [6, 24, 2, 1], [6, 32, 2, 2], [6, 64, 2, 2]]
      head_channels: 256
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

import numpy as np

from ...config.fields import ConfigError, option
from ...visual.blocks import draw_blocks
from ..architecture import Architecture, Choice
from ..archfile import check_keys
from ..spaces import SEARCH_SPACES, SearchSpace
from .blocks import IMAGENET_STAGES, check_stages
from .genotype import OPS, STEMS, Block, Genotype, candidate_names, plain_mobilenet_v2_arch
from .network import SearchNet, TrainNet, block_label


@SEARCH_SPACES.register("proxylessnas")
class ProxylessSpace(SearchSpace):
    """ProxylessNAS (Cai et al., 2019): MobileNetV2 whose inverted-residual blocks each
    choose a kernel of 3, 5 or 7 and an expansion of 3 or 6, or to be skipped; the
    supernet runs one sampled candidate per block and step."""

    name = "proxylessnas"
    smoke_options = dict(stem="small", stem_channels=8, head_channels=16,
                         stages=[[1, 8, 1, 1], [3, 8, 2, 1], [3, 16, 1, 2]])

    @dataclass(frozen=True)
    class SearchConfig:
        """The supernet: MobileNetV2's ImageNet layout by default (ProxylessNAS's
        backbone)."""

        stem: str = option("imagenet", "3x3 stem convolution of stride 2 ('imagenet') "
                                       "or 1 ('small': 8x8 and 32x32 images)",
                           choices=STEMS)
        stages: Tuple[Tuple[int, int, int, int], ...] = option(
            IMAGENET_STAGES, "rows [expansion, channels, repeats, stride]; blocks of "
                             "expansion-1 rows are fixed, all others searched")
        width_multiplier: float = option(1.0, "scales every channel count (multiples of "
                                              "8); the head only grows", minimum=0,
                                         exclusive_minimum=True, maximum=8)
        stem_channels: int = option(32, "stem channels before the width multiplier",
                                    minimum=1, maximum=1024)
        head_channels: int = option(1280, "channels of the 1x1 head convolution before "
                                          "the width multiplier", minimum=1, maximum=8192)
        dropout: float = option(0.0, "probability of dropping a pooled feature before "
                                     "the classifier", minimum=0, maximum=1,
                                exclusive_maximum=True)

        def __post_init__(self):
            try:
                object.__setattr__(self, "stages", check_stages(self.stages))
            except ValueError as e:
                raise ConfigError(str(e)) from None

    @dataclass(frozen=True)
    class TrainConfig:
        """The retrained network; its layout and channels come from ``arch.json``."""

        dropout: float = option(0.1, "probability of dropping a pooled feature before "
                                     "the classifier", minimum=0, maximum=1,
                                exclusive_maximum=True)

    @classmethod
    def arch_options(cls, options) -> Dict[str, Any]:
        plain = plain_mobilenet_v2_arch(options.stages, options.width_multiplier,
                                        options.stem, options.stem_channels,
                                        options.head_channels)
        return layout_options(plain)

    @classmethod
    def choices(cls, arch_options: Dict[str, Any]) -> List[Choice]:
        skeleton = skeleton_of(arch_options)
        return [Choice(block_label(i), candidate_names(cin, b.out_channels, b.stride))
                for i, (b, cin) in enumerate(zip(skeleton.blocks, skeleton.in_channels))
                if b.searched]

    @classmethod
    def build_search(cls, options, shape: Tuple[int, ...], num_classes: int,
                     rng: np.random.RandomState) -> SearchNet:
        return SearchNet(shape[0], num_classes, stages=options.stages, stem=options.stem,
                         width_multiplier=options.width_multiplier,
                         stem_channels=options.stem_channels,
                         head_channels=options.head_channels, dropout=options.dropout,
                         rng=rng)

    @classmethod
    def build_train(cls, arch: Architecture, options, shape: Tuple[int, ...],
                    num_classes: int, rng: np.random.RandomState) -> TrainNet:
        return TrainNet(genotype_of(arch), shape[0], num_classes, dropout=options.dropout,
                        rng=rng)

    @classmethod
    def draw(cls, arch: Architecture, folder: str) -> List[str]:
        """The blocks in order: op, output channels and stride."""
        g = genotype_of(arch)
        return draw_blocks([(b.op, b.out_channels, b.stride) for b in g.blocks],
                           folder, stem=f"{g.stem} stem\n{g.stem_channels} ch",
                           head=f"conv1x1 {g.head_channels} ch\npool, fc")

    @classmethod
    def describe(cls, arch: Architecture) -> str:
        return str(genotype_of(arch))

    @classmethod
    def from_legacy(cls, data: Any, source: str) -> Architecture:
        """An ``arch.json`` of version 1 (a :class:`~nnabla_nas.contrib.pnas.genotype.Genotype`)."""
        return arch_of(Genotype.from_dict(data, source))


_LAYOUT_KEYS = ("stem", "stem_channels", "head_channels", "blocks")
_BLOCK_KEYS = ("out_channels", "stride", "fixed")


def layout_options(genotype: Genotype) -> Dict[str, Any]:
    """The options of an architecture with ``genotype``'s layout: everything but the
    ops of its searched blocks."""
    return {"stem": genotype.stem, "stem_channels": genotype.stem_channels,
            "head_channels": genotype.head_channels,
            "blocks": [{"out_channels": b.out_channels, "stride": b.stride,
                        "fixed": None if b.searched else b.op} for b in genotype.blocks]}


def skeleton_of(arch_options: Dict[str, Any]) -> Genotype:
    """The layout of ``arch_options`` as a genotype whose searched blocks hold a
    placeholder op (the first of :data:`~.genotype.OPS`, which fits every block).

    Raises:
        ValueError: naming the bad key.
    """
    check_keys("options", "", arch_options, _LAYOUT_KEYS)
    blocks = arch_options["blocks"]
    if not isinstance(blocks, list) or not blocks:
        raise ValueError(f"blocks: expected a non-empty list, got {blocks!r}")
    parsed = []
    for i, b in enumerate(blocks):
        if not isinstance(b, dict):
            raise ValueError(f"blocks[{i}]: expected an object with keys "
                             f"{list(_BLOCK_KEYS)}, got {b!r}")
        check_keys("options", f"blocks[{i}].", b, _BLOCK_KEYS)
        fixed = b["fixed"]
        parsed.append(Block(OPS[0] if fixed is None else fixed, b["out_channels"],
                            b["stride"], searched=fixed is None))
    return Genotype(arch_options["stem"], arch_options["stem_channels"],
                    arch_options["head_channels"], parsed)


def genotype_of(arch: Architecture) -> Genotype:
    """The :class:`~.genotype.Genotype` of a ProxylessNAS architecture."""
    skeleton = skeleton_of(dict(arch.options))
    return skeleton.with_ops(arch.choices[block_label(i)]
                             for i, b in enumerate(skeleton.blocks) if b.searched)


def arch_of(genotype: Genotype) -> Architecture:
    """The architecture of a :class:`~.genotype.Genotype`."""
    return Architecture(ProxylessSpace.name, layout_options(genotype),
                        {block_label(i): b.op for i, b in enumerate(genotype.blocks)
                         if b.searched})
