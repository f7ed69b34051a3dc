"""Pictures of DARTS cells, drawn as in the paper (Liu et al., 2019, figures 4 and 5).

The two cell inputs ``c_{k-2}`` and ``c_{k-1}`` stand on the left, the intermediate
nodes ``0 .. n-1`` in the middle and the output ``c_{k}`` on the right. Every chosen
operation is an edge labelled with its name; the nodes of the cell's ``concat`` have a
plain grey edge into ``c_{k}``. A ``'none'`` edge (the zero operation) is dashed.

The cells are plain data, ``{name: (edges, concat)}``; the DARTS space converts its
genotype (``visual`` draws, it does not know the search spaces).
"""
from __future__ import annotations

import os
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .dot import FORMATS, Digraph, render_all

PathLike = Union[str, "os.PathLike[str]"]
#: A cell as drawn: its ``(op_name, input_state)`` edges, two per intermediate node,
#: and the states concatenated into its output.
Cell = Tuple[Sequence[Tuple[str, int]], Sequence[int]]
#: Captions of the cells by name; other names are captioned ``"<name> cell"``.
TITLES = {"normal": "normal cell", "reduce": "reduction cell"}

INPUTS = ("c_{k-2}", "c_{k-1}")
OUTPUT = "c_{k}"
_INPUT_COLOUR = "darkseagreen2"
_NODE_COLOUR = "lightblue"
_OUTPUT_COLOUR = "palegoldenrod"


def state_name(state: int) -> str:
    """The node drawn for cell state ``state``: 0 and 1 are the inputs, ``k >= 2`` is
    intermediate node ``k - 2``."""
    return INPUTS[state] if state < 2 else str(state - 2)


def cell_dot(cell: Sequence[Tuple[str, int]], concat: Sequence[int],
             title: Optional[str] = None) -> str:
    """One DARTS cell in the DOT language.

    Args:
        cell: ``2 n`` pairs ``(op_name, input_index)``, two per intermediate node, as in
            a DARTS genotype.
        concat: The states concatenated into the output (``2 .. n + 1``).
        title: A caption under the picture (none by default).
    """
    num_nodes = len(cell) // 2
    g = Digraph(rankdir="LR", label=title, labelloc="b", fontsize=20, fontname="times")
    g.defaults("node", style="filled, rounded", shape="rect", fontsize=20,
               fontname="helvetica", height=0.5, width=0.5, penwidth=2)
    g.defaults("edge", fontsize=16, fontname="times", penwidth=1.5)
    for name in INPUTS:
        g.node(name, fillcolor=_INPUT_COLOUR)
    for node in range(num_nodes):
        g.node(str(node), fillcolor=_NODE_COLOUR)
    g.node(OUTPUT, fillcolor=_OUTPUT_COLOUR)
    g.same_rank(INPUTS)
    for n, (op, state) in enumerate(cell):
        dashed = op == "none"
        g.edge(state_name(state), str(n // 2), label=op,
               style="dashed" if dashed else None, color="gray" if dashed else None)
    for state in concat:
        g.edge(state_name(state), OUTPUT, color="gray")
    return g.source()


def cells_dots(cells: Mapping[str, Cell]) -> Dict[str, str]:
    """The DOT text of each cell, by name (``{'normal': (edges, concat), 'reduce':
    ...}``), captioned from :data:`TITLES`."""
    if not isinstance(cells, Mapping):
        raise TypeError(f"cells_dots: cells: expected a mapping of name to (edges, "
                        f"concat), got {type(cells).__name__}")
    dots = {}
    for name, cell in cells.items():
        if not (isinstance(cell, (tuple, list)) and len(cell) == 2):
            raise TypeError(f"cells_dots: cells[{name!r}]: expected (edges, concat), got "
                            f"{cell!r}")
        edges, concat = cell
        dots[name] = cell_dot(edges, concat, TITLES.get(name, f"{name} cell"))
    return dots


def draw_cells(cells: Mapping[str, Cell], folder: PathLike,
               formats: Sequence[str] = FORMATS,
               search_path: Optional[str] = None) -> List[str]:
    """Write ``<name>.gv`` for each cell in ``folder`` and draw it (for a DARTS
    genotype: ``normal.png``, ``normal.pdf``, ``reduce.png`` and ``reduce.pdf``).

    Args:
        cells: ``{name: (edges, concat)}``, as :func:`cells_dots` takes.
        folder: Where to write (created if needed).
        formats: Picture formats; ``()`` writes the ``.gv`` text only.
        search_path: Where to look for graphviz's ``dot`` (default: ``PATH``).

    Returns:
        The paths written.

    Raises:
        GraphvizMissing: graphviz is not installed (every ``.gv`` file is written).
        GraphvizError: ``dot`` failed.
    """
    return render_all(cells_dots(cells), folder, formats, search_path)


#: A node of a cell graph as drawn: its id and its text.
Node = Tuple[str, str]
#: An edge of a cell graph: tail id, head id, and the operation on it (None: plain).
Edge = Tuple[str, str, Optional[str]]


def graph_dot(nodes: Sequence[Node], edges: Sequence[Edge],
              title: Optional[str] = None) -> str:
    """A cell given as a graph, in the DOT language: the first node is the cell's
    input, the last its output, drawn left to right in the colours of
    :func:`cell_dot`; an edge with an operation is labelled with it, a ``'none'``
    edge dashed.

    Example:
        >>> text = graph_dot([("0", "in"), ("1", "out")], [("0", "1", "conv")])
        >>> '"0" -> "1" [label="conv"];' in text
        True
    """
    g = Digraph(rankdir="LR", label=title, labelloc="b", fontsize=14, fontname="times")
    g.defaults("node", style="filled, rounded", shape="rect", fontsize=16,
               fontname="helvetica", height=0.5, width=0.5, penwidth=2)
    g.defaults("edge", fontsize=14, fontname="times", penwidth=1.5)
    for n, (name, text) in enumerate(nodes):
        colour = (_INPUT_COLOUR if n == 0 else
                  _OUTPUT_COLOUR if n == len(nodes) - 1 else _NODE_COLOUR)
        g.node(name, label=text if text != name else None, fillcolor=colour)
    for tail, head, op in edges:
        dashed = op == "none"
        g.edge(tail, head, label=op, style="dashed" if dashed else None,
               color="gray" if dashed else None)
    return g.source()


def draw_graph(name: str, nodes: Sequence[Node], edges: Sequence[Edge],
               folder: PathLike, title: Optional[str] = None,
               formats: Sequence[str] = FORMATS,
               search_path: Optional[str] = None) -> List[str]:
    """Write ``<name>.gv`` (:func:`graph_dot`) in ``folder`` and draw it; returns the
    paths written. Raises as :func:`draw_cells`."""
    return render_all({name: graph_dot(nodes, edges, title)}, folder, formats,
                      search_path)
