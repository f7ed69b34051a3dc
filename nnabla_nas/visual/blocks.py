"""Pictures of the blocks chosen in a MobileNetV2-style space, as a left-to-right chain.

A network is given as plain block descriptions ``(op, out_channels, stride)``, so any
space can be drawn without this module knowing its classes: ``op`` is a label such as
``'k5_e6'`` (kernel 5, expansion 6) or ``'skip'``. Blocks are coloured by kernel size
(the ``k<size>`` at the start of ``op``); blocks without a kernel, such as ``'skip'``,
are white and dashed; stride-2 blocks have a double border and say so.
"""
from __future__ import annotations

import os
import re
from typing import Any, List, Optional, Sequence, Tuple, Union

from ..module import checks as C
from .dot import FORMATS, Digraph, render_all

PathLike = Union[str, "os.PathLike[str]"]
Block = Tuple[str, int, int]

#: Fill colours by depthwise kernel size; other sizes are grey.
KERNEL_COLOURS = {3: "#cfe3f7", 5: "#fde3b8", 7: "#f6c7c0"}
_OTHER_KERNEL = "#e0e0e0"
_KERNEL = re.compile(r"k(\d+)(?!\d)")


def kernel_size(op: str) -> Optional[int]:
    """The kernel size a block label starts with (``'k5_e6'`` -> 5), or None."""
    found = _KERNEL.match(op)
    return int(found.group(1)) if found else None


def _check_block(n: int, block: Any) -> Block:
    where = f"blocks[{n}]"
    if not isinstance(block, (list, tuple)) or len(block) != 3:
        raise ValueError(f"blocks_dot: {where}: expected (op, out_channels, stride), "
                         f"got {block!r}")
    op, channels, stride = block
    if not isinstance(op, str) or not op:
        raise ValueError(f"blocks_dot: {where}[0]: expected an op label such as 'k5_e6', "
                         f"got {op!r}")
    return (op, C.positive_int("blocks_dot", f"{where}[1]", channels),
            C.positive_int("blocks_dot", f"{where}[2]", stride))


def blocks_dot(blocks: Sequence[Block], stem: Optional[str] = None,
               head: Optional[str] = None, title: Optional[str] = None) -> str:
    """A chain of blocks in the DOT language.

    Args:
        blocks: ``(op, out_channels, stride)`` of each block, input side first.
        stem: Label of a first node before the blocks (e.g. ``'conv3x3 32 ch, stride 2'``).
        head: Label of a last node after the blocks (e.g. ``'pool, fc 10'``).
        title: A caption under the picture.

    Raises:
        ValueError: naming the bad block, e.g. ``blocks_dot: blocks[2][2]: expected a
            positive int, got 0``.
    """
    if isinstance(blocks, (str, bytes)) or not isinstance(blocks, Sequence):
        raise ValueError(f"blocks_dot: blocks: expected a sequence of (op, out_channels, "
                         f"stride), got {type(blocks).__name__}")
    checked = [_check_block(n, b) for n, b in enumerate(blocks)]
    g = Digraph(rankdir="LR", label=title, labelloc="b", fontname="helvetica")
    g.defaults("node", shape="box", style="filled, rounded", fontname="helvetica",
               fontsize=12, penwidth=1.5)
    g.defaults("edge", arrowsize=0.7)
    names = []
    if stem is not None:
        g.node("stem", label=stem, fillcolor="white", style="rounded")
        names.append("stem")
    for n, (op, channels, stride) in enumerate(checked):
        kernel = kernel_size(op)
        label = f"{op}\n{channels} ch" + (f"\nstride {stride}" if stride > 1 else "")
        if kernel is None:
            style = dict(fillcolor="white", style="dashed, rounded")
        else:
            style = dict(fillcolor=KERNEL_COLOURS.get(kernel, _OTHER_KERNEL))
        if stride > 1:
            style.update(peripheries=2, penwidth=2.5)
        g.node(f"b{n}", label=label, **style)
        names.append(f"b{n}")
    if head is not None:
        g.node("head", label=head, fillcolor="white", style="rounded")
        names.append("head")
    for tail, to in zip(names, names[1:]):
        g.edge(tail, to)
    return g.source()


def draw_blocks(blocks: Sequence[Block], folder: PathLike, name: str = "blocks",
                stem: Optional[str] = None, head: Optional[str] = None,
                formats: Sequence[str] = FORMATS,
                search_path: Optional[str] = None) -> List[str]:
    """Write ``<name>.gv`` in ``folder`` and draw it to ``<name>.png`` and
    ``<name>.pdf``; see :func:`blocks_dot` for the arguments.

    Returns:
        The paths written.

    Raises:
        GraphvizMissing: graphviz is not installed (the ``.gv`` file is written).
        GraphvizError: ``dot`` failed.
    """
    return render_all({name: blocks_dot(blocks, stem, head)}, folder, formats,
                      search_path)
