"""Loading configs: safe YAML, dotted overrides, and validation into typed objects.

Every value is checked against the dataclass field it lands in; any problem stops with a
:class:`ConfigError` whose message begins with the dotted key, e.g.
``search.arch_optimizer.lr: expected a float > 0, got 'abc'``.
"""
from __future__ import annotations

import copy
import dataclasses
import itertools
import math
import numbers
import re
import typing
from typing import Any, Dict, List, Mapping, Sequence, Tuple, Type, TypeVar

import yaml

from .fields import ConfigError, check_constraint, describe_constraint
from ..registry import Registry
from ..utils.files import MAX_DEPTH, FileInputError, clip, quote, read_text

T = TypeVar("T")
#: Largest config file read (bytes); configs are a few kB.
MAX_CONFIG_BYTES = 1 << 20
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
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
            raise ConfigError(f"{key}: expected a list, got {quote(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            items = [_convert(f"{key}[{i}]", v, args[0], meta) for i, v in enumerate(value)]
        else:
            if len(value) != len(args):
                raise ConfigError(f"{key}: expected a list of {len(args)} values, "
                                  f"got {quote(value)}")
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
        if ok and not math.isfinite(value):
            raise ConfigError(f"{key}: expected a finite number, got {value}")
    elif tp is str:
        ok = isinstance(value, str)
    else:
        raise TypeError(f"{key}: config fields of type {tp!r} are not supported")
    if not ok:
        constraint = describe_constraint(meta)
        raise ConfigError(f"{key}: expected {_type_name(tp)}"
                          f"{' ' + constraint if constraint else ''}, got {quote(value)}")
    check_constraint(key, value, meta, _type_name(tp))
    return value


def _component(key: str, value: Any, meta: Mapping[str, Any]) -> Component:
    registry: Registry = meta["registry"]
    if value is None:
        value = {}
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key}: expected a mapping with a 'name' key, got "
                          f"{quote(value)}")
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
                          f"{quote(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    prefix = f"{key}." if key else ""
    for name in data:
        if name not in fields:
            valid = ", ".join(fields)
            raise ConfigError(f"{prefix}{clip(str(name))}: unknown key; valid keys here "
                              f"are: {valid}")
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
            raise ConfigError(f"override {quote(item)}: expected section.key=value")
        try:
            value = load_yaml(raw) if raw.strip() else None
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: override value {quote(raw)} is not valid YAML "
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


#: Most values (scalars, lists and mappings, counted with every alias expanded) in a
#: config: configs hold a few hundred; an alias "bomb" holds billions.
MAX_YAML_VALUES = 100_000


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing duplicate keys, nesting deeper than
    :data:`~nnabla_nas.utils.files.MAX_DEPTH` and documents that expand (through
    aliases) to more than :data:`MAX_YAML_VALUES` values, before constructing them."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._sizes: Dict[int, Tuple[int, int]] = {}  # id(node) -> (values, depth)

    def _refuse(self, node: yaml.Node, problem: str) -> None:
        raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark)

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):  # the anchored node, composed already
            anchored = self.anchors.get(event.anchor)
            if anchored is not None and id(anchored) not in self._sizes:
                self._refuse(anchored, "an alias refers to the value that contains it")
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested more than {MAX_DEPTH} levels deep",
                    self.peek_event().start_mark)
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if id(node) not in self._sizes:
            if isinstance(node, yaml.MappingNode):
                children = [n for pair in node.value for n in pair]
            else:
                children = node.value if isinstance(node, yaml.SequenceNode) else []
            sizes = [self._sizes[id(c)] for c in children]
            values = 1 + sum(s[0] for s in sizes)
            depth = 1 + max((s[1] for s in sizes), default=0)
            if values > MAX_YAML_VALUES:
                self._refuse(node, f"expands to more than {MAX_YAML_VALUES} values "
                                   "(through aliases)")
            if depth > MAX_DEPTH:
                self._refuse(node, f"nested more than {MAX_DEPTH} levels deep (through "
                                   "aliases)")
            self._sizes[id(node)] = (values, depth)
        return node

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: Dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark.line + 1)
                except TypeError:  # an unhashable key: PyYAML reports it
                    continue
                if first != key_node.start_mark.line + 1:
                    self._refuse(key_node, f"duplicate key {quote(key)} (first given at "
                                           f"line {first})")
        return super().construct_mapping(node, deep)


def _nesting_bound(text: str) -> int:
    """An upper bound of the nesting depth of YAML text, found in linear time (PyYAML's
    scanner takes quadratic time in the depth, so depth is bounded before it runs):
    the deepest run of open brackets plus the number of distinct indentations."""
    brackets = _NOT_BRACKET.sub("", text)
    flow = max(itertools.accumulate((c in "[{") - (c in "]}") for c in brackets),
               default=0)
    indents = {len(line) - len(line.lstrip(" ")) for line in text.splitlines()}
    return flow + len(indents)


def load_yaml(text: str) -> Any:
    """Parse YAML text safely (no tag constructs Python objects), within the bounds of
    :class:`_BoundedLoader`.

    Raises:
        yaml.YAMLError: for invalid YAML, a duplicate key, too deep nesting or too
            many values.
    """
    if _nesting_bound(text) > MAX_DEPTH:
        raise yaml.composer.ComposerError(problem=f"nested more than {MAX_DEPTH} "
                                          "levels deep")
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    except ValueError as e:  # a constructor's conversion, e.g. an int of 100000 digits
        raise yaml.constructor.ConstructorError(
            None, None, clip(str(e)), loader.get_mark()) from None
    finally:
        loader.dispose()


def read_yaml(path: str) -> Dict[str, Any]:
    """Read a YAML mapping safely: no tag can construct Python objects, the file must
    be a regular file of at most 1 MiB, and duplicate keys, deep nesting and alias
    bombs are refused.

    Raises:
        ConfigError: naming the file, for a missing, unreadable, empty, oversized,
            non-YAML or non-mapping file.
    """
    try:
        text = read_text(path, MAX_CONFIG_BYTES)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except FileInputError as e:
        raise ConfigError(f"{e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the config file "
                          f"({quote(getattr(e, 'strerror', None) or str(e))})") from None
    try:
        data = load_yaml(text)
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
