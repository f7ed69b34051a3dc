"""`Linear`: a fully connected layer."""
from __future__ import annotations

from typing import Any, Optional

import nnabla.functions as F
import numpy as np

from . import checks as C
from .convolution import _weight_and_bias
from .module import Module


class Linear(Module):
    """Fully connected layer, wrapping ``nnabla.functions.affine``.

    Axes from ``base_axis`` on are flattened into ``in_features``.

    Args:
        in_features: Size of the flattened input.
        out_features: Size of the output.
        base_axis: Axes before it are sample axes.
        w_init: Weight initializer (default: Glorot uniform).
        b_init: Bias initializer (default: zeros).
        rng: Random state for the default initializer.
        with_bias: Whether to add a bias.
        fix_parameters: Keep the parameters constant (``need_grad=False``).
        bias: Older spelling of ``with_bias``, kept for existing code.
    """

    def __init__(self, in_features: int, out_features: int, base_axis: int = 1,
                 w_init: Any = None, b_init: Any = None,
                 rng: Optional[np.random.RandomState] = None, with_bias: bool = True,
                 fix_parameters: bool = False, bias: Optional[bool] = None):
        name = type(self).__name__
        self._in_features = C.positive_int(name, "in_features", in_features)
        self._out_features = C.positive_int(name, "out_features", out_features)
        self._base_axis = int(base_axis)
        with_bias = with_bias if bias is None else bias
        _weight_and_bias(self, (in_features, out_features), in_features, out_features, (),
                         w_init, b_init, out_features, with_bias, fix_parameters, rng)

    def call(self, input):
        name = type(self).__name__
        C.variable(name, input, min_ndim=self._base_axis + 1)
        features = int(np.prod(input.shape[self._base_axis:]))
        if features != self._in_features:
            raise ValueError(f"{name}: input: expected {self._in_features} features from "
                             f"axis {self._base_axis} on, got shape {tuple(input.shape)}")
        return F.affine(input, self.W, self.b, base_axis=self._base_axis)

    def extra_repr(self) -> str:
        return (f"in_features={self._in_features}, out_features={self._out_features}, "
                f"with_bias={self.b is not None}")
