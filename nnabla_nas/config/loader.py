"""Loading configs: safe YAML, dotted overrides, and validation into typed objects.

Every value is checked against the dataclass field it lands in; any problem stops with a
:class:`ConfigError` whose message begins with the dotted key, e.g.
``search.arch_optimizer.lr: expected a float > 0, got 'abc'``.
"""
from __future__ import annotations

import copy
import dataclasses
import numbers
import re
import typing
from typing import Any, Dict, List, Mapping, Sequence, Tuple, Type, TypeVar

import yaml

from .fields import ConfigError, check_constraint, describe_constraint
from ..registry import Registry

T = TypeVar("T")
_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


@dataclasses.dataclass(frozen=True)
class Component:
    """A config section that names a registered component and holds its options.

    In YAML it is a mapping with a ``name`` key; the other keys are validated against
    the ``Config`` dataclass of the component registered under that name.
    """

    name: str
    options: Any


def component(registry: Registry, default: str, doc: str, config_attr: str = "Config"
              ) -> Any:
    """A config field holding a :class:`Component` of ``registry``.

    Args:
        registry: Where the name is looked up.
        default: The default component name.
        doc: What the section configures.
        config_attr: The attribute of the registered object that is its options
            dataclass.
    """
    meta = dict(doc=doc, registry=registry, config_attr=config_attr, default_name=default)
    return dataclasses.field(default=None, metadata=meta)


def _type_name(tp: Any) -> str:
    if tp is bool:
        return "a boolean"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    return getattr(tp, "__name__", str(tp))


def _convert(key: str, value: Any, tp: Any, meta: Mapping[str, Any]) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union and type(None) in args:
        if value is None:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(key, value, inner, meta)
    if hasattr(tp, "from_yaml"):  # a section that validates itself (keys are names)
        return tp.from_yaml(value, key)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, key)
    if origin in (tuple, Tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            items = [_convert(f"{key}[{i}]", v, args[0], meta) for i, v in enumerate(value)]
        else:
            if len(value) != len(args):
                raise ConfigError(f"{key}: expected a list of {len(args)} values, "
                                  f"got {value!r}")
            items = [_convert(f"{key}[{i}]", v, a, meta)
                     for i, (v, a) in enumerate(zip(value, args))]
        return tuple(items)
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    elif tp is float:
        if isinstance(value, str) and _FLOAT.match(value.strip()):
            value = float(value)  # YAML 1.1 reads 3e-4 (no dot) as a string
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif tp is str:
        ok = isinstance(value, str)
    else:
        raise TypeError(f"{key}: config fields of type {tp!r} are not supported")
    if not ok:
        constraint = describe_constraint(meta)
        raise ConfigError(f"{key}: expected {_type_name(tp)}"
                          f"{' ' + constraint if constraint else ''}, got {value!r}")
    check_constraint(key, value, meta, _type_name(tp))
    return value


def _component(key: str, value: Any, meta: Mapping[str, Any]) -> Component:
    registry: Registry = meta["registry"]
    if value is None:
        value = {}
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key}: expected a mapping with a 'name' key, got {value!r}")
    value = dict(value)
    name = value.pop("name", meta["default_name"])
    if not isinstance(name, str) or name not in registry:
        raise ConfigError(f"{key}.name: {registry.unknown_message(name)}")
    config_cls = getattr(registry.get(name), meta["config_attr"])
    return Component(name, from_dict(config_cls, value, key))


def from_dict(cls: Type[T], data: Any, key: str = "") -> T:
    """Validate ``data`` (parsed YAML) into the frozen dataclass ``cls``.

    Raises:
        ConfigError: for a non-mapping, an unknown key, a wrong type or an
            out-of-range value, naming the dotted key.
    """
    where = key or "config"
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__} "
                          f"{data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    prefix = f"{key}." if key else ""
    for name in data:
        if name not in fields:
            valid = ", ".join(fields)
            raise ConfigError(f"{prefix}{name}: unknown key; valid keys here are: {valid}")
    values: Dict[str, Any] = {}
    for name, f in fields.items():
        sub = prefix + name
        if "registry" in f.metadata:
            values[name] = _component(sub, data.get(name), f.metadata)
        elif name in data:
            values[name] = _convert(sub, data[name], hints[name], f.metadata)
    try:
        return cls(**values)
    except ValueError as e:  # a check in __post_init__ (ConfigError is a ValueError)
        message = str(e)
        raise ConfigError(message if message.startswith(prefix) else prefix + message
                          ) from None


def to_dict(obj: Any) -> Any:
    """The plain-data form of a config object, as it would be written in YAML."""
    if isinstance(obj, Component):
        return {"name": obj.name, **to_dict(obj.options)}
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple):
        return [to_dict(v) for v in obj]
    if isinstance(obj, Mapping):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def parse_overrides(items: Sequence[str]) -> List[Tuple[List[str], Any]]:
    """Parse ``section.key=value`` items; values are read as YAML scalars."""
    parsed = []
    for item in items:
        path, sep, raw = item.partition("=")
        keys = path.strip().split(".")
        if not sep or not all(keys):
            raise ConfigError(f"override {item!r}: expected section.key=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: override value {raw!r} is not valid YAML "
                              f"({e.__class__.__name__})") from None
        parsed.append((keys, value))
    return parsed


def apply_overrides(data: Dict[str, Any], overrides: Sequence[str]) -> Dict[str, Any]:
    """Return a copy of ``data`` with dotted ``key=value`` overrides applied."""
    data = copy.deepcopy(data)
    for keys, value in parse_overrides(overrides):
        node = data
        for i, k in enumerate(keys[:-1]):
            child = node.get(k)
            if child is None:
                child = node[k] = {}
            if isinstance(child, str):  # a component given by name only
                child = node[k] = {"name": child}
            if not isinstance(child, dict):
                raise ConfigError(f"{'.'.join(keys[:i + 1])}: cannot set "
                                  f"{'.'.join(keys)} inside a {type(child).__name__}")
            node = child
        node[keys[-1]] = value
    return data


def read_yaml(path: str) -> Dict[str, Any]:
    """Read a YAML mapping safely: no tag can construct Python objects.

    Raises:
        ConfigError: naming the file, for a missing, unreadable, empty, non-YAML or
            non-mapping file.
    """
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the config file ({e})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    if data is None:
        raise ConfigError(f"{path}: the config file is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got "
                          f"{type(data).__name__}")
    return data
