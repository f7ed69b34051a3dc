"""``.. config-schema::``: tables of a config dataclass's options, generated from the code.

Usage::

    .. config-schema:: nnabla_nas.runner.schema.RunConfig

    .. config-schema:: nnabla_nas.dataset.digits.Digits.Config
       :prefix: dataset

Each field made with :func:`nnabla_nas.config.fields.option` is one row: its dotted key,
type, default, constraint (:func:`~nnabla_nas.config.fields.describe_constraint`) and the
description in its metadata. Nested config dataclasses are expanded in place under their
dotted prefix (``search.net_optimizer.lr``). A field made with
:func:`nnabla_nas.config.loader.component` is the row ``<key>.name`` (the registry's
names and the default one), and every component registered under those names gets a
table of its own options below, titled "``<key>`` when ``<key>.name`` is ``X``".

Everything is read from the classes and registries at build time, so the tables cannot
drift from the code; the page is rebuilt whenever one of the source files involved
changes.
"""
from __future__ import annotations

import dataclasses
import importlib
import inspect
import typing
from typing import Any, List, Tuple

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective

from nnabla_nas.config.describe import default_of, optional_inner, type_name, yaml_value

COLUMNS = (("key", 24), ("type", 11), ("default", 11), ("constraint", 14),
           ("description", 40))


# ------------------------------------------------------------------------- helpers
def import_object(path: str) -> Any:
    """Import ``pkg.module.Class.Nested``: the longest importable module, then attributes.
    """
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(f"cannot import {path!r}")


def summary_line(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return " ".join(doc.split("\n\n")[0].split())


# --------------------------------------------------------------------------- tables
class _Table:
    """One table being built: its title, id and rows (each a list of cell contents)."""

    def __init__(self, title: List[nodes.Node], ident: str):
        self.title = title
        self.ident = ident
        self.rows: List[List[List[nodes.Node]]] = []

    def node(self) -> nodes.table:
        table = nodes.table(classes=["config-schema"], ids=[self.ident])
        table += nodes.title("", "", *self.title)
        group = nodes.tgroup(cols=len(COLUMNS))
        table += group
        for _, width in COLUMNS:
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        group += head
        head += self._row([[nodes.Text(name)] for name, _ in COLUMNS])
        body = nodes.tbody()
        group += body
        for cells in self.rows:
            body += self._row(cells)
        return table

    @staticmethod
    def _row(cells: List[List[nodes.Node]]) -> nodes.row:
        row = nodes.row()
        for content in cells:
            entry = nodes.entry()
            entry += nodes.paragraph("", "", *content)
            row += entry
        return row


def _literal(text: str) -> nodes.literal:
    return nodes.literal(text, text)


class ConfigSchema(SphinxDirective):
    """``.. config-schema:: dotted.path.To.ConfigDataclass`` (option ``:prefix:``)."""

    required_arguments = 1
    has_content = False
    option_spec = {"prefix": directives.unchanged}

    def run(self) -> List[nodes.Node]:
        path = self.arguments[0]
        try:
            cls = import_object(path)
        except (ImportError, AttributeError) as e:
            raise self.error(f"config-schema: cannot import {path}: {e}")
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            raise self.error(f"config-schema: {path} is not a dataclass")
        prefix = self.options.get("prefix", "").strip(".")
        self._tables: List[_Table] = []
        self._reserved: set = set()
        title: List[nodes.Node] = [_literal(cls.__qualname__)]
        if prefix:
            title += [nodes.Text(" under "), _literal(prefix)]
        if summary_line(cls):  # the docstring's first paragraph, which may hold markup
            parsed, messages = self.state.inline_text(summary_line(cls), self.lineno)
            title += [nodes.Text(": ")] + parsed + messages
        name = f"{prefix}-{cls.__qualname__}" if prefix else cls.__qualname__
        self._add_table(cls, prefix, title, self._unique_id(f"config-{name}"))
        result = [t.node() for t in self._tables]
        for table in result:
            self.state.document.set_id(table)  # registers its id: later tables avoid it
        return result

    # ------------------------------------------------------------------ internals
    def _unique_id(self, name: str) -> str:
        """A new id for a table, unique in the document."""
        base = nodes.make_id(name)
        ident, n = base, 1
        while ident in self.state.document.ids or ident in self._reserved:
            n += 1
            ident = f"{base}-{n}"
        self._reserved.add(ident)
        return ident

    def _note_source(self, obj: Any) -> None:
        try:
            source = inspect.getsourcefile(obj)
        except TypeError:
            source = None
        if source:
            self.env.note_dependency(source)

    def _add_table(self, cls: type, prefix: str, title: List[nodes.Node], ident: str
                   ) -> None:
        table = _Table(title, ident)
        self._tables.append(table)
        # Component fields, with the ids of their options tables, which follow this one.
        pending: List[Tuple[str, dict, dict]] = []
        self._add_rows(table, cls, prefix, pending)
        for key, meta, idents in pending:
            registry = meta["registry"]
            for comp, comp_ident in idents.items():
                options = getattr(registry.get(comp), meta["config_attr"], None)
                if not dataclasses.is_dataclass(options):
                    raise self.error(f"config-schema: {key}: {registry.kind} {comp!r} has "
                                     f"no options dataclass {meta['config_attr']!r}")
                self._note_source(options)
                sub_title: List[nodes.Node] = [
                    _literal(key), nodes.Text(" when "), _literal(f"{key}.name"),
                    nodes.Text(" is "), _literal(comp),
                    nodes.Text(f" ({options.__qualname__})")]
                self._add_table(options, key, sub_title, comp_ident)

    def _add_rows(self, table: _Table, cls: type, prefix: str,
                  pending: List[Tuple[str, dict, dict]]) -> None:
        self._note_source(cls)
        hints = typing.get_type_hints(cls)
        for field in dataclasses.fields(cls):
            key = f"{prefix}.{field.name}" if prefix else field.name
            meta = field.metadata
            doc = meta.get("doc", "")
            if "registry" in meta:
                registry = meta["registry"]
                names = registry.names()
                idents = {comp: self._unique_id(f"config-{key}-{comp}") for comp in names}
                links: List[nodes.Node] = []
                for comp, ident in idents.items():
                    if links:
                        links.append(nodes.Text(", "))
                    links.append(nodes.reference("", "", _literal(comp), refid=ident,
                                                 internal=True))
                table.rows.append([
                    [_literal(f"{key}.name")], [nodes.Text("str")],
                    [_literal(meta["default_name"])],
                    [nodes.Text(f"one of {names}")],
                    [nodes.Text(f"{doc}; options: see ")] + links])
                pending.append((key, dict(meta), idents))
                continue
            tp = hints[field.name]
            inner, optional = optional_inner(tp)
            if dataclasses.is_dataclass(inner):
                kind = "section, optional" if optional else "section"
                default = "omitted" if default_of(field) is None else "(below)"
                table.rows.append([[_literal(key)], [nodes.Text(kind)],
                                   [nodes.Text(default)], [nodes.Text("")],
                                   [nodes.Text(doc)]])
                self._add_rows(table, inner, key, pending)
                continue
            default = default_of(field)
            default_cell = [] if default is dataclasses.MISSING \
                else [_literal(yaml_value(default))]
            table.rows.append([
                [_literal(key)], [nodes.Text(type_name(tp))], default_cell,
                [nodes.Text(self._constraint(meta))], [nodes.Text(doc)]])

    @staticmethod
    def _constraint(meta) -> str:
        from nnabla_nas.config.fields import describe_constraint

        return describe_constraint(dict(meta))


def setup(app):
    app.add_directive("config-schema", ConfigSchema)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
