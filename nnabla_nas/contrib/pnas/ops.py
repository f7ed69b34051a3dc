"""The candidate operations of a ProxylessNAS block, registered by their ``arch.json``
names in :data:`CANDIDATES`; each factory is called as
``factory(in_channels, out_channels, stride, rng)``.

``k<kernel>_e<expansion>`` is an :class:`~.blocks.InvertedResidual` with that depthwise
kernel and expansion ratio (Cai et al., 2019, section 4: kernels 3, 5, 7 and
expansions 3, 6); ``skip`` is an :class:`~nnabla_nas.module.Identity`, for blocks that
keep their input's shape.

Example:
    >>> import nnabla as nn
    >>> op = CANDIDATES.get("k5_e6")(16, 24, 2, None)
    >>> op(nn.Variable((1, 16, 8, 8))).shape
    (1, 24, 4, 4)
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from ... import module as Mo
from ...module import Module
from ...registry import Registry
from .blocks import InvertedResidual

#: Factories ``(in_channels, out_channels, stride, rng) -> Module``, by candidate name.
CANDIDATES = Registry("proxylessnas candidate operation")

Factory = Callable[[int, int, int, Optional[np.random.RandomState]], Module]


def _inverted_residual(kernel: int, expansion: int) -> Factory:
    def factory(in_channels: int, out_channels: int, stride: int,
                rng: Optional[np.random.RandomState] = None) -> Module:
        return InvertedResidual(in_channels, out_channels, kernel, stride, expansion, rng)

    factory.__doc__ = (f"Inverted residual: 1x1 expansion by {expansion}, {kernel}x{kernel} "
                       "depthwise convolution, 1x1 linear projection.")
    return factory


for _kernel in (3, 5, 7):
    for _expansion in (3, 6):
        CANDIDATES.register(f"k{_kernel}_e{_expansion}")(
            _inverted_residual(_kernel, _expansion))


@CANDIDATES.register("skip")
def skip(in_channels: int, out_channels: int, stride: int,
         rng: Optional[np.random.RandomState] = None) -> Module:
    """Identity: the block is skipped (only where it keeps its input's shape)."""
    return Mo.Identity()
