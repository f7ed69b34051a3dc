r"""Graphviz pictures without the graphviz Python package: DOT text built here, drawn
by the ``dot`` program.

:class:`Digraph` writes the DOT language (every name and value quoted and escaped, so
any text is safe as a node name or label). :func:`render` writes that text to
``<stem>.gv`` and, when the graphviz ``dot`` program is installed, draws it to
``<stem>.png`` and ``<stem>.pdf``. Without graphviz the ``.gv`` file is still written
and :class:`GraphvizMissing` is raised, whose message is one line saying how to install
graphviz; a run logs that line once and goes on (see :func:`render_all`).

Example:
    >>> g = Digraph(rankdir="LR")
    >>> g.node("a", label='say "hi"')
    >>> g.edge("a", "b", label="x\\y")
    >>> print(g.source())
    digraph {
      graph [rankdir="LR"];
      "a" [label="say \"hi\""];
      "a" -> "b" [label="x\\y"];
    }
    <BLANKLINE>
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Dict, List, Mapping, Optional, Sequence, Union

from ..utils.output import atomic_write_text
from ..utils.output import atomic_path

PathLike = Union[str, "os.PathLike[str]"]

#: The picture formats :func:`render` writes by default.
FORMATS = ("png", "pdf")
#: Seconds one ``dot`` call may take before :class:`GraphvizError` is raised.
TIMEOUT = 60.0

_ATTRIBUTE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_FORMAT = re.compile(r"[a-z0-9]+(:[a-z0-9_]+)*\Z")


class GraphvizMissing(RuntimeError):
    """The graphviz ``dot`` program was not found; ``str(error)`` is one line saying
    what is missing and how to install it.

    Attributes:
        written: The ``.gv`` files written before the lookup failed.
    """

    def __init__(self, search_path: Optional[str] = None, written: Sequence[str] = ()):
        where = "on PATH" if search_path is None else f"in {search_path!r}"
        super().__init__(
            f"graphviz 'dot' program not found {where}, so architectures are saved as "
            ".gv text only; for PNG and PDF pictures install graphviz (apt-get install "
            "graphviz, brew install graphviz, or https://graphviz.org/download/)")
        self.written = list(written)


class GraphvizError(RuntimeError):
    """The ``dot`` program failed (bad exit status or timeout); the message holds its
    command line and error output."""


def quote(text: object) -> str:
    r"""``text`` as a DOT double-quoted string.

    Backslashes are doubled and quotes escaped, so graphviz shows them as they are;
    line breaks become DOT's centred line break ``\n``.

    Example:
        >>> print(quote('c_{k-1} "in"'))
        "c_{k-1} \"in\""
    """
    s = str(text).replace("\\", "\\\\").replace('"', '\\"')
    s = s.replace("\r\n", "\n").replace("\r", "\n")
    return '"' + s.replace("\n", "\\n") + '"'


def _attributes(owner: str, attrs: Mapping[str, object]) -> str:
    """`` [key="value", ...]`` (empty for no attributes); keys must be DOT names."""
    for key in attrs:
        if not isinstance(key, str) or not _ATTRIBUTE.match(key):
            raise ValueError(f"{owner}: attribute name {key!r} is not a DOT name "
                             "(letters, digits and '_', not starting with a digit)")
    if not attrs:
        return ""
    return " [" + ", ".join(f"{k}={quote(v)}" for k, v in attrs.items()) + "]"


class Digraph:
    """A directed graph written in the DOT language.

    Statements keep the order they were added in; every name and attribute value is
    quoted by :func:`quote`. Attributes whose value is ``None`` are left out.

    Args:
        **graph_attrs: Attributes of the whole graph (``rankdir="LR"``...).
    """

    def __init__(self, **graph_attrs: object):
        self._graph = _kept(graph_attrs)
        self._defaults: Dict[str, Dict[str, object]] = {"node": {}, "edge": {}}
        self._statements: List[str] = []

    def defaults(self, kind: str, **attrs: object) -> None:
        """Set default attributes of every ``'node'`` or every ``'edge'``."""
        if kind not in self._defaults:
            raise ValueError(f"Digraph.defaults: kind: expected 'node' or 'edge', "
                             f"got {kind!r}")
        self._defaults[kind].update(_kept(attrs))

    def node(self, name: object, **attrs: object) -> None:
        """Add node ``name`` (any text) with ``attrs``."""
        self._statements.append(f"{quote(name)}{_attributes('Digraph.node', _kept(attrs))};")

    def edge(self, tail: object, head: object, **attrs: object) -> None:
        """Add an edge from node ``tail`` to node ``head`` with ``attrs``."""
        self._statements.append(f"{quote(tail)} -> {quote(head)}"
                                f"{_attributes('Digraph.edge', _kept(attrs))};")

    def same_rank(self, names: Sequence[object]) -> None:
        """Draw the nodes ``names`` side by side (one rank)."""
        inside = " ".join(f"{quote(n)};" for n in names)
        self._statements.append(f"{{ rank=same; {inside} }}")

    def source(self) -> str:
        """The graph in the DOT language."""
        lines = ["digraph {"]
        if self._graph:
            lines.append(f"  graph{_attributes('Digraph', self._graph)};")
        for kind, attrs in self._defaults.items():
            if attrs:
                lines.append(f"  {kind}{_attributes('Digraph.defaults', attrs)};")
        lines.extend(f"  {s}" for s in self._statements)
        return "\n".join(lines) + "\n}\n"


def _kept(attrs: Mapping[str, object]) -> Dict[str, object]:
    return {k: v for k, v in attrs.items() if v is not None}


def find_dot(search_path: Optional[str] = None) -> Optional[str]:
    """The path of the graphviz ``dot`` program, or None if it is not installed.

    Args:
        search_path: Folders to look in, separated by ``os.pathsep`` as in ``PATH``
            (default: ``PATH``).
    """
    return shutil.which("dot", path=search_path)


def _run_dot(program: str, fmt: str, source_path: str, out_path: str,
             timeout: float) -> None:
    """Draw ``source_path`` into ``out_path``, through a temporary file so a reader
    never sees half a picture."""
    with atomic_path(out_path) as tmp:
        command = [program, f"-T{fmt}", "-o", tmp, source_path]
        try:
            done = subprocess.run(command, capture_output=True, text=True,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired as e:
            raise GraphvizError(f"{' '.join(command)}: no answer after {timeout:g} s") \
                from e
        if done.returncode != 0:
            raise GraphvizError(f"{' '.join(command)}: exit status {done.returncode}: "
                                f"{done.stderr.strip() or '(no error output)'}")


def render_all(sources: Mapping[str, str], folder: PathLike,
               formats: Sequence[str] = FORMATS, search_path: Optional[str] = None,
               timeout: float = TIMEOUT) -> List[str]:
    """Write each DOT text of ``sources`` to ``folder/<name>.gv`` and draw it in
    ``formats``.

    Every ``.gv`` file is written first, so the text of every picture exists even when
    graphviz does not. ``formats=()`` writes the text only and needs no graphviz.

    A run that draws every epoch can tell the user once and carry on::

        try:
            paths = render_all(sources, folder)
        except GraphvizMissing as e:
            if not told:
                log.warning(str(e))  # one line
                told = True
            paths = e.written

    Args:
        sources: DOT texts by file name (without extension).
        folder: Where to write (created if needed).
        formats: ``dot -T`` formats (``'png'``, ``'pdf'``, ``'svg'``...).
        search_path: Where to look for ``dot`` (see :func:`find_dot`).
        timeout: Seconds each ``dot`` call may take.

    Returns:
        The paths written: each ``.gv`` file, then its pictures.

    Raises:
        GraphvizMissing: ``formats`` is not empty and ``dot`` is not found (the
            ``.gv`` files are written; they are listed in its ``written``).
        GraphvizError: ``dot`` failed; its error output is in the message.
    """
    for fmt in formats:
        if not isinstance(fmt, str) or not _FORMAT.match(fmt):
            raise ValueError(f"render: formats: expected graphviz output formats such as "
                             f"'png' or 'pdf', got {fmt!r}")
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    stems = {}
    for name, text in sources.items():
        if not name or os.sep in name or (os.altsep and os.altsep in name):
            raise ValueError(f"render: sources: expected plain file names, got {name!r}")
        stems[name] = os.path.join(folder, name)
        atomic_write_text(stems[name] + ".gv", text)
    written = [stem + ".gv" for stem in stems.values()]
    if not formats:
        return written
    program = find_dot(search_path)
    if program is None:
        raise GraphvizMissing(search_path, written)
    paths = []
    for stem in stems.values():
        paths.append(stem + ".gv")
        for fmt in formats:
            out = f"{stem}.{fmt.split(':')[0]}"
            _run_dot(program, fmt, stem + ".gv", out, timeout)
            paths.append(out)
    return paths


def render(source: str, stem: PathLike, formats: Sequence[str] = FORMATS,
           search_path: Optional[str] = None, timeout: float = TIMEOUT) -> List[str]:
    """Write ``source`` to ``<stem>.gv`` and draw it to ``<stem>.<format>``; the one
    picture case of :func:`render_all` (same errors).

    Returns:
        The paths written, the ``.gv`` file first.
    """
    folder, name = os.path.split(os.fspath(stem))
    return render_all({name: source}, folder or ".", formats, search_path, timeout)
