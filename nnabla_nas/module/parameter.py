"""`Parameter`: an ``nn.Variable`` that a :class:`Module` registers as its own."""
from __future__ import annotations

import math
import numbers
from typing import Any, Callable, Sequence, Union

import nnabla as nn
import numpy as np

from ..utils.memory import allocate

Initializer = Union[None, np.ndarray, numbers.Real, Callable[..., Any]]


def _shape(value: Any) -> tuple:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, (tuple, list)) or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 0
            for v in value):
        raise ValueError(f"Parameter: shape: expected a tuple of non-negative ints, "
                         f"got {value!r}")
    return tuple(int(v) for v in value)


class Parameter(nn.Variable):
    """A variable that becomes a parameter of the module it is assigned to.

    Assigning a ``Parameter`` to an attribute of a :class:`Module` registers it under
    that attribute's name, so it appears in ``get_parameters()``, is saved and loaded,
    and is seen by solvers. A plain ``nn.Variable`` with ``need_grad=False`` is not
    registered: use it for constants.

    Args:
        shape: The shape of the parameter.
        need_grad: Whether solvers should compute and apply its gradient.
        initializer: ``None`` (zeros), a number (constant), a numpy array of the same
            shape, or a callable such as an ``nnabla.initializer`` object, called as
            ``initializer(shape=shape)``.

    Values are stored as float32 and the gradient starts at zero.
    """

    def __new__(cls, shape: Sequence[int], need_grad: bool = True,
                initializer: Initializer = None):
        shape = _shape(shape)
        return super().__new__(cls, shape, need_grad=bool(need_grad))

    def __init__(self, shape: Sequence[int], need_grad: bool = True,
                 initializer: Initializer = None):
        shape = tuple(self.shape)
        if not allocate(math.prod(shape)):  # a build that only counts parameters
            return
        if initializer is None:
            value = np.zeros(shape, dtype=np.float32)
        elif isinstance(initializer, numbers.Real) and not isinstance(initializer, bool):
            value = np.full(shape, initializer, dtype=np.float32)
        elif isinstance(initializer, np.ndarray):
            if initializer.shape != shape:
                raise ValueError(f"Parameter: initializer: array of shape "
                                 f"{initializer.shape} does not match shape {shape}")
            value = initializer
        elif callable(initializer):
            value = np.asarray(initializer(shape=shape))
            if value.shape != shape:
                raise ValueError(f"Parameter: initializer: {initializer!r} returned shape "
                                 f"{value.shape}, expected {shape}")
        else:
            raise TypeError("Parameter: initializer: expected None, a number, a numpy "
                            f"array or a callable, got {type(initializer).__name__}")
        self.data.cast(np.float32)[...] = value
        # Zero without allocating: the buffer appears when a backward first writes it,
        # so candidates a sampled search never runs cost no gradient memory.
        self.grad.zero()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(shape={tuple(self.shape)}, "
                f"need_grad={self.need_grad})")


class ArchParameter(Parameter):
    """An architecture parameter: the weights of a choice's candidates (a
    :class:`~nnabla_nas.module.MixedOp`'s ``alpha``), as opposed to a network weight.

    It is registered and saved like any :class:`Parameter`; what makes it an
    architecture parameter is its kind, tested with :func:`is_arch_parameter`, so that
    searchers optimise it apart from the weights whatever it is named. (By convention
    its name still holds ``alpha``, as older code filtering on names expects.)
    """


def is_arch_parameter(param: nn.Variable) -> bool:
    """Whether ``param`` is an architecture parameter (an :class:`ArchParameter`)."""
    return isinstance(param, ArchParameter)
