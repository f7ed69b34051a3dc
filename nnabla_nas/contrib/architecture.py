"""Architectures as labelled choices, and the one ``arch.json`` format of every space.

Every decision of a search space is a :class:`Choice`: a stable label
(``normal/node2/edge0``, ``block7``) and its named candidates. An
:class:`Architecture` is the space's name, the options that fix the space's decisions
and the network built from them, and one candidate per label. ``arch.json`` holds
one, one choice per line::

    {
      "space": "proxylessnas",
      "version": 2,
      "options": {"stem": "small", ...},
      "choices": {
        "block1": "k5_e3",
        "block2": "skip",
        ...
      }
    }

Reading checks the form here (:func:`architecture_from_dict`); the space then checks
the labels and candidates (:meth:`~nnabla_nas.contrib.spaces.SearchSpace.validate`).
Files of version 1, written before this format, are converted by their space.

Example:
    >>> arch = Architecture("toy", {"width": 8}, {"layer0": "conv", "layer1": "pool"})
    >>> arch.replace({"layer1": "conv"}).choices["layer1"]
    'conv'
    >>> architecture_from_dict(arch.to_dict()) == arch
    True
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Sequence, Tuple, Union

from ..utils.output import atomic_write_text
from .archfile import check_keys, is_int

#: The ``version`` of the ``arch.json`` files written in this format.
VERSION = 2
_KEYS = ("space", "version", "options", "choices")

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class Choice:
    """One decision of a search space.

    Attributes:
        label: Where it is, stable across runs (``normal/node2/edge0``, ``block7``).
        candidates: The names it chooses among, in the order of its alpha.
    """

    label: str
    candidates: Tuple[str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not self.label:
            raise ValueError(f"Choice: label: expected a non-empty string, got "
                             f"{self.label!r}")
        names = tuple(self.candidates)
        if not names or len(set(names)) != len(names) or not all(
                isinstance(n, str) and n for n in names):
            raise ValueError(f"Choice {self.label}: candidates: expected distinct "
                             f"non-empty names, got {list(names)}")
        object.__setattr__(self, "candidates", names)


def plain(value: Any) -> Any:
    """``value`` as JSON gives it back (tuples become lists), so that an architecture
    built in memory equals the same one read from its file."""
    return json.loads(json.dumps(value))


@dataclass(frozen=True, eq=False)
class Architecture:
    """A discrete architecture of a search space.

    Attributes:
        space: The registered name of the space.
        options: The options that fix the space's decisions and the network built from
            them (JSON values), e.g. the number of nodes of a cell or the stages of a
            MobileNetV2.
        choices: The candidate of every label, in the space's order of labels.

    Equal architectures compare and hash equal; treat the mappings as read-only.
    """

    space: str
    options: Mapping[str, Any] = field(default_factory=dict)
    choices: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", plain(dict(self.options)))
        object.__setattr__(self, "choices", dict(self.choices))

    def key(self) -> str:
        """A canonical string of the whole architecture (hashing, deduplication)."""
        return json.dumps([self.space, self.options, sorted(self.choices.items())],
                          sort_keys=True)

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Architecture) and self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())

    def replace(self, choices: Mapping[str, str]) -> "Architecture":
        """This architecture with the candidates of some labels replaced.

        Raises:
            KeyError: naming a label the architecture does not have.
        """
        unknown = [label for label in choices if label not in self.choices]
        if unknown:
            raise KeyError(f"Architecture.replace: unknown labels {unknown}")
        return Architecture(self.space, self.options, {**self.choices, **choices})

    def __str__(self) -> str:
        return " ".join(f"{label}={name}" for label, name in self.choices.items())

    def to_dict(self) -> Dict[str, Any]:
        """The JSON form of ``arch.json``."""
        return {"space": self.space, "version": VERSION, "options": dict(self.options),
                "choices": dict(self.choices)}


def architecture_from_dict(data: Any, source: str = "architecture",
                           optional: Sequence[str] = ()) -> Architecture:
    """Parse the JSON form strictly: exactly the keys of :meth:`Architecture.to_dict`
    (and, if present, those of ``optional``: the space's own notation of the same
    architecture, which its space checks), this version, options an object, choices an
    object of names.

    Raises:
        ValueError: naming ``source`` and the bad key.
    """
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a JSON object with keys {list(_KEYS)}, got "
                         f"{type(data).__name__}")
    check_keys(source, "", {k: v for k, v in data.items() if k not in optional}, _KEYS)
    if not isinstance(data["space"], str) or not data["space"]:
        raise ValueError(f"{source}: space: expected a space name, got {data['space']!r}")
    if not is_int(data["version"]) or data["version"] != VERSION:
        raise ValueError(f"{source}: version: expected {VERSION}, got {data['version']!r}")
    for key in ("options", "choices"):
        if not isinstance(data[key], dict):
            raise ValueError(f"{source}: {key}: expected a JSON object, got "
                             f"{data[key]!r}")
    for label, name in data["choices"].items():
        if not isinstance(name, str):
            raise ValueError(f"{source}: choices.{label}: expected a candidate name, got "
                             f"{name!r}")
    return Architecture(data["space"], data["options"], data["choices"])


def format_architecture(arch: Architecture, native: Mapping[str, Any] = None) -> str:
    """``arch.json``'s text: two-space indentation, one choice per line, then the keys
    of ``native`` (the space's own notation of ``arch``), one per line."""
    data = arch.to_dict()
    lines = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in data.items()
             if k != "choices"]
    rows = ",\n".join(f"    {json.dumps(label)}: {json.dumps(name)}"
                      for label, name in data["choices"].items())
    lines.append('  "choices": {' + (f"\n{rows}\n  " if rows else "") + "}")
    lines += [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in (native or {}).items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def write_architecture(arch: Architecture, path: PathLike,
                       native: Mapping[str, Any] = None) -> None:
    """Write ``arch`` as ``arch.json``, atomically, with the keys of ``native`` (see
    :func:`format_architecture`)."""
    if not isinstance(arch, Architecture):
        raise TypeError(f"write_architecture: arch: expected an Architecture, got "
                        f"{type(arch).__name__}")
    atomic_write_text(os.fspath(path), format_architecture(arch, native))


def check_choices(source: str, arch: Architecture, choices: Sequence[Choice]) -> None:
    """``arch`` has exactly the labels of ``choices``, each with one of its candidates.

    Raises:
        ValueError: naming ``source``, the label and the candidate, and listing the
            allowed ones.
    """
    allowed = {c.label: c.candidates for c in choices}
    for label, name in arch.choices.items():
        if label not in allowed:
            raise ValueError(f"{source}: choices.{label}: no such decision in space "
                             f"{arch.space!r} with these options; its labels are "
                             f"{_few(list(allowed))}")
        if name not in allowed[label]:
            raise ValueError(f"{source}: choices.{label}: {name!r} is not a candidate "
                             f"here; allowed: {', '.join(allowed[label])}")
    missing = [c.label for c in choices if c.label not in arch.choices]
    if missing:
        raise ValueError(f"{source}: choices: missing labels {_few(missing)}")


def _few(items: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")
