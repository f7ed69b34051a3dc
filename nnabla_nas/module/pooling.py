"""Pooling: `MaxPool`, `AvgPool` and `GlobalAvgPool`."""
from __future__ import annotations

from typing import Optional, Sequence

import nnabla.functions as F

from . import checks as C
from .module import Module


class _Pool(Module):
    """Shared arguments of the windowed poolings."""

    def __init__(self, kernel: Sequence[int], stride: Optional[Sequence[int]] = None,
                 pad: Optional[Sequence[int]] = None, channel_last: bool = False,
                 ignore_border: bool = True):
        name = type(self).__name__
        self._kernel = C.int_tuple(name, "kernel", kernel, minimum=1)
        n = len(self._kernel)
        if n not in (2, 3):
            raise ValueError(f"{name}: kernel: NNabla pools over 2 or 3 spatial axes, "
                             f"got {kernel!r}")
        self._stride = C.optional_int_tuple(name, "stride", stride, n, minimum=1)
        self._pad = C.optional_int_tuple(name, "pad", pad, n)
        self._channel_last = bool(channel_last)
        self._ignore_border = bool(ignore_border)

    def _args(self, input) -> dict:
        C.variable(type(self).__name__, input, min_ndim=len(self._kernel) + 1)
        return dict(kernel=self._kernel, stride=self._stride, pad=self._pad,
                    ignore_border=self._ignore_border, channel_last=self._channel_last)

    def extra_repr(self) -> str:
        return f"kernel={self._kernel}, stride={self._stride}, pad={self._pad}"


class MaxPool(_Pool):
    """Max pooling, wrapping ``nnabla.functions.max_pooling``.

    Args:
        kernel: Window size per spatial axis.
        stride: Step per spatial axis (default: the kernel size).
        pad: Padding per spatial axis.
        channel_last: Inputs are channel-last.
        ignore_border: Drop windows that would cross the (padded) border.
    """

    def call(self, input):
        return F.max_pooling(input, **self._args(input))


class AvgPool(_Pool):
    """Average pooling, wrapping ``nnabla.functions.average_pooling``.

    Args:
        kernel: Window size per spatial axis.
        stride: Step per spatial axis (default: the kernel size).
        pad: Padding per spatial axis.
        channel_last: Inputs are channel-last.
        ignore_border: Drop windows that would cross the (padded) border.
        including_pad: Count padded zeros in the average.
    """

    def __init__(self, kernel: Sequence[int], stride: Optional[Sequence[int]] = None,
                 pad: Optional[Sequence[int]] = None, channel_last: bool = False,
                 ignore_border: bool = True, including_pad: bool = True):
        super().__init__(kernel, stride, pad, channel_last, ignore_border)
        self._including_pad = bool(including_pad)

    def call(self, input):
        return F.average_pooling(input, including_pad=self._including_pad,
                                 **self._args(input))


class GlobalAvgPool(Module):
    """Mean over every spatial axis of a channel-first input: ``(N, C, ...) -> (N, C)``.

    Args:
        keep_dims: Keep the spatial axes with size 1: ``(N, C, 1, 1)``.
    """

    def __init__(self, keep_dims: bool = False):
        self._keep_dims = bool(keep_dims)

    def call(self, input):
        C.variable(type(self).__name__, input, min_ndim=3)
        return F.mean(input, axis=tuple(range(2, input.ndim)), keepdims=self._keep_dims)

    def extra_repr(self) -> str:
        return "keep_dims=True" if self._keep_dims else ""
