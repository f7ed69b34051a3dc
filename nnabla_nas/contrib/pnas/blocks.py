"""The MobileNetV2 inverted-residual block, the layout of its stages, and small
MobileNetV2-style networks.

Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018,
https://arxiv.org/abs/1801.04381 (Table 1 gives the block; Table 2 the network).
"""
from __future__ import annotations

import numbers
from typing import Any, List, Optional, Sequence, Tuple

import nnabla.functions as F
import numpy as np

from ...module import (BatchNormalization, Conv, DwConv, GlobalAvgPool, Linear, Module,
                       ReLU6, Sequential)
from ...module import checks as C
from ...utils.files import quote

#: The choices of the MobileNetV2-style spaces: kernel sizes and expansion ratios.
KERNELS = (3, 5, 7)
EXPANSIONS = (1, 3, 6)
#: Bounds of the stage rows that keep a network's memory finite (MobileNetV2 for
#: ImageNet: 7 rows, at most 320 channels and 4 repeats).
MAX_STAGES, MAX_STAGE_CHANNELS, MAX_REPEATS = 32, 4096, 64

#: A row of the layout: (expansion of plain MobileNetV2, channels, repeats, stride).
Stage = Tuple[int, int, int, int]
#: MobileNetV2 on ImageNet (Sandler et al., 2018, table 2), as ProxylessNAS uses it.
IMAGENET_STAGES: Tuple[Stage, ...] = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2),
                                      (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                                      (6, 320, 1, 1))


def make_divisible(value: float, divisor: int = 8) -> int:
    """``value`` rounded to the nearest multiple of ``divisor`` (at least ``divisor``),
    one step up when rounding would lose more than 10 %: the channel rule of the
    MobileNet reference code, so that width multipliers give the published networks.

    Example:
        >>> [make_divisible(c * 0.35) for c in (16, 24, 32, 320)]
        [8, 8, 16, 112]
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def check_stages(stages: Any, where: str = "stages") -> Tuple[Stage, ...]:
    """``stages`` as a tuple of rows ``(expansion, channels, repeats, stride)``.

    Raises:
        ValueError: beginning with ``where`` and the bad row or entry, e.g.
            ``stages[2][3]: expected a stride of 1 or 2, got 3``.
    """
    if not isinstance(stages, (list, tuple)) or not 1 <= len(stages) <= MAX_STAGES:
        raise ValueError(f"{where}: expected a non-empty list of at most {MAX_STAGES} "
                         "rows [expansion, channels, repeats, stride], got "
                         f"{quote(stages)}")
    rows = []
    for i, row in enumerate(stages):
        if not isinstance(row, (list, tuple)) or len(row) != 4 \
                or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                           for v in row):
            raise ValueError(f"{where}[{i}]: expected a row [expansion, channels, "
                             f"repeats, stride] of 4 ints, got {quote(row)}")
        expansion, channels, repeats, stride = (int(v) for v in row)
        if expansion not in EXPANSIONS:
            raise ValueError(f"{where}[{i}][0]: expected an expansion in "
                             f"{list(EXPANSIONS)}, got {expansion}")
        for j, value, what, most in ((1, channels, "channels", MAX_STAGE_CHANNELS),
                                     (2, repeats, "repeats", MAX_REPEATS)):
            if value < 1:
                raise ValueError(f"{where}[{i}][{j}]: expected positive {what}, "
                                 f"got {value}")
            if value > most:
                raise ValueError(f"{where}[{i}][{j}]: expected at most {most} {what} (a "
                                 f"bound that keeps memory finite), got {value}")
        if stride not in (1, 2):
            raise ValueError(f"{where}[{i}][3]: expected a stride of 1 or 2, got {stride}")
        rows.append((expansion, channels, repeats, stride))
    return tuple(rows)


def conv_bn(in_channels: int, out_channels: int, kernel: int = 1, stride: int = 1,
            relu6: bool = True, rng: Optional[np.random.RandomState] = None) -> Sequential:
    """``kernel x kernel`` convolution (no bias, "same" padding), batch norm and,
    with ``relu6``, ReLU6."""
    layers: List[Module] = [
        Conv(in_channels, out_channels, (kernel, kernel), pad=(kernel // 2,) * 2,
             stride=(stride, stride), with_bias=False, rng=rng),
        BatchNormalization(out_channels, 4)]
    if relu6:
        layers.append(ReLU6())
    return Sequential(*layers)


class InvertedResidual(Module):
    """MobileNetV2 block: 1x1 expansion, ``k x k`` depthwise convolution, 1x1 linear
    projection, and a residual connection when the shapes allow it.

    The 1x1 expansion (conv, BN, ReLU6) is left out when ``expansion`` is 1. The
    residual add (``stride == 1`` and ``in_channels == out_channels``) is written here
    in :meth:`call` with ``F.add2``, outside any leaf module, as in the paper's code.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel: Depthwise kernel size (odd; "same" padding).
        stride: Depthwise stride, 1 or 2.
        expansion: Ratio of hidden to input channels.
        rng: Random state for the weight initializers.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 3,
                 stride: int = 1, expansion: int = 6,
                 rng: Optional[np.random.RandomState] = None):
        name = type(self).__name__
        self._in = C.positive_int(name, "in_channels", in_channels)
        self._out = C.positive_int(name, "out_channels", out_channels)
        self._kernel = C.positive_int(name, "kernel", kernel)
        if kernel % 2 == 0:
            raise ValueError(f"{name}: kernel: expected an odd size, got {kernel}")
        self._stride = C.one_of(name, "stride", stride, (1, 2))
        self._expansion = C.positive_int(name, "expansion", expansion)
        hidden = in_channels * expansion
        if expansion != 1:
            self.expand = conv_bn(in_channels, hidden, 1, rng=rng)
        self.depthwise = Sequential(
            DwConv(hidden, (kernel, kernel), pad=(kernel // 2,) * 2,
                   stride=(stride, stride), with_bias=False, rng=rng),
            BatchNormalization(hidden, 4), ReLU6())
        self.project = conv_bn(hidden, out_channels, 1, relu6=False, rng=rng)

    @property
    def use_residual(self) -> bool:
        """Whether the block adds its input to its output."""
        return self._stride == 1 and self._in == self._out

    def call(self, input):
        h = self.expand(input) if self._expansion != 1 else input
        h = self.project(self.depthwise(h))
        return F.add2(h, input) if self.use_residual else h

    def extra_repr(self) -> str:
        return (f"in_channels={self._in}, out_channels={self._out}, kernel={self._kernel}, "
                f"stride={self._stride}, expansion={self._expansion}")


#: One block of a network: (out_channels, kernel, stride, expansion).
BlockSpec = Tuple[int, int, int, int]


class MobileNetV2Like(Module):
    """A stem (3x3 conv, stride 2), inverted-residual blocks, a 1x1 head conv, global
    average pooling and a linear classifier.

    Args:
        blocks: ``(out_channels, kernel, stride, expansion)`` per block.
        in_channels: Image channels.
        stem_channels: Channels of the stem.
        head_channels: Channels of the 1x1 head convolution.
        num_classes: Outputs of the classifier.
        rng: Random state for the weight initializers.
    """

    def __init__(self, blocks: Sequence[BlockSpec], in_channels: int = 3,
                 stem_channels: int = 16, head_channels: int = 128, num_classes: int = 10,
                 rng: Optional[np.random.RandomState] = None):
        self.specs = [tuple(int(v) for v in b) for b in blocks]
        self.stem = conv_bn(in_channels, stem_channels, 3, stride=2, rng=rng)
        layers, channels = [], stem_channels
        for out, kernel, stride, expansion in self.specs:
            layers.append(InvertedResidual(channels, out, kernel, stride, expansion, rng))
            channels = out
        self.blocks = Sequential(*layers)
        self.head = conv_bn(channels, head_channels, 1, rng=rng)
        self.pool = GlobalAvgPool()
        self.classifier = Linear(head_channels, num_classes, rng=rng)

    def call(self, input):
        h = self.head(self.blocks(self.stem(input)))
        return self.classifier(self.pool(h))


def random_specs(rng: np.random.RandomState, depth: Tuple[int, int] = (7, 12),
                 channels: Tuple[int, int] = (16, 96), stages: Tuple[int, int] = (3, 4)
                 ) -> List[BlockSpec]:
    """Random block specs in the MobileNetV2 pattern: ``depth`` blocks (an inclusive
    range) split into ``stages`` stages (an inclusive range) of strictly growing width
    (multiples of 8 within ``channels``). Every stage but the first starts with a
    stride-2 block; the other blocks of a stage keep the shape and so add a residual.
    Kernels come from :data:`KERNELS`, expansions from :data:`EXPANSIONS`."""
    n = int(rng.randint(depth[0], depth[1] + 1))
    widths = np.arange(channels[0], channels[1] + 1, 8)
    n_stages = int(min(rng.randint(stages[0], stages[1] + 1), n, len(widths)))
    cuts = set(rng.choice(np.arange(1, n), size=n_stages - 1, replace=False).tolist())
    # The first stage stays narrow, as in MobileNetV2, so that the high-resolution
    # blocks do not dominate.
    first = int(rng.choice(widths[:2]))
    rest = sorted(rng.choice(widths[widths > first], size=n_stages - 1, replace=False))
    stage_widths = iter([first] + [int(w) for w in rest])
    specs: List[BlockSpec] = []
    out = next(stage_widths)
    for i in range(n):
        stride = 1
        if i in cuts:
            out, stride = next(stage_widths), 2
        specs.append((out, int(rng.choice(KERNELS)), stride, int(rng.choice(EXPANSIONS))))
    return specs


def random_mobilenet(seed: int, **kwargs) -> MobileNetV2Like:
    """A MobileNetV2-style network with random blocks (see :func:`random_specs`),
    the same for the same ``seed``; ``kwargs`` go to :func:`random_specs`."""
    rng = np.random.RandomState(seed)
    return MobileNetV2Like(random_specs(rng, **kwargs), rng=rng)
