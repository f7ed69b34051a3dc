"""Reading and writing files safely: the one atomic-write helper, bounded reads of the
files users hand us, and short quotations of values in messages.

Writes go through a temporary file created exclusively next to the target and an
atomic rename, so a crash never leaves a half-written file and a symbolic link at the
target is replaced, never followed. Reads of user files (configs, JSON) accept only
regular files below a size limit, so ``/dev/zero`` or a 50 MB file is one clear error
instead of a hang or runaway memory.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import reprlib
import shutil
import secrets
import stat
from contextlib import contextmanager
from typing import Any, Iterator, TextIO

#: Largest config or JSON file read (bytes): configs are a few kB, the largest arch.json
#: or profile table a few MB.
MAX_FILE_BYTES = 16 * 1024 * 1024
#: Deepest nesting of lists and mappings accepted in a config or JSON file.
MAX_DEPTH = 64
#: Characters of a value quoted in a message.
MAX_QUOTE = 80

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = MAX_QUOTE
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 8
_REPR.maxlevel = 3


class FileInputError(ValueError):
    """A file a user gave cannot be read: not a regular file, too large, too deep."""


def quote(value: Any, limit: int = MAX_QUOTE) -> str:
    """``repr(value)`` cut to about ``limit`` characters, nested containers elided, so a
    message quoting a user's value stays one short line whatever the value.

    >>> quote("x" * 1000)[:12], len(quote("x" * 1000)) <= 90
    ("'xxxxxxxxxxx", True)
    >>> quote([[1, [2, [3, [4]]]]])
    '[[1, [2, [...]]]]'
    """
    return clip(_REPR.repr(value), limit + 10)


def clip(text: str, limit: int = MAX_QUOTE) -> str:
    """``text`` on one line, cut to ``limit`` characters (``...`` marks a cut)."""
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[:limit] + "..."


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def read_text(path: str, limit: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of the regular file ``path``, refusing anything else.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        FileInputError: naming ``path``, for a folder, a device or pipe, or a file of
            more than ``limit`` bytes.
        UnicodeDecodeError: for a file that is not UTF-8.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise FileInputError(f"{path}: not a regular file")
    with os.fdopen(fd, "rb") as f:
        if info.st_size > limit:
            raise FileInputError(f"{path}: {_mib(info.st_size)}, more than the limit of "
                                 f"{_mib(limit)}")
        data = f.read(limit + 1)
    if len(data) > limit:  # grew while read
        raise FileInputError(f"{path}: more than the limit of {_mib(limit)}")
    return data.decode("utf-8")


def nesting_depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """The nesting depth of lists, tuples and dicts in ``value`` (a scalar: 0), found
    without recursion; counting stops just past ``limit``."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else \
            item if isinstance(item, (list, tuple)) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            break
        stack.extend((c, depth + 1) for c in children)
    return deepest


def loads_json(text: str, source: str, limit: int = MAX_DEPTH, finite: bool = True
               ) -> Any:
    """Parse JSON text strictly: a key given twice in one object, nesting deeper than
    ``limit`` and, with ``finite``, non-finite numbers (``NaN``, ``Infinity``) are
    errors.

    Raises:
        FileInputError: naming ``source`` and the problem.
    """
    def unique(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise FileInputError(f"{source}: {clip(key)}: key given more than once")
            seen.add(key)
        return dict(pairs)

    def non_finite(word):
        raise FileInputError(f"{source}: {clip(word)}: expected finite numbers only")

    def number(word):
        value = float(word)
        if not math.isfinite(value):  # 1e999 overflows to inf
            non_finite(word)
        return value

    try:
        data = json.loads(text, object_pairs_hook=unique,
                          parse_constant=non_finite if finite else None,
                          parse_float=number if finite else None)
    except json.JSONDecodeError as e:
        raise FileInputError(f"{source}: not valid JSON: {e}") from None
    except RecursionError:  # the C parser nests one frame per level
        raise FileInputError(f"{source}: nested more than {limit} levels deep") from None
    if nesting_depth(data, limit) > limit:
        raise FileInputError(f"{source}: nested more than {limit} levels deep")
    return data


def read_json(path: str, limit: int = MAX_FILE_BYTES, finite: bool = True) -> Any:
    """The JSON content of the regular file ``path`` (at most ``limit`` bytes), parsed
    by :func:`loads_json`.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        FileInputError: naming ``path``, for anything :func:`read_text` or
            :func:`loads_json` refuses, or text that is not UTF-8.
    """
    try:
        text = read_text(path, limit)
    except UnicodeDecodeError:
        raise FileInputError(f"{path}: not valid JSON (not UTF-8 text)") from None
    return loads_json(text, path, finite=finite)


def file_sha256(path: str) -> str:
    """The hex SHA-256 digest of the file ``path``, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


@contextmanager
def atomic_path(path: str, extension: str = "", folder: bool = False) -> Iterator[str]:
    """A fresh temporary path next to ``path`` to write to; it replaces ``path`` only if
    the block finishes without an exception, and is gone afterwards in every case, so a
    crash never leaves a half-written file at ``path``.

    The temporary file (or folder) is created exclusively with a unique name, so no
    link planted in advance is followed, and the rename replaces a symbolic link at
    ``path`` instead of writing through it.

    Args:
        path: The final file (or folder).
        extension: Ending of the temporary name, for writers that pick the format
            from the file name (NNabla's ``save`` does).
        folder: Yield an empty temporary folder instead of a file; an existing folder
            at ``path`` is replaced whole.

    Raises:
        FileNotFoundError: when the folder of ``path`` does not exist.
    """
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"{path}: the folder {parent!r} does not exist")
    # Unique and created exclusively (mode as any new file: 0o666 less the umask).
    tmp = os.path.join(parent, f".{os.path.basename(path)}.tmp-{os.getpid()}-"
                               f"{secrets.token_hex(4)}{extension}")
    if folder:
        os.mkdir(tmp)
    else:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        if folder and os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        _remove(tmp)


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (see
    :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


def write_json(path: str, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def open_append(path: str) -> TextIO:
    """``path`` opened for appending text, created if missing; a symbolic link or
    anything but a regular file there is refused, never followed.

    Raises:
        OSError: if ``path`` is a symbolic link (``ELOOP``), not a regular file, or
            cannot be opened.
    """
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    if os.path.islink(path):
        raise OSError(f"{path}: a symbolic link; refusing to write through it")
    fd = os.open(path, flags | getattr(os, "O_NONBLOCK", 0), 0o644)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{path}: not a regular file")
    return os.fdopen(fd, "a", encoding="utf-8")
