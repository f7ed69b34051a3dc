"""Validation of constructor arguments and call inputs, shared by every layer.

Each helper names the argument it checks, so a bad value fails with a message such as
``Conv: kernel: expected a tuple of positive ints, got 3``.
"""
from __future__ import annotations

import numbers
from typing import Any, Optional, Sequence, Tuple

import nnabla as nn


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def positive_int(owner: str, name: str, value: Any) -> int:
    """Return ``value`` as an int, or raise if it is not a positive integer."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"{owner}: {name}: expected a positive int, got {value!r}")
    return int(value)


def int_tuple(owner: str, name: str, value: Any, length: Optional[int] = None,
              minimum: int = 0) -> Tuple[int, ...]:
    """Return ``value`` as a tuple of ints ``>= minimum``.

    An int is broadcast to ``length`` entries when ``length`` is known.
    """
    if _is_int(value) and length is not None:
        value = (value,) * length
    what = f"a tuple of ints >= {minimum}" + (f" of length {length}" if length else "")
    if not isinstance(value, (tuple, list)) or not value \
            or not all(_is_int(v) and v >= minimum for v in value):
        raise ValueError(f"{owner}: {name}: expected {what}, got {value!r}")
    if length is not None and len(value) != length:
        raise ValueError(f"{owner}: {name}: expected {what}, got {value!r}")
    return tuple(int(v) for v in value)


def optional_int_tuple(owner: str, name: str, value: Any, length: int,
                       minimum: int = 0) -> Optional[Tuple[int, ...]]:
    """Like :func:`int_tuple`, but ``None`` stays ``None`` (NNabla's default)."""
    return None if value is None else int_tuple(owner, name, value, length, minimum)


def probability(owner: str, name: str, value: Any, allow_one: bool = False) -> float:
    """Return ``value`` as a float in [0, 1) (or [0, 1] with ``allow_one``)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and (
        0.0 <= value <= 1.0 if allow_one else 0.0 <= value < 1.0)
    if not ok:
        bound = "1]" if allow_one else "1)"
        raise ValueError(f"{owner}: {name}: expected a float in [0, {bound}, got {value!r}")
    return float(value)


def one_of(owner: str, name: str, value: Any, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{owner}: {name}: expected one of {list(choices)}, got {value!r}")
    return value


def variable(owner: str, value: Any, name: str = "input", ndim: Optional[int] = None,
             min_ndim: int = 1) -> nn.Variable:
    """Check that a call input is an ``nn.Variable`` of a usable rank."""
    if not isinstance(value, nn.Variable):
        raise TypeError(f"{owner}: {name}: expected an nnabla.Variable, "
                        f"got {type(value).__name__}")
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{owner}: {name}: expected {ndim} dimensions, "
                         f"got shape {tuple(value.shape)}")
    if value.ndim < min_ndim:
        raise ValueError(f"{owner}: {name}: expected at least {min_ndim} dimensions, "
                         f"got shape {tuple(value.shape)}")
    return value


def axis_size(owner: str, value: nn.Variable, axis: int, expected: int,
              what: str, name: str = "input") -> None:
    """Check that ``value.shape[axis] == expected`` (e.g. the channel count)."""
    if not -value.ndim <= axis < value.ndim or value.shape[axis] != expected:
        raise ValueError(f"{owner}: {name}: expected {expected} {what} at axis {axis}, "
                         f"got shape {tuple(value.shape)}")
