"""Typed config fields: a dataclass field with its constraint and its documentation.

Config classes are frozen dataclasses whose fields are made with :func:`option`; the
loader (:mod:`nnabla_nas.config.loader`) checks every value against the field's type
and constraint and reports the dotted key of any bad value.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional, Sequence

from ..utils.files import quote


class ConfigError(ValueError):
    """A user's config is wrong; the message starts with the dotted key."""


def option(default: Any, doc: str, *, minimum: Optional[float] = None,
           maximum: Optional[float] = None, exclusive_minimum: bool = False,
           exclusive_maximum: bool = False, choices: Optional[Sequence[Any]] = None,
           default_factory: Any = None) -> Any:
    """A config field with a default, a one-line description and a constraint.

    Args:
        default: The default value (ignored when ``default_factory`` is given).
        doc: What the option means, with its unit.
        minimum: Smallest allowed value.
        maximum: Largest allowed value.
        exclusive_minimum: ``minimum`` itself is not allowed.
        exclusive_maximum: ``maximum`` itself is not allowed.
        choices: The allowed values.
        default_factory: Builds the default (for nested configs).
    """
    metadata = dict(doc=doc, minimum=minimum, maximum=maximum,
                    exclusive_minimum=exclusive_minimum,
                    exclusive_maximum=exclusive_maximum,
                    choices=tuple(choices) if choices is not None else None)
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def describe_constraint(meta: dict) -> str:
    """Words for a field's constraint, e.g. ``> 0`` or ``one of ['cpu', 'cudnn']``."""
    if meta.get("choices"):
        return f"one of {list(meta['choices'])}"
    parts = []
    if meta.get("minimum") is not None:
        parts.append(f"{'>' if meta['exclusive_minimum'] else '>='} {meta['minimum']}")
    if meta.get("maximum") is not None:
        parts.append(f"{'<' if meta['exclusive_maximum'] else '<='} {meta['maximum']}")
    return " and ".join(parts)


def check_constraint(key: str, value: Any, meta: dict, what: str) -> None:
    """Raise :class:`ConfigError` if ``value`` breaks the field's constraint."""
    if value is None:
        return
    choices = meta.get("choices")
    ok = value in choices if choices else True
    lo, hi = meta.get("minimum"), meta.get("maximum")
    if lo is not None:
        ok = ok and (value > lo if meta["exclusive_minimum"] else value >= lo)
    if hi is not None:
        ok = ok and (value < hi if meta["exclusive_maximum"] else value <= hi)
    if not ok:
        constraint = describe_constraint(meta)
        raise ConfigError(f"{key}: expected {what}{' ' + constraint if constraint else ''}, "
                          f"got {quote(value)}")
