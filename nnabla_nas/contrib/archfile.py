"""What every space's ``arch.json`` shares: strict JSON reading and the header check
(a JSON object of exactly the expected keys, the right ``space`` and ``version``).
Errors name the file (``source``) and the key."""
from __future__ import annotations

import os
from typing import Any, Sequence, Union

import numpy as np

from ..utils.files import read_json

PathLike = Union[str, "os.PathLike[str]"]


def is_int(value: Any) -> bool:
    """An integer, and not a bool (JSON ``true`` is not a count)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_keys(source: str, prefix: str, data: dict, keys: Sequence[str]) -> None:
    """``data`` has exactly ``keys``: the first unknown or missing one is named, after
    ``prefix`` (e.g. ``blocks[2].``)."""
    for key in data:
        if key not in keys:
            raise ValueError(f"{source}: {prefix}{key}: unknown key; expected {list(keys)}")
    for key in keys:
        if key not in data:
            raise ValueError(f"{source}: {prefix}{key}: missing key")


def check_header(source: str, data: Any, space: str, version: int,
                 keys: Sequence[str]) -> None:
    """``data`` is an architecture of ``space``, in ``version``, with exactly ``keys``.

    The space is checked before the keys: a file of another space has other keys, and
    saying so is more useful than naming the first key it lacks.
    """
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a JSON object with keys {list(keys)}, "
                         f"got {type(data).__name__}")
    if "space" in data and data["space"] != space:
        raise ValueError(f"{source}: space: expected {space!r}, got {data['space']!r}"
                         " (an architecture of another search space)")
    check_keys(source, "", data, keys)
    if not is_int(data["version"]) or data["version"] != version:
        raise ValueError(f"{source}: version: expected {version}, got "
                         f"{data['version']!r}")


def read_json_strict(path: PathLike) -> Any:
    """The JSON content of ``path``; a key given twice in one object is an error.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: naming the file, for invalid JSON or a repeated key.
    """
    return read_json(os.fspath(path))  # bounded: a regular file, size, depth, finite
