"""Validation of dataset options; each helper names the option it checks, so a bad value
fails with a message such as ``valid_fraction: expected a float in (0, 1), got 1.5``."""
from __future__ import annotations

import numbers
from typing import Any

#: Seeds must fit numpy's ``RandomState``.
MAX_SEED = 2**32 - 1


def fraction(name: str, value: Any) -> float:
    """Return ``value`` as a float strictly between 0 and 1."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool) \
            or not 0 < value < 1:
        raise ValueError(f"{name}: expected a float in (0, 1), got {value!r}")
    return float(value)


def boolean(name: str, value: Any) -> bool:
    """Return ``value`` if it is a bool (not merely truthy)."""
    if not isinstance(value, bool):
        raise ValueError(f"{name}: expected true or false, got {value!r}")
    return value


def non_empty_str(name: str, value: Any) -> str:
    """Return ``value`` if it is a non-empty string."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name}: expected a non-empty string, got {value!r}")
    return value


def positive_int(name: str, value: Any) -> int:
    """Return ``value`` as an int >= 1."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return int(value)


def seed(value: Any, name: str = "seed") -> int:
    """Return ``value`` as an int usable as a ``RandomState`` seed."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) \
            or not 0 <= value <= MAX_SEED:
        raise ValueError(f"{name}: expected an int in [0, {MAX_SEED}], got {value!r}")
    return int(value)


def non_negative_int(name: str, value: Any) -> int:
    """Return ``value`` as an int >= 0."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name}: expected an int >= 0, got {value!r}")
    return int(value)
