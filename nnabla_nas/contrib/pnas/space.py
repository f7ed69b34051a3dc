"""The ProxylessNAS MobileNetV2 search space, registered as ``proxylessnas``.

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
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ...config.fields import ConfigError, option
from ...visual.blocks import draw_blocks
from ..spaces import SEARCH_SPACES, Decision, SearchSpace, log_probabilities
from .blocks import IMAGENET_STAGES, check_stages
from .genotype import STEMS, Genotype, load_genotype, save_genotype
from .network import SearchNet, TrainNet


@SEARCH_SPACES.register("proxylessnas")
class ProxylessSpace(SearchSpace):
    """ProxylessNAS (Cai et al., 2019): MobileNetV2 whose inverted-residual blocks each
    choose a kernel of 3, 5 or 7 and an expansion of 3 or 6, or to be skipped; the
    supernet runs one sampled candidate per block and step."""

    name = "proxylessnas"

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
    def build_search(cls, options, shape: Tuple[int, ...], num_classes: int,
                     rng: np.random.RandomState) -> SearchNet:
        return SearchNet(shape[0], num_classes, stages=options.stages, stem=options.stem,
                         width_multiplier=options.width_multiplier,
                         stem_channels=options.stem_channels,
                         head_channels=options.head_channels, dropout=options.dropout,
                         rng=rng)

    @classmethod
    def derive(cls, model: SearchNet, choices: Optional[Sequence[int]] = None
               ) -> Genotype:
        """The most probable candidate of every searched block, or ``choices``: one
        candidate index per MixedOp, in block order."""
        return model.genotype(choices)

    @classmethod
    def decisions(cls, model: SearchNet) -> List[Decision]:
        """One per searched block (``block<i>``, ``i`` its index in the genotype): its
        MixedOp, scored by its own alphas; every candidate is allowed."""
        blocks = [i for i, b in enumerate(model.plain.blocks) if b.searched]
        out = []
        for i, op in zip(blocks, model.mixed_ops()):
            scores = log_probabilities(op.alpha.d)
            out.append(Decision(f"block{i}", (op,), scores, tuple(range(len(scores))),
                                int(np.argmax(scores))))
        return out

    @classmethod
    def candidate_names(cls, model: SearchNet) -> Dict[str, Sequence[str]]:
        names = {id(p): n for n, p in model.get_arch_parameters().items()}
        return {names[id(op.alpha)]: ops
                for op, ops in zip(model.mixed_ops(), model.op_names())}

    @classmethod
    def draw(cls, arch: Genotype, folder: str) -> List[str]:
        """The blocks in order: op, output channels and stride."""
        return draw_blocks([(b.op, b.out_channels, b.stride) for b in arch.blocks],
                           folder, stem=f"{arch.stem} stem\n{arch.stem_channels} ch",
                           head=f"conv1x1 {arch.head_channels} ch\npool, fc")

    @classmethod
    def save_arch(cls, arch: Genotype, path: str) -> None:
        save_genotype(arch, path)

    @classmethod
    def load_arch(cls, path: str) -> Genotype:
        return load_genotype(path)

    @classmethod
    def build_train(cls, arch: Genotype, options, shape: Tuple[int, ...],
                    num_classes: int, rng: np.random.RandomState) -> TrainNet:
        return TrainNet(arch, shape[0], num_classes, dropout=options.dropout, rng=rng)
