"""Element-wise activations: `ReLU`, `ReLU6`, `LeakyReLU`, `Hswish`, `Hsigmoid`."""
from __future__ import annotations

import nnabla.functions as F

from . import checks as C
from .module import Module


class _Activation(Module):
    """An element-wise function of one variable."""

    def call(self, input):
        C.variable(type(self).__name__, input)
        return self._forward(input)

    def _forward(self, x):  # pragma: no cover - abstract
        raise NotImplementedError


class ReLU(_Activation):
    """``max(x, 0)``.

    Args:
        inplace: Let NNabla overwrite the input buffer (saves memory; the input must
            not be needed elsewhere).
    """

    def __init__(self, inplace: bool = False):
        self._inplace = bool(inplace)

    def _forward(self, x):
        return F.relu(x, inplace=self._inplace)

    def extra_repr(self) -> str:
        return f"inplace={self._inplace}" if self._inplace else ""


class ReLU6(_Activation):
    """``min(max(x, 0), 6)``."""

    def _forward(self, x):
        return F.relu6(x)


class LeakyReLU(_Activation):
    """``x`` if ``x > 0`` else ``alpha * x``.

    Args:
        alpha: Slope for negative inputs (a constant, not an architecture parameter).
        inplace: Let NNabla overwrite the input buffer.
    """

    def __init__(self, alpha: float = 0.1, inplace: bool = False):
        self._slope = float(alpha)
        self._inplace = bool(inplace)

    def _forward(self, x):
        return F.leaky_relu(x, alpha=self._slope, inplace=self._inplace)

    def extra_repr(self) -> str:
        return f"alpha={self._slope}"


class Hsigmoid(_Activation):
    """Hard sigmoid of MobileNetV3: ``relu6(x + 3) / 6``.

    (NNabla's own ``hard_sigmoid`` is ``clip(0.2 x + 0.5, 0, 1)``, a different curve.)
    """

    def _forward(self, x):
        return F.relu6(x + 3.0) / 6.0


class Hswish(_Activation):
    """Hard swish of MobileNetV3: ``x * relu6(x + 3) / 6``."""

    def _forward(self, x):
        return x * F.relu6(x + 3.0) / 6.0
