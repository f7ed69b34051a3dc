"""A trained supernet on disk: ``supernet.h5`` (its parameters, NNabla's format) next
to ``supernet.json``, which says what it is::

    {"space": "proxylessnas", "options": {...the space's search options...},
     "trainer": "spos", "epochs": 10, "sha256": "<hex digest of supernet.h5>"}

The supernet trainers write it with :func:`write_supernet`; the black-box searchers
read it with :func:`read_supernet`, which refuses a supernet of another space, other
options, or whose parameters changed since it was written. Both sides are here, so the
format is written once.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Dict

from ..config.fields import ConfigError
from ..contrib.architecture import plain
from ..contrib.model import Model
from ..utils.files import FileInputError, file_sha256, read_json, write_json

#: File names in a run folder.
WEIGHTS, META = "supernet.h5", "supernet.json"


def space_options(options: Any) -> Dict[str, Any]:
    """A space's search options as JSON values (how ``supernet.json`` records them)."""
    return plain(dataclasses.asdict(options))


def meta_path(weights: str) -> str:
    """The ``supernet.json`` that describes the parameters file ``weights``."""
    return os.path.join(os.path.dirname(os.path.abspath(weights)), META)


def write_supernet(model: Model, weights: str, space: str, options: Any, trainer: str,
                   epochs: int) -> str:
    """Save ``model``'s parameters to ``weights`` and describe them in the
    ``supernet.json`` next to it (both atomically, the description last); returns
    ``weights``."""
    model.save_parameters(weights)
    write_json(meta_path(weights), {"space": space, "options": space_options(options),
                                    "trainer": trainer, "epochs": int(epochs),
                                    "sha256": file_sha256(weights)})
    return weights


def read_supernet(weights: str, space: str, options: Any, key: str) -> Dict[str, Any]:
    """The description of the supernet saved at ``weights``, after checking that it
    is one of ``space`` with ``options`` and that the file is the one described.

    Raises:
        ConfigError: starting with ``key`` (the config key that named the file), for a
            missing or damaged file, or a supernet of another space or other options.
    """
    meta_file = meta_path(weights)
    if not os.path.isfile(weights):
        raise ConfigError(f"{key}: {weights}: no such file")
    try:
        meta = read_json(meta_file)
    except (OSError, FileInputError) as e:
        raise ConfigError(f"{key}: {meta_file}: cannot read the supernet's description "
                          f"({e})") from None
    fields = ("space", "options", "trainer", "epochs", "sha256")
    if not isinstance(meta, dict) or any(f not in meta for f in fields):
        raise ConfigError(f"{key}: {meta_file}: expected an object with keys "
                          f"{', '.join(fields)}")
    if meta["space"] != space:
        raise ConfigError(f"{key}: a supernet of the space {meta['space']!r}, expected "
                          f"one of {space!r} (search.space.name)")
    expected = space_options(options)
    if meta["options"] != expected:
        got = meta["options"] if isinstance(meta["options"], dict) else {}
        differ = sorted(k for k in set(expected) | set(got)
                        if got.get(k) != expected.get(k))
        raise ConfigError(f"{key}: a supernet built with other options of the space "
                          f"(search.space.{', search.space.'.join(differ[:4])} differ)")
    if file_sha256(weights) != meta["sha256"]:
        raise ConfigError(f"{key}: {weights}: its sha256 is not the one {META} records "
                          "(the file changed after it was written)")
    return meta
