"""Stopping a run cleanly on Ctrl-C (SIGINT) or SIGTERM.

Inside :func:`graceful_interrupts` (installed by the command that runs the epochs, not
at import), the first signal only sets a flag; the epoch loop looks at it between
steps (:func:`requested`), writes a checkpoint and raises :class:`Interrupted`, which
the command line reports in one line with exit status 128 + the signal number (130
for SIGINT, 143 for SIGTERM). A second signal raises :class:`Interrupted` at once,
wherever the run is; the newest complete checkpoint stays the one a rerun resumes.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator, List, Optional

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(Exception):
    """The run was stopped by a signal; the message says where and how to resume.

    Attributes:
        signum: The signal.
        exit_status: 128 + the signal number, as shells report a signal.
    """

    def __init__(self, signum: int, message: str):
        super().__init__(f"interrupted by {signal.Signals(signum).name}: {message}")
        self.signum = signum
        self.exit_status = 128 + int(signum)


#: The flags of the active :func:`graceful_interrupts` blocks (innermost last).
_ACTIVE: List[dict] = []


@contextmanager
def graceful_interrupts() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM set a flag (see :func:`requested`) instead
    of stopping the process; a second one raises :class:`Interrupted` at once. The
    previous handlers are restored on exit. Outside the main thread (where handlers
    cannot be set) the block changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    state: dict = {"signum": None}

    def handler(signum, frame):
        if state["signum"] is not None:
            raise Interrupted(signum, "stopped at once by a second signal; the newest "
                                      "complete checkpoint is kept; rerun the same "
                                      "command to resume from it")
        state["signum"] = signum

    previous = {s: signal.signal(s, handler) for s in SIGNALS}
    _ACTIVE.append(state)
    try:
        yield
    finally:
        _ACTIVE.remove(state)
        for s, old in previous.items():
            signal.signal(s, old)


def requested() -> Optional[int]:
    """The signal received inside the innermost :func:`graceful_interrupts` block, or
    None."""
    return _ACTIVE[-1]["signum"] if _ACTIVE else None


def stop_if_requested(where: str) -> None:
    """Raise :class:`Interrupted` (saying ``where`` the run stopped) if a signal was
    received."""
    signum = requested()
    if signum is not None:
        raise Interrupted(signum, where)
