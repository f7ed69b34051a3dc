"""Refusing a build whose memory would clearly exceed the machine, before allocating.

:func:`checked_build` first builds a network in counting mode (:func:`counting`),
where a parameter only counts its values and allocates nothing, then refuses with
:class:`MemoryLimitError` and the figure when the values and gradients (float32) would
not fit in the machine's physical memory, and only then builds it for real. The random
generators are restored in between, so the real build is the one a direct build would
make. Outside these scoped switches nothing is checked.
"""
from __future__ import annotations

import contextvars
import os
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional, TypeVar

import nnabla.random
import numpy as np

T = TypeVar("T")

#: Bytes charged per parameter value: float32 value and gradient.
BYTES_PER_VALUE = 2 * 4


class MemoryLimitError(RuntimeError):
    """A network would need more memory than the machine has."""


class Count:
    """Parameter values created inside :func:`counting`."""

    def __init__(self):
        self.values = 0


_COUNT: contextvars.ContextVar[Optional[Count]] = contextvars.ContextVar(
    "nnabla_nas_parameter_count", default=None)


def physical_memory() -> Optional[int]:
    """The machine's physical memory in bytes, or None where it cannot be read."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def size_text(n: float) -> str:
    """Bytes in GiB (or MiB, KiB for less), for messages."""
    for shift, unit in ((30, "GiB"), (20, "MiB"), (10, "KiB")):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.1f} {unit}"
    return f"{int(n)} bytes"


def require_memory(nbytes: int, what: str) -> None:
    """Refuse to go on when ``what`` needs ``nbytes``, more than the machine has.

    Raises:
        MemoryLimitError: naming ``what`` and both figures.
    """
    limit = physical_memory()
    if limit and nbytes > limit:
        raise MemoryLimitError(f"{what}: needs {size_text(nbytes)}, and this machine "
                               f"has {size_text(limit)}; choose smaller sizes (channels, "
                               "cells, input shape)")


@contextmanager
def counting() -> Iterator[Count]:
    """Within the block, a new parameter counts its values and allocates nothing (see
    :func:`allocate`); the yielded :class:`Count` holds the total."""
    count = Count()
    token = _COUNT.set(count)
    try:
        yield count
    finally:
        _COUNT.reset(token)


def allocate(values: int) -> bool:
    """Called by a new parameter of ``values`` values: False (after counting them)
    inside :func:`counting`, where it must not allocate; True elsewhere."""
    count = _COUNT.get()
    if count is None:
        return True
    count.values += int(values)
    return False


def require_fits(what: str, build: Callable[[np.random.RandomState], Any], seed: int
                 ) -> None:
    """Build ``build(np.random.RandomState(seed))`` in counting mode, allocating no
    parameter, and refuse if its parameters would not fit in memory. The random
    generators are left as they were.

    Raises:
        MemoryLimitError: naming ``what`` and the figure.
    """
    numpy_state, nnabla_state = np.random.get_state(), nnabla.random.prng.get_state()
    try:
        with counting() as count:
            build(np.random.RandomState(seed))
    finally:
        np.random.set_state(numpy_state)
        nnabla.random.prng.set_state(nnabla_state)
    require_memory(count.values * BYTES_PER_VALUE, f"{what}: its {count.values:,} "
                   "parameters (values and gradients)")


def checked_build(what: str, build: Callable[[np.random.RandomState], T], seed: int
                  ) -> T:
    """``build(np.random.RandomState(seed))``, after :func:`require_fits` showed that
    its parameters fit in memory.

    Raises:
        MemoryLimitError: naming ``what`` and the figure, before anything large is
            allocated.
    """
    require_fits(what, build, seed)
    return build(np.random.RandomState(seed))
