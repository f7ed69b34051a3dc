"""Atomic writes of the exported files."""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def atomic_path(path: str, extension: str = "") -> Iterator[str]:
    """A temporary path next to ``path`` to write to; it replaces ``path`` only if the
    block finishes without an exception, so an interrupted export never leaves a
    truncated file at ``path``.

    Args:
        path: The final file.
        extension: Ending of the temporary name, for writers that pick the format
            from the file name (NNabla's ``save`` does).
    """
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{path}: the folder {folder!r} does not exist")
    tmp = f"{path}.tmp-{os.getpid()}{extension}"
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
