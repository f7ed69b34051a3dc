"""Options described for people: rows of key, type, default, constraint and description.

Config classes document themselves (:func:`nnabla_nas.config.fields.option`), and
components created by name document their keyword arguments in Google-style ``Args:``
sections. This module turns both into plain rows, for ``python main.py list`` and for
the docs, so that what users read cannot drift from the code.

Example:
    >>> from dataclasses import dataclass
    >>> from nnabla_nas.config.fields import option
    >>> @dataclass(frozen=True)
    ... class Size:
    ...     channels: int = option(8, "channels of the first layer", minimum=1)
    >>> option_rows(Size, "net")
    [OptionRow(key='net.channels', type='int', default='8', constraint='>= 1', doc='channels of the first layer')]
"""
from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from typing import Any, Dict, List, Mapping, NamedTuple, Tuple

from .fields import describe_constraint


class OptionRow(NamedTuple):
    """One option: its dotted key, type and default as a YAML user writes them, its
    constraint in words (``>= 1``) and its description ("" when unknown)."""

    key: str
    type: str
    default: str
    constraint: str
    doc: str


class ComponentField(NamedTuple):
    """A config field naming a registered component: its dotted key (``search.space``),
    the registry, and the attribute of a component holding its options dataclass."""

    key: str
    registry: Any
    config_attr: str


def optional_inner(tp: Any) -> Tuple[Any, bool]:
    """``(X, True)`` for ``Optional[X]``, else ``(tp, False)``."""
    if typing.get_origin(tp) is typing.Union:
        args = typing.get_args(tp)
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            return rest[0], True
    return tp, False


def type_name(tp: Any) -> str:
    """A type as a YAML user thinks of it: ``float``, ``[float, float]``,
    ``list of int``, ``str or null``, ``section``."""
    if isinstance(tp, str):  # an annotation that could not be resolved
        return tp
    if tp is type(None):
        return "null"
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union:
        names = [type_name(a) for a in args if a is not type(None)]
        if type(None) in args:
            names.append("null")
        return " or ".join(names)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"list of {type_name(args[0])}"
        return "[" + ", ".join(type_name(a) for a in args) + "]"
    if dataclasses.is_dataclass(tp):
        return "section"
    if hasattr(tp, "from_yaml"):  # a section keyed by names (search.costs)
        return "mapping"
    return getattr(tp, "__name__", str(tp))


def yaml_value(value: Any) -> str:
    """A value as it is written in YAML: ``null``, ``true``, ``[0.9, 0.999]``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(yaml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {yaml_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def default_of(field: dataclasses.Field) -> Any:
    """A dataclass field's default (built by its factory), or ``dataclasses.MISSING``."""
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return field.default_factory()  # type: ignore[misc]
    return dataclasses.MISSING


def plain_text(text: str) -> str:
    """reStructuredText inline markup as plain text: ``:class:`~a.B``` -> ``B``,
    ``:func:`.a.f``` -> ``a.f``, ````x```` -> ``x``; white space folded."""
    def role(match: "re.Match[str]") -> str:
        target = match.group(2).lstrip(".")
        return target.split(".")[-1] if match.group(1) else target

    text = re.sub(r":[\w:]+:`(~?)([^`<]*?)(?:\s*<[^>]*>)?`", role, text)
    text = re.sub(r"``([^`]*)``", r"\1", text)
    return " ".join(text.split())


def summary_line(obj: Any) -> str:
    """The first paragraph of ``obj``'s own docstring (not inherited), as plain text."""
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else obj.__doc__
    return plain_text(inspect.cleandoc(doc or "").split("\n\n")[0])


def option_rows(cls: type, prefix: str = "") -> List[OptionRow]:
    """One row per option of the config dataclass ``cls``, nested sections flattened
    under their dotted key; a component field is the row ``<key>.name``."""
    hints = typing.get_type_hints(cls)
    rows: List[OptionRow] = []
    for field in dataclasses.fields(cls):
        key = f"{prefix}.{field.name}" if prefix else field.name
        meta = field.metadata
        if "registry" in meta:
            rows.append(OptionRow(f"{key}.name", "str", meta["default_name"],
                                  f"one of {meta['registry'].names()}", meta["doc"]))
            continue
        inner, _ = optional_inner(hints[field.name])
        if dataclasses.is_dataclass(inner):
            rows.extend(option_rows(inner, key))
            continue
        default = default_of(field)
        rows.append(OptionRow(key, type_name(hints[field.name]),
                              "" if default is dataclasses.MISSING else yaml_value(default),
                              describe_constraint(dict(meta)), meta.get("doc", "")))
    return rows


def component_fields(cls: type, prefix: str = "") -> List[ComponentField]:
    """The fields of the config dataclass ``cls`` (and of its sections) that name a
    registered component, e.g. ``search.space`` for search spaces."""
    hints = typing.get_type_hints(cls)
    out: List[ComponentField] = []
    for field in dataclasses.fields(cls):
        key = f"{prefix}.{field.name}" if prefix else field.name
        if "registry" in field.metadata:
            out.append(ComponentField(key, field.metadata["registry"],
                                      field.metadata["config_attr"]))
            continue
        inner, _ = optional_inner(hints[field.name])
        if dataclasses.is_dataclass(inner):
            out.extend(component_fields(inner, key))
    return out


def google_args(doc: str) -> Dict[str, str]:
    """The ``Args:`` section of a Google-style docstring: argument name -> description
    (plain text)."""
    lines = inspect.cleandoc(doc or "").splitlines()
    out: Dict[str, List[str]] = {}
    inside, indent, current = False, 0, None
    for line in lines:
        stripped = line.strip()
        depth = len(line) - len(line.lstrip())
        if not inside:
            if stripped in ("Args:", "Arguments:"):
                inside, indent = True, depth
            continue
        if stripped and depth <= indent:
            break  # the next section
        entry = re.match(r"^\**(\w+)(?: \([^)]*\))?:\s*(.*)$", stripped)
        if entry and (current is None or depth <= out[current][0]):
            current = entry.group(1)
            out[current] = [depth, entry.group(2)]
        elif current is not None and stripped:
            out[current].append(stripped)
    return {name: plain_text(" ".join(text[1:])) for name, text in out.items()}


def keyword_rows(cls: type) -> List[OptionRow]:
    """One row per keyword argument of ``cls``'s constructor, gathered over the
    ``__init__`` methods of its bases (``*args``/``**kwargs`` forwarding is followed),
    described by the ``Args:`` sections of their classes' docstrings."""
    rows: Dict[str, OptionRow] = {}
    docs: Dict[str, str] = {}
    for klass in cls.__mro__:
        if klass is object:
            continue
        for name, text in google_args(klass.__dict__.get("__doc__") or "").items():
            docs.setdefault(name, text)
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            hints = typing.get_type_hints(init)
        except (NameError, TypeError):  # a forward reference that does not resolve
            hints = {}
        for p in inspect.signature(init).parameters.values():
            if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) \
                    or p.name in rows:
                continue
            tp = hints.get(p.name, p.annotation)
            rows[p.name] = OptionRow(
                p.name, "" if tp is inspect.Parameter.empty else type_name(tp),
                "" if p.default is inspect.Parameter.empty else yaml_value(p.default),
                "", "")
    return [row._replace(doc=docs.get(name, "")) for name, row in rows.items()]
