"""Refusing a build whose memory would clearly exceed the machine, before allocating.

Inside :func:`memory_budget`, every parameter created is charged (its value and its
gradient, float32) before its array is allocated; once the total passes the budget (by
default the machine's physical memory), :class:`MemoryLimitError` names the figure.
Outside the block nothing is checked: the budget is a scoped switch, not a global one.
"""
from __future__ import annotations

import contextvars
import os
from contextlib import contextmanager
from typing import Iterator, Optional

#: Bytes charged per parameter value: float32 value and gradient.
BYTES_PER_VALUE = 2 * 4


class MemoryLimitError(RuntimeError):
    """A network would need more memory than the machine has."""


class _Budget:
    def __init__(self, limit: int, what: str):
        self.limit, self.what, self.used = limit, what, 0


_BUDGET: contextvars.ContextVar[Optional[_Budget]] = contextvars.ContextVar(
    "nnabla_nas_memory_budget", default=None)


def physical_memory() -> Optional[int]:
    """The machine's physical memory in bytes, or None where it cannot be read."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def gib(n: float) -> str:
    """Bytes in GiB, for messages."""
    return f"{n / (1 << 30):.1f} GiB"


@contextmanager
def memory_budget(what: str, limit: Optional[int] = None) -> Iterator[None]:
    """Within the block, refuse parameters beyond ``limit`` bytes in total.

    Args:
        what: What is built, for the message (``"the search network"``).
        limit: Bytes; default: the machine's physical memory (no check if unknown).
    """
    limit = physical_memory() if limit is None else limit
    token = _BUDGET.set(_Budget(limit, what) if limit else None)
    try:
        yield
    finally:
        _BUDGET.reset(token)


def charge_values(count: int) -> None:
    """Charge ``count`` parameter values to the current budget, if any.

    Raises:
        MemoryLimitError: naming the figure, once the total passes the budget.
    """
    budget = _BUDGET.get()
    if budget is None:
        return
    budget.used += int(count) * BYTES_PER_VALUE
    if budget.used > budget.limit:
        raise MemoryLimitError(
            f"{budget.what}: its parameters alone (values and gradients) need more than "
            f"{gib(budget.used)}, and this machine has {gib(budget.limit)}; choose "
            "smaller sizes (channels, cells, input shape)")
