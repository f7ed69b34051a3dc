"""Helpers of the picture tests: reading back the DOT text we write, a stand-in for
graphviz's ``dot`` program, and graphviz's own JSON layout of a graph."""
from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from nnabla_nas.visual.dot import find_dot, render_all

#: Marks a test that needs the real graphviz program.
needs_dot = pytest.mark.skipif(find_dot() is None,
                               reason="graphviz 'dot' is not installed")
#: Marks a test that puts a shell script named ``dot`` on the search path.
posix_only = pytest.mark.skipif(os.name == "nt", reason="a shell script stands in for dot")

_STRING = r'"((?:[^"\\]|\\.)*)"'
_STATEMENT = re.compile(rf"^\s*{_STRING}(?: -> {_STRING})?(?: \[(.*)\])?;$")
_ATTRIBUTE = re.compile(rf"(\w+)={_STRING}")

Attrs = Dict[str, str]


def parse_dot(text: str) -> Tuple[Dict[str, Attrs], List[Tuple[str, str, Attrs]]]:
    """The nodes (name -> attributes) and edges ``(tail, head, attributes)`` of the
    node and edge statements of DOT text written by :class:`Digraph`, still escaped."""
    nodes, edges = {}, []
    for line in text.splitlines():
        found = _STATEMENT.match(line)
        if not found:
            continue
        tail, head, attrs = found.groups()
        attrs = dict(_ATTRIBUTE.findall(attrs or ""))
        if head is None:
            nodes[tail] = attrs
        else:
            edges.append((tail, head, attrs))
    return nodes, edges


def fake_dot(folder: Path, script: str) -> str:
    """A folder holding an executable ``dot`` shell script with body ``script``; pass
    it as ``search_path``."""
    folder.mkdir(parents=True, exist_ok=True)
    program = folder / "dot"
    program.write_text("#!/bin/sh\n" + script + "\n")
    program.chmod(program.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(folder)


def graphviz_layout(source: str, folder: Path) -> Tuple[Dict[str, dict], List[tuple]]:
    """Graphviz's own reading of ``source`` (needs dot): its nodes by name, and its
    edges as ``(tail name, head name, label or None)``, labels as graphviz holds
    them."""
    paths = render_all({"layout": source}, folder, formats=("json",))
    data = json.loads(Path(paths[1]).read_text(encoding="utf-8"))
    # Subgraphs (such as a rank=same group) come first among the objects.
    objects = data.get("objects", [])[data.get("_subgraph_cnt", 0):]
    by_id = {o["_gvid"]: o for o in objects}
    edges = [(by_id[e["tail"]]["name"], by_id[e["head"]]["name"],
              e.get("label") or None) for e in data.get("edges", [])]
    return {o["name"]: o for o in objects}, edges


def drawn_text(node: dict) -> List[str]:
    """The lines of text graphviz drew for a node of :func:`graphviz_layout`."""
    return [op["text"] for op in node.get("_ldraw_", []) if op["op"] == "T"]
