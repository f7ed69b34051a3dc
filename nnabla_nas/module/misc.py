"""Small structural layers: `Identity`, `Zero`, `Dropout`, `Merging` and `Lambda`."""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import nnabla.functions as F
import nnabla.random

from . import checks as C
from .module import Module


def graph_seed() -> int:
    """A seed for a random function being added to a graph, drawn from
    ``nnabla.random.prng``.

    Random functions created with ``seed=-1`` draw their seed lazily, in the order the
    graph happens to be set up; an explicit seed drawn while the graph is built makes
    their streams depend only on ``nnabla.random.seed`` and the build order, which is
    what lets an interrupted run replay them exactly.
    """
    return int(nnabla.random.prng.randint(1, 2 ** 31 - 1))


class Identity(Module):
    """Returns its input unchanged."""

    def call(self, input):
        return C.variable(type(self).__name__, input)


class Zero(Module):
    """Returns zeros of the input's shape, or of the strided shape with ``stride``.

    It is the ``none`` candidate of DARTS: it contributes nothing and passes no gradient.

    Args:
        stride: Subsampling per trailing spatial axis; output size ``ceil(size / s)``,
            as a padded convolution of that stride gives.
    """

    def __init__(self, stride: Optional[Sequence[int]] = None):
        self._stride = None if stride is None else C.int_tuple(
            type(self).__name__, "stride", stride, minimum=1)

    def call(self, input):
        C.variable(type(self).__name__, input)
        shape = list(input.shape)
        if self._stride is not None:
            if len(self._stride) > input.ndim:
                raise ValueError(f"Zero: input: stride {self._stride} has more axes than "
                                 f"the input shape {tuple(input.shape)}")
            first = input.ndim - len(self._stride)
            for i, s in enumerate(self._stride):
                shape[first + i] = (shape[first + i] - 1) // s + 1
        return F.constant(0.0, shape)

    def extra_repr(self) -> str:
        return f"stride={self._stride}" if self._stride else ""


class Dropout(Module):
    """Zeroes each element with probability ``drop_prob`` while training and rescales
    the rest by ``1 / (1 - drop_prob)``; the identity when not training.

    Args:
        drop_prob: Probability of dropping an element, in [0, 1).
    """

    def __init__(self, drop_prob: float = 0.5):
        self._drop_prob = C.probability(type(self).__name__, "drop_prob", drop_prob)

    def call(self, input):
        C.variable(type(self).__name__, input)
        if not self.training or self._drop_prob == 0.0:
            return input
        # The mask comes from F.rand rather than F.dropout: an input-free random
        # function can be replayed, which makes interrupted runs resume exactly.
        keep = 1.0 - self._drop_prob
        mask = F.less_scalar(F.rand(shape=input.shape, seed=graph_seed()), keep)
        return input * F.mul_scalar(mask, 1.0 / keep)

    def extra_repr(self) -> str:
        return f"drop_prob={self._drop_prob}"


class Merging(Module):
    """Merges several variables into one.

    Args:
        mode: ``'concat'`` (along ``axis``), ``'add'`` or ``'mul'`` (element-wise).
        axis: The concatenation axis.
    """

    MODES = ("concat", "add", "mul")

    def __init__(self, mode: str = "concat", axis: int = 1):
        self._mode = C.one_of(type(self).__name__, "mode", mode, self.MODES)
        self._axis = int(axis)

    def call(self, *inputs):
        name = type(self).__name__
        if not inputs:
            raise ValueError(f"{name}: expected at least one input")
        for i, x in enumerate(inputs):
            C.variable(name, x, name=f"input {i}")
        if len(inputs) == 1:
            return inputs[0]
        if self._mode == "concat":
            return F.concatenate(*inputs, axis=self._axis)
        shapes = {tuple(x.shape) for x in inputs}
        if len(shapes) > 1:
            raise ValueError(f"{name}: mode '{self._mode}' needs inputs of one shape, got "
                             f"{[tuple(x.shape) for x in inputs]}")
        return F.add_n(*inputs) if self._mode == "add" else F.mul_n(*inputs)

    def extra_repr(self) -> str:
        return f"mode={self._mode}, axis={self._axis}"


class Lambda(Module):
    """Wraps a parameter-free function of variables, such as ``lambda x: x * 2``.

    Args:
        func: The function; it must not create parameters.
        name: Shown in the module's repr (default: the function's name).
    """

    def __init__(self, func: Callable, name: Optional[str] = None):
        if not callable(func):
            raise TypeError(f"Lambda: func: expected a callable, got {type(func).__name__}")
        self._func = func
        self._name = name or getattr(func, "__name__", type(func).__name__)

    def call(self, *inputs, **kwargs):
        return self._func(*inputs, **kwargs)

    def extra_repr(self) -> str:
        return f"func={self._name}"
