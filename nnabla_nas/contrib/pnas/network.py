"""The ProxylessNAS networks over a MobileNetV2 backbone: `SearchNet` (a MixedOp in
every searched block) and `TrainNet` (the network of one `Genotype`).

Both are a stem (3x3 convolution, batch norm, ReLU6; stride 2 for the ``imagenet``
stem, 1 for the ``small`` one used on 8x8 digits and 32x32 CIFAR-10 images), the
blocks, a 1x1 head convolution (batch norm, ReLU6), global average pooling, dropout
and a linear classifier: MobileNetV2 (Sandler et al., 2018) when every block is its
plain inverted residual, see :func:`~.genotype.plain_mobilenet_v2_arch`.

The candidates of a searched block (Cai et al., 2019, section 4.2) are named in
:data:`OPS` (kept with the genotype, which validates names without building modules):
an inverted residual ``k<kernel>_e<expansion>``, and ``skip`` (the identity) where the
block keeps the shape of its input.

Example:
    >>> import nnabla as nn
    >>> net = SearchNet(1, 10, stages=[[1, 16, 1, 1], [6, 24, 2, 2]], stem="small")
    >>> net(nn.Variable((2, 1, 8, 8))).shape
    (2, 10)
    >>> net.op_names()[1]
    ('k3_e3', 'k3_e6', 'k5_e3', 'k5_e6', 'k7_e3', 'k7_e6', 'skip')
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import nnabla.random
import numpy as np

from ... import module as Mo
from ...module import ArchParameter, MixedOp, Module
from ...module import checks as C
from ..model import Model
from .blocks import IMAGENET_STAGES, InvertedResidual, conv_bn
from .ops import CANDIDATES
from .genotype import (OPS, SKIP, STEMS, Genotype, candidate_names, op_error, op_shape,
                       plain_mobilenet_v2_arch)

__all__ = ["OPS", "SKIP", "STEMS", "block_label", "candidate", "SearchNet", "TrainNet"]

def block_label(index: int) -> str:
    """The label of the choice of block ``index`` (counting fixed blocks too):
    ``block7``."""
    return f"block{index}"


#: The stride of each stem.
STEM_STRIDES = {"imagenet": 2, "small": 1}


def _block(op: str, in_channels: int, out_channels: int, stride: int,
           rng: Optional[np.random.RandomState]) -> Module:
    if op == SKIP:
        return Mo.Identity()
    kernel, expansion = op_shape(op)
    return InvertedResidual(in_channels, out_channels, kernel, stride, expansion, rng)


def candidate(name: str, in_channels: int, out_channels: int, stride: int,
              rng: Optional[np.random.RandomState] = None) -> Module:
    """The candidate ``name`` of a searched block of this shape: an
    :class:`~.blocks.InvertedResidual` for a name of :data:`OPS`, an
    :class:`~nnabla_nas.module.Identity` for ``skip``.

    Raises:
        ValueError: naming ``name`` for an unknown name, or for ``skip`` where the block
            changes the shape.
    """
    if name not in candidate_names(in_channels, out_channels, stride):
        raise ValueError(f"candidate: name: {op_error(name, in_channels, out_channels, stride)}")
    return CANDIDATES.get(name)(in_channels, out_channels, stride, rng)


class _MobileNet(Model):
    """Stem, blocks, head, pooling, dropout and classifier, shared by both networks."""

    def _build(self, genotype: Genotype, blocks: Sequence[Module], in_channels: int,
               num_classes: int, dropout: float,
               rng: Optional[np.random.RandomState]) -> None:
        self._dropout = C.probability(type(self).__name__, "dropout", dropout)
        self.stem = conv_bn(in_channels, genotype.stem_channels, 3,
                            stride=STEM_STRIDES[genotype.stem], rng=rng)
        self.blocks = Mo.Sequential(*blocks)
        self.head = conv_bn(genotype.blocks[-1].out_channels, genotype.head_channels, 1,
                            rng=rng)
        self.pool = Mo.GlobalAvgPool()
        self.dropout = Mo.Dropout(self._dropout)
        self.classifier = Mo.Linear(genotype.head_channels, num_classes, rng=rng)

    def call(self, x):
        h = self.head(self.blocks(self.stem(x)))
        return self.classifier(self.dropout(self.pool(h)))


def _check_sizes(owner: str, in_channels: int, num_classes: int) -> None:
    C.positive_int(owner, "in_channels", in_channels)
    C.positive_int(owner, "num_classes", num_classes)


class SearchNet(_MobileNet):
    """The ProxylessNAS supernet: MobileNetV2 in the layout ``stages``, with a
    :class:`~nnabla_nas.module.MixedOp` over :func:`~.genotype.candidate_names` in every
    searched block (blocks of expansion-1 rows stay fixed ``k3_e1`` blocks, as
    ProxylessNAS fixes MobileNetV2's first block).

    The architecture parameters are the MixedOps' ``alpha`` (``blocks/<i>/alpha``, one
    entry per candidate), initialized to ``1e-3 * randn`` as in the ProxylessNAS code;
    no other parameter name holds ``alpha``.

    Args:
        in_channels: Channels of the input images.
        num_classes: Number of classes.
        stages: Rows ``(expansion, channels, repeats, stride)``, see
            :func:`~.genotype.plain_mobilenet_v2_arch`.
        stem: ``'imagenet'`` (stride 2) or ``'small'`` (stride 1).
        width_multiplier: Scales every channel count (rounded to multiples of 8); the
            head only grows.
        stem_channels: Channels of the stem before the width multiplier.
        head_channels: Channels of the head before the width multiplier.
        dropout: Probability of dropping a pooled feature before the classifier.
        mode: The mode of every MixedOp, ``'sample'`` (ProxylessNAS: one candidate per
            block and step), ``'full'`` or ``'max'``; change it with :meth:`set_mode`.
        rng: Random state of the initial weights and alphas (default: NNabla's
            ``nnabla.random.prng``). Draws in ``'sample'`` mode use
            ``nnabla.random.prng``.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 1000,
                 stages: Sequence[Sequence[int]] = IMAGENET_STAGES, stem: str = "imagenet",
                 width_multiplier: float = 1.0, stem_channels: int = 32,
                 head_channels: int = 1280, dropout: float = 0.0, mode: str = "sample",
                 rng: Optional[np.random.RandomState] = None):
        name = type(self).__name__
        _check_sizes(name, in_channels, num_classes)
        try:
            plain = plain_mobilenet_v2_arch(stages, width_multiplier, stem, stem_channels,
                                            head_channels)
        except ValueError as e:
            raise ValueError(f"{name}: {e}") from None
        self._mode = C.one_of(name, "mode", mode, MixedOp.MODES)
        if rng is not None and not isinstance(rng, np.random.RandomState):
            raise TypeError(f"{name}: rng: expected a numpy RandomState or None, got "
                            f"{type(rng).__name__}")
        alpha_rng = nnabla.random.prng if rng is None else rng
        self._plain = plain
        self._names: List[Tuple[str, ...]] = []
        blocks: List[Module] = []
        for i, (block, cin) in enumerate(zip(plain.blocks, plain.in_channels)):
            shape = (cin, block.out_channels, block.stride)
            if not block.searched:
                blocks.append(_block(block.op, *shape, rng))
                continue
            names = candidate_names(*shape)
            alpha = ArchParameter((len(names),),
                                  initializer=1e-3 * alpha_rng.randn(len(names)))
            blocks.append(MixedOp([candidate(n, *shape, rng) for n in names], mode,
                                  alpha=alpha, label=block_label(i), names=names))
            self._names.append(names)
        self._build(plain, blocks, in_channels, num_classes, dropout, rng)

    @property
    def plain(self) -> Genotype:
        """MobileNetV2 in this layout: the fixed blocks, and ``k3_e<expansion>`` in the
        searched ones."""
        return self._plain

    @property
    def mode(self) -> str:
        """The mode of the MixedOps (set it with :meth:`set_mode`)."""
        return self._mode

    def mixed_ops(self) -> List[MixedOp]:
        """The MixedOps of the searched blocks, in block order."""
        return [b for b in self.blocks if isinstance(b, MixedOp)]

    def op_names(self) -> List[Tuple[str, ...]]:
        """The candidate names of each MixedOp, in the order of its alpha."""
        return list(self._names)

    def set_mode(self, mode: str) -> "SearchNet":
        """Switch every MixedOp to ``mode`` (``'full'``, ``'sample'`` or ``'max'``) and
        return ``self``."""
        self._mode = C.one_of(type(self).__name__, "mode", mode, MixedOp.MODES)
        for op in self.mixed_ops():
            op.mode = mode
        return self

    def genotype(self, choices: Optional[Sequence[int]] = None) -> Genotype:
        """The architecture the alphas select: in every searched block the candidate of
        largest alpha (the most probable one; ties go to the earlier name).

        Args:
            choices: Instead, one candidate index per MixedOp (in the order of
                :meth:`op_names`), e.g. a searcher's pick under a hardware budget.

        Raises:
            ValueError: naming the bad entry of ``choices``.
        """
        ops = self.mixed_ops()
        if choices is None:
            choices = [int(np.argmax(op.alpha.d)) for op in ops]
        choices = list(choices)
        where = f"{type(self).__name__}.genotype: choices"
        if len(choices) != len(ops):
            raise ValueError(f"{where}: expected {len(ops)} indices (one per MixedOp), "
                             f"got {len(choices)}")
        for i, (k, names) in enumerate(zip(choices, self._names)):
            if not isinstance(k, (int, np.integer)) or isinstance(k, bool) \
                    or not 0 <= k < len(names):
                raise ValueError(f"{where}[{i}]: expected an index in [0, {len(names)}), "
                                 f"got {k!r}")
        return self._plain.with_ops(names[k] for k, names in zip(choices, self._names))

    def extra_repr(self) -> str:
        return f"mode={self._mode}, dropout={self._dropout}"


class TrainNet(_MobileNet):
    """The network of a :class:`~.genotype.Genotype`, to train from scratch.

    Block ``i`` of the genotype is ``blocks/<i>``: an
    :class:`~.blocks.InvertedResidual`, or an :class:`~nnabla_nas.module.Identity` for
    ``skip`` (kept rather than left out so that names follow the genotype; it computes
    the same function and has no parameters). With
    :func:`~.genotype.plain_mobilenet_v2_arch` it is MobileNetV2.

    Args:
        genotype: The architecture.
        in_channels: Channels of the input images.
        num_classes: Number of classes.
        dropout: Probability of dropping a pooled feature before the classifier.
        rng: Random state of the initial weights.
    """

    def __init__(self, genotype: Genotype, in_channels: int = 3, num_classes: int = 1000,
                 dropout: float = 0.0, rng: Optional[np.random.RandomState] = None):
        name = type(self).__name__
        if not isinstance(genotype, Genotype):
            raise TypeError(f"{name}: genotype: expected a Genotype, got "
                            f"{type(genotype).__name__}")
        _check_sizes(name, in_channels, num_classes)
        self._genotype = genotype
        blocks = [_block(b.op, cin, b.out_channels, b.stride, rng)
                  for b, cin in zip(genotype.blocks, genotype.in_channels)]
        self._build(genotype, blocks, in_channels, num_classes, dropout, rng)

    @property
    def genotype(self) -> Genotype:
        """The architecture the network was built from."""
        return self._genotype

    def extra_repr(self) -> str:
        return f"genotype={self._genotype}, dropout={self._dropout}"
