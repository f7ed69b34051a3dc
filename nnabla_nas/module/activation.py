"""Element-wise activations: `ReLU`, `ReLU6`, `LeakyReLU`, `Hswish`, `Hsigmoid`, and
:func:`reuse_relu`, which lets ReLUs applied to one variable share their output."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Dict, Iterator, List, Tuple

import nnabla.functions as F

from . import checks as C
from .module import Module

# The memos of the open reuse_relu() blocks: id(input) -> (input, output).
_REUSE: List[Dict[int, Tuple[object, object]]] = []


@contextmanager
def reuse_relu() -> Iterator[None]:
    """Within the block, every (not in-place) :class:`ReLU` called on a variable that a
    ReLU of the block was already called on returns that call's output instead of
    adding a function: the same values and gradients with one buffer instead of
    several. DARTS edges apply several candidates that each start with a ReLU to one
    state, so building the supernet in this block computes each state's ReLU once.

    The block's ReLU outputs are also recomputed in the backward pass instead of held
    from the forward pass (NNabla's ``Variable.recompute``): a ReLU is cheap to redo,
    and its input, a DARTS state, is held anyway for the max pooling and the weighted
    skip connection that read it. On the DARTS supernet step this holds 7-8% less
    memory (``bench/vs_reference.py``, ``darts_step``).
    """
    _REUSE.append({})
    try:
        yield
    finally:
        _REUSE.pop()


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
        if self._inplace or not _REUSE:
            return F.relu(x, inplace=self._inplace)
        memo = _REUSE[-1]
        seen = memo.get(id(x))
        if seen is None or seen[0] is not x:
            seen = memo[id(x)] = (x, F.relu(x))
            seen[1].recompute = True
        return seen[1]

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
