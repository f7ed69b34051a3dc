"""Convolutions: `Conv` (grouped, dilated, N-D) and `DwConv` (depthwise)."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import nnabla.functions as F
import numpy as np
from nnabla.initializer import (ConstantInitializer, UniformInitializer,
                                calc_uniform_lim_glorot)

from . import checks as C
from .module import Module
from .parameter import Parameter


def _weight_and_bias(module: Module, w_shape: tuple, fan_in: int, fan_out: int,
                     kernel: tuple, w_init: Any, b_init: Any, bias_size: int,
                     with_bias: bool, fix_parameters: bool,
                     rng: Optional[np.random.RandomState]) -> None:
    """Create ``W`` and, with ``with_bias``, ``b``, using NNabla's default initializers
    (Glorot uniform weights, zero bias). ``fix_parameters`` keeps them registered (so
    they are saved) but with ``need_grad=False``."""
    if w_init is None:
        w_init = UniformInitializer(calc_uniform_lim_glorot(fan_in, fan_out, kernel),
                                    rng=rng)
    module.W = Parameter(w_shape, need_grad=not fix_parameters, initializer=w_init)
    module.b = None
    if with_bias:
        module.b = Parameter((bias_size,), need_grad=not fix_parameters,
                             initializer=ConstantInitializer(0) if b_init is None else b_init)


def _window(owner: str, kernel: Any, pad: Any, stride: Any, dilation: Any) -> tuple:
    """Validated ``(kernel, pad, stride, dilation)``; the kernel fixes the number of
    spatial axes, and ints are broadcast to it."""
    kernel = C.int_tuple(owner, "kernel", kernel, minimum=1)
    n = len(kernel)
    return (kernel, C.optional_int_tuple(owner, "pad", pad, n),
            C.optional_int_tuple(owner, "stride", stride, n, minimum=1),
            C.optional_int_tuple(owner, "dilation", dilation, n, minimum=1))


class Conv(Module):
    """N-D convolution, wrapping ``nnabla.functions.convolution``.

    Args:
        in_channels: Number of input channels.
        out_channels: Number of output channels.
        kernel: Kernel size per spatial axis, e.g. ``(3, 3)``.
        pad: Zero padding per spatial axis (an int is used for every axis).
        stride: Stride per spatial axis.
        dilation: Dilation per spatial axis.
        group: Number of channel groups; must divide both channel counts.
        w_init: Weight initializer (default: Glorot uniform).
        b_init: Bias initializer (default: zeros).
        base_axis: Axes before it are sample axes; the channel axis is ``base_axis``.
        fix_parameters: Keep the parameters constant (``need_grad=False``).
        rng: Random state for the default initializer.
        with_bias: Whether to add a bias.
        channel_last: Inputs are channel-last (NHWC).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: Sequence[int],
                 pad: Optional[Sequence[int]] = None, stride: Optional[Sequence[int]] = None,
                 dilation: Optional[Sequence[int]] = None, group: int = 1,
                 w_init: Any = None, b_init: Any = None, base_axis: int = 1,
                 fix_parameters: bool = False, rng: Optional[np.random.RandomState] = None,
                 with_bias: bool = True, channel_last: bool = False):
        name = type(self).__name__
        self._in_channels = C.positive_int(name, "in_channels", in_channels)
        self._out_channels = C.positive_int(name, "out_channels", out_channels)
        self._kernel, self._pad, self._stride, self._dilation = _window(
            name, kernel, pad, stride, dilation)
        self._group = C.positive_int(name, "group", group)
        if in_channels % group or out_channels % group:
            raise ValueError(f"{name}: group: {group} must divide in_channels="
                             f"{in_channels} and out_channels={out_channels}")
        self._base_axis = int(base_axis)
        self._channel_last = bool(channel_last)
        per_group = in_channels // group
        w_shape = ((out_channels,) + self._kernel + (per_group,) if channel_last
                   else (out_channels, per_group) + self._kernel)
        _weight_and_bias(self, w_shape, in_channels, out_channels, self._kernel, w_init,
                         b_init, out_channels, with_bias, fix_parameters, rng)

    def call(self, input):
        name = type(self).__name__
        C.variable(name, input, min_ndim=self._base_axis + len(self._kernel) + 1)
        axis = input.ndim - 1 if self._channel_last else self._base_axis
        C.axis_size(name, input, axis, self._in_channels, "channels")
        return F.convolution(input, self.W, self.b, base_axis=self._base_axis,
                             pad=self._pad, stride=self._stride, dilation=self._dilation,
                             group=self._group, channel_last=self._channel_last)

    def extra_repr(self) -> str:
        return (f"in_channels={self._in_channels}, out_channels={self._out_channels}, "
                f"kernel={self._kernel}, pad={self._pad}, stride={self._stride}, "
                f"dilation={self._dilation}, group={self._group}, "
                f"with_bias={self.b is not None}")


class DwConv(Module):
    """Depthwise convolution, wrapping ``nnabla.functions.depthwise_convolution``.

    Each input channel is convolved with its own ``multiplier`` filters, giving
    ``in_channels * multiplier`` output channels.

    Args:
        in_channels: Number of input channels.
        kernel: Kernel size per spatial axis.
        pad: Zero padding per spatial axis.
        stride: Stride per spatial axis.
        dilation: Dilation per spatial axis.
        multiplier: Filters per input channel.
        w_init: Weight initializer (default: Glorot uniform).
        b_init: Bias initializer (default: zeros).
        base_axis: The channel axis.
        fix_parameters: Keep the parameters constant (``need_grad=False``).
        rng: Random state for the default initializer.
        with_bias: Whether to add a bias.
        transient_buffer: In training mode, compute the same function as a grouped
            ``convolution`` (one group per input channel). NNabla's
            ``DepthwiseConvolution`` keeps its im2col buffer (``channels x kernel
            size x output pixels`` per sample) for as long as the graph lives, one per
            function, while ``Convolution`` frees its buffer after each call; in a
            training graph of many depthwise convolutions at a small batch those
            buffers outweigh the activations. Inference graphs (what the estimators
            time and the exporters write) keep ``DepthwiseConvolution``, which is
            faster.
    """

    def __init__(self, in_channels: int, kernel: Sequence[int],
                 pad: Optional[Sequence[int]] = None, stride: Optional[Sequence[int]] = None,
                 dilation: Optional[Sequence[int]] = None, multiplier: int = 1,
                 w_init: Any = None, b_init: Any = None, base_axis: int = 1,
                 fix_parameters: bool = False, rng: Optional[np.random.RandomState] = None,
                 with_bias: bool = True, transient_buffer: bool = False):
        name = type(self).__name__
        self._transient = bool(transient_buffer)
        self._in_channels = C.positive_int(name, "in_channels", in_channels)
        self._kernel, self._pad, self._stride, self._dilation = _window(
            name, kernel, pad, stride, dilation)
        self._multiplier = C.positive_int(name, "multiplier", multiplier)
        self._base_axis = int(base_axis)
        out = in_channels * multiplier
        _weight_and_bias(self, (out,) + self._kernel, in_channels, out, self._kernel,
                         w_init, b_init, out, with_bias, fix_parameters, rng)

    def call(self, input):
        name = type(self).__name__
        C.variable(name, input, min_ndim=self._base_axis + len(self._kernel) + 1)
        C.axis_size(name, input, self._base_axis, self._in_channels, "channels")
        if self._transient and self.training:
            w = F.reshape(self.W, (self.W.shape[0], 1) + tuple(self.W.shape[1:]))
            return F.convolution(input, w, self.b, base_axis=self._base_axis, pad=self._pad,
                                 stride=self._stride, dilation=self._dilation,
                                 group=self._in_channels)
        return F.depthwise_convolution(input, self.W, self.b, base_axis=self._base_axis,
                                       pad=self._pad, stride=self._stride,
                                       dilation=self._dilation, multiplier=self._multiplier)

    def extra_repr(self) -> str:
        return (f"in_channels={self._in_channels}, kernel={self._kernel}, pad={self._pad}, "
                f"stride={self._stride}, dilation={self._dilation}, "
                f"multiplier={self._multiplier}, with_bias={self.b is not None}"
                + (", transient_buffer=True" if self._transient else ""))
