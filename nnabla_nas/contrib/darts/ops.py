"""The candidate operations of the DARTS search space and the blocks they are made of.

The eight candidates of the CIFAR-10 setting (Liu et al., 2019, section 3.1) are
registered in :data:`CANDIDATES` by name; each registered factory is called as
``factory(channels, stride, affine)`` and returns a :class:`~nnabla_nas.module.Module`
mapping ``(N, channels, H, W)`` to ``(N, channels, ceil(H / stride), ceil(W / stride))``.

``affine`` selects the setting, as in the paper's code:

* ``affine=False`` is the *search* network: batch normalizations have constant
  ``beta = 0`` and ``gamma = 1`` (``fix_parameters=True``), and the two poolings are
  followed by such a normalization so that their outputs are on the scale of the other
  candidates before the softmax-weighted sum.
* ``affine=True`` is the *train* network: normalizations learn ``beta`` and ``gamma``,
  and the poolings stand alone.

With ``affine=False`` the depthwise convolutions also free their im2col buffers after
each call in training graphs (:class:`~nnabla_nas.module.DwConv`'s
``transient_buffer``): the supernet has hundreds of them, and NNabla's
``DepthwiseConvolution`` would keep one buffer each for the whole search.

Example:
    >>> import nnabla as nn
    >>> op = CANDIDATES.get("sep_conv_3x3")(channels=16, stride=2, affine=False)
    >>> op(nn.Variable((2, 16, 7, 7))).shape
    (2, 16, 4, 4)
"""
from __future__ import annotations

import functools
import numbers
from typing import Callable

import nnabla.functions as F

from ... import module as Mo
from ...module import Module
from ...module import checks as C
from ...registry import Registry

#: Factories ``(channels: int, stride: int, affine: bool) -> Module``, by candidate name.
CANDIDATES = Registry("candidate operation")

#: The candidate names in the order of the architecture weights of every edge.
PRIMITIVES = ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
              "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"]


def _batch_norm(channels: int, affine: bool) -> Mo.BatchNormalization:
    """A 4-D batch normalization; ``affine=False`` keeps beta and gamma constant."""
    return Mo.BatchNormalization(channels, 4, fix_parameters=not affine)


def _pointwise(in_channels: int, out_channels: int, stride: int = 1) -> Mo.Conv:
    return Mo.Conv(in_channels, out_channels, (1, 1), stride=(stride, stride),
                   with_bias=False)


def _depthwise(channels: int, kernel: int, stride: int, pad: int,
               dilation: int = 1, transient_buffer: bool = False) -> Mo.DwConv:
    return Mo.DwConv(channels, (kernel, kernel), pad=(pad, pad), stride=(stride, stride),
                     dilation=(dilation, dilation), with_bias=False,
                     transient_buffer=transient_buffer)


class _NormalizedOutput(Module):
    """A candidate whose output is its last module's (a batch normalization, or a
    :class:`~nnabla_nas.module.Sequential` ending in one): ``call_scaled`` folds
    :class:`~nnabla_nas.module.MixedOp`'s weight into that normalization."""

    def _features(self, input):
        raise NotImplementedError  # everything before self._last()

    def _last(self) -> Module:
        return self.bn

    def call(self, input):
        return self._last()(self._features(input))

    def folds_scale(self) -> bool:
        return self._last().folds_scale()

    def call_scaled(self, input, scale):
        self._record_inputs(input)
        return self._last().call_scaled(self._features(input), scale)


class ReLUConvBN(_NormalizedOutput):
    """ReLU, convolution (no bias), batch normalization.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel: Square kernel size.
        stride: Stride of the convolution.
        pad: Zero padding of the convolution.
        affine: Whether the normalization learns beta and gamma.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 1,
                 stride: int = 1, pad: int = 0, affine: bool = True):
        self._settings = (f"in_channels={in_channels}, out_channels={out_channels}, "
                          f"kernel={kernel}, stride={stride}, pad={pad}, affine={affine}")
        self.relu = Mo.ReLU()
        self.conv = Mo.Conv(in_channels, out_channels, (kernel, kernel), pad=(pad, pad),
                            stride=(stride, stride), with_bias=False)
        self.bn = _batch_norm(out_channels, affine)

    def _features(self, input):
        return self.conv(self.relu(input))

    def extra_repr(self) -> str:
        return self._settings


class FactorizedReduce(_NormalizedOutput):
    """Halves the spatial size without losing every other pixel.

    ReLU, then two 1x1 convolutions of stride 2 with ``out_channels // 2`` outputs each:
    the first on the input, the second on the input shifted by one pixel up and left
    (so together they see every pixel of each 2x2 block), concatenated along channels
    and batch-normalized.

    The shifted input is padded with one zero row and column at the end, so both halves
    have ``ceil(size / 2)`` pixels for odd sizes too (for even sizes the padding is never
    read and the result is the paper's).

    Args:
        in_channels: Input channels.
        out_channels: Output channels; must be even.
        affine: Whether the normalization learns beta and gamma.
    """

    def __init__(self, in_channels: int, out_channels: int, affine: bool = True):
        name = type(self).__name__
        C.positive_int(name, "in_channels", in_channels)
        if C.positive_int(name, "out_channels", out_channels) % 2:
            raise ValueError(f"{name}: out_channels: expected an even number, got "
                             f"{out_channels}")
        self._settings = (f"in_channels={in_channels}, out_channels={out_channels}, "
                          f"affine={affine}")
        self.relu = Mo.ReLU()
        self.conv1 = _pointwise(in_channels, out_channels // 2, stride=2)
        self.conv2 = _pointwise(in_channels, out_channels // 2, stride=2)
        self.bn = _batch_norm(out_channels, affine)

    def _features(self, input):
        C.variable(type(self).__name__, input, ndim=4)
        x = self.relu(input)
        h, w = x.shape[2:]
        shifted = F.slice(x, start=(0, 0, 1, 1), stop=(x.shape[0], x.shape[1], h, w))
        shifted = F.pad(shifted, (0, 1, 0, 1))
        return F.concatenate(self.conv1(x), self.conv2(shifted), axis=1)

    def extra_repr(self) -> str:
        return self._settings


class SepConv(_NormalizedOutput):
    """Two stacked separable convolutions, each ReLU, depthwise, pointwise, BN.

    The first unit carries the stride and keeps ``in_channels``; the second maps to
    ``out_channels``.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel: Square kernel of the depthwise convolutions.
        stride: Stride of the first depthwise convolution.
        pad: Zero padding of the depthwise convolutions.
        affine: Whether the normalizations learn beta and gamma.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int,
                 pad: int, affine: bool = True):
        self._settings = (f"in_channels={in_channels}, out_channels={out_channels}, "
                          f"kernel={kernel}, stride={stride}, pad={pad}, affine={affine}")
        transient = not affine  # the search network (see the module docstring)
        self.first = Mo.Sequential(Mo.ReLU(),
                                   _depthwise(in_channels, kernel, stride, pad,
                                              transient_buffer=transient),
                                   _pointwise(in_channels, in_channels),
                                   _batch_norm(in_channels, affine))
        self.second = Mo.Sequential(Mo.ReLU(),
                                    _depthwise(in_channels, kernel, 1, pad,
                                               transient_buffer=transient),
                                    _pointwise(in_channels, out_channels),
                                    _batch_norm(out_channels, affine))

    def _features(self, input):
        return self.first(input)

    def _last(self) -> Module:
        return self.second

    def extra_repr(self) -> str:
        return self._settings


class DilConv(_NormalizedOutput):
    """A dilated separable convolution: ReLU, dilated depthwise, pointwise, BN.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel: Square kernel of the depthwise convolution.
        stride: Stride of the depthwise convolution.
        pad: Zero padding of the depthwise convolution.
        dilation: Dilation of the depthwise convolution.
        affine: Whether the normalization learns beta and gamma.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int,
                 pad: int, dilation: int, affine: bool = True):
        self._settings = (f"in_channels={in_channels}, out_channels={out_channels}, "
                          f"kernel={kernel}, stride={stride}, pad={pad}, "
                          f"dilation={dilation}, affine={affine}")
        self.relu = Mo.ReLU()
        self.depthwise = _depthwise(in_channels, kernel, stride, pad, dilation,
                                    transient_buffer=not affine)
        self.pointwise = _pointwise(in_channels, out_channels)
        self.bn = _batch_norm(out_channels, affine)

    def _features(self, input):
        return self.pointwise(self.depthwise(self.relu(input)))

    def extra_repr(self) -> str:
        return self._settings


Factory = Callable[[int, int, bool], Mo.Module]


def _candidate(name: str) -> Callable[[Factory], Factory]:
    """Register a factory under ``name`` in :data:`CANDIDATES`, checking its arguments
    first, so that every candidate rejects bad ones with the same messages."""

    def decorator(build: Factory) -> Factory:
        @functools.wraps(build)
        def factory(channels: int, stride: int, affine: bool) -> Mo.Module:
            channels = C.positive_int(name, "channels", channels)
            if not isinstance(stride, numbers.Integral) or isinstance(stride, bool) \
                    or stride not in (1, 2):
                raise ValueError(f"{name}: stride: expected 1 or 2, got {stride!r}")
            if not isinstance(affine, bool):
                raise TypeError(f"{name}: affine: expected a bool, got {affine!r}")
            return build(channels, int(stride), affine)

        CANDIDATES.register(name)(factory)
        return factory

    return decorator


def _pool(pool: Mo.Module, channels: int, affine: bool) -> Mo.Module:
    """The search network normalizes pooling outputs (constant BN); the train one not."""
    return pool if affine else Mo.Sequential(pool, _batch_norm(channels, affine=False))


@_candidate("none")
def none(channels: int, stride: int, affine: bool) -> Mo.Module:
    """Zeros of the output shape: the edge is absent."""
    return Mo.Zero(stride=(stride, stride))


@_candidate("max_pool_3x3")
def max_pool_3x3(channels: int, stride: int, affine: bool) -> Mo.Module:
    """3x3 max pooling, padding 1 (padded pixels never win); BN when ``affine=False``."""
    return _pool(Mo.MaxPool((3, 3), stride=(stride, stride), pad=(1, 1)), channels, affine)


@_candidate("avg_pool_3x3")
def avg_pool_3x3(channels: int, stride: int, affine: bool) -> Mo.Module:
    """3x3 average pooling, padding 1, averaging only real pixels; BN when
    ``affine=False``."""
    pool = Mo.AvgPool((3, 3), stride=(stride, stride), pad=(1, 1), including_pad=False)
    return _pool(pool, channels, affine)


@_candidate("skip_connect")
def skip_connect(channels: int, stride: int, affine: bool) -> Mo.Module:
    """Identity at stride 1; :class:`FactorizedReduce` at stride 2."""
    return Mo.Identity() if stride == 1 else FactorizedReduce(channels, channels, affine)


@_candidate("sep_conv_3x3")
def sep_conv_3x3(channels: int, stride: int, affine: bool) -> Mo.Module:
    """:class:`SepConv` with 3x3 kernels."""
    return SepConv(channels, channels, 3, stride, 1, affine)


@_candidate("sep_conv_5x5")
def sep_conv_5x5(channels: int, stride: int, affine: bool) -> Mo.Module:
    """:class:`SepConv` with 5x5 kernels."""
    return SepConv(channels, channels, 5, stride, 2, affine)


@_candidate("dil_conv_3x3")
def dil_conv_3x3(channels: int, stride: int, affine: bool) -> Mo.Module:
    """:class:`DilConv` with a 3x3 kernel of dilation 2 (a 5x5 field)."""
    return DilConv(channels, channels, 3, stride, 2, 2, affine)


@_candidate("dil_conv_5x5")
def dil_conv_5x5(channels: int, stride: int, affine: bool) -> Mo.Module:
    """:class:`DilConv` with a 5x5 kernel of dilation 2 (a 9x9 field)."""
    return DilConv(channels, channels, 5, stride, 4, 2, affine)
