"""Pictures of DARTS cells, drawn as in the paper (Liu et al., 2019, figures 4 and 5).

The two cell inputs ``c_{k-2}`` and ``c_{k-1}`` stand on the left, the intermediate
nodes ``0 .. n-1`` in the middle and the output ``c_{k}`` on the right. Every chosen
operation is an edge labelled with its name; the nodes of the cell's ``concat`` have a
plain grey edge into ``c_{k}``. A ``'none'`` edge (the zero operation) is dashed.
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence, Tuple, Union

from ..contrib.darts.genotype import Genotype
from .dot import FORMATS, Digraph, render_all

PathLike = Union[str, "os.PathLike[str]"]

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
            :class:`~nnabla_nas.contrib.darts.genotype.Genotype`.
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


def genotype_dots(genotype: Genotype) -> Dict[str, str]:
    """The DOT text of both cells of ``genotype``, keyed ``'normal'`` and ``'reduce'``."""
    if not isinstance(genotype, Genotype):
        raise TypeError(f"genotype_dots: genotype: expected a Genotype, got "
                        f"{type(genotype).__name__}")
    return {"normal": cell_dot(genotype.normal, genotype.normal_concat, "normal cell"),
            "reduce": cell_dot(genotype.reduce, genotype.reduce_concat, "reduction cell")}


def draw_genotype(genotype: Genotype, folder: PathLike,
                  formats: Sequence[str] = FORMATS,
                  search_path: Optional[str] = None) -> List[str]:
    """Write ``normal.gv`` and ``reduce.gv`` in ``folder`` and draw them to
    ``normal.png``, ``normal.pdf``, ``reduce.png`` and ``reduce.pdf``.

    Args:
        genotype: The architecture.
        folder: Where to write (created if needed).
        formats: Picture formats; ``()`` writes the ``.gv`` text only.
        search_path: Where to look for graphviz's ``dot`` (default: ``PATH``).

    Returns:
        The paths written.

    Raises:
        GraphvizMissing: graphviz is not installed (both ``.gv`` files are written).
        GraphvizError: ``dot`` failed.
    """
    return render_all(genotype_dots(genotype), folder, formats, search_path)
