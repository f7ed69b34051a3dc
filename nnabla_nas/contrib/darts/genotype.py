"""Discrete DARTS architectures: `Genotype`, its derivation from alphas, and `arch.json`.

A cell with ``n`` intermediate nodes is described by ``2 n`` pairs
``(op_name, input_index)``, two per node in node order: node ``i`` (0-based) sums the
two named candidates applied to two of the states ``0 .. i + 1``, where states 0 and 1
are the outputs of the two previous cells and state ``k >= 2`` is node ``k - 2``. The
cell's output concatenates the states listed in its ``concat``.

``arch.json`` holds one genotype, one pair per line::

    {
      "space": "darts",
      "version": 1,
      "normal": [
        ["sep_conv_3x3", 0],
        ["sep_conv_3x3", 1],
        ...
      ],
      "normal_concat": [2, 3, 4, 5],
      "reduce": [
        ["max_pool_3x3", 0],
        ...
      ],
      "reduce_concat": [2, 3, 4, 5]
    }
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence, Tuple, Union

import numpy as np

from ...module.mixedop import softmax
from ...utils.files import atomic_write_text
from ..archfile import check_header, is_int, read_json_strict
from .ops import CANDIDATES, PRIMITIVES

#: The ``space`` field of ``arch.json``.
SPACE = "darts"
#: The ``version`` field of the ``arch.json`` files this code writes and reads.
VERSION = 1

Cell = Tuple[Tuple[str, int], ...]
PathLike = Union[str, "os.PathLike[str]"]

_CELLS = ("normal", "reduce")
_KEYS = ("space", "version", "normal", "normal_concat", "reduce", "reduce_concat")


def num_edges(num_nodes: int) -> int:
    """Edges of a search cell: node ``i`` has ``2 + i`` inputs (14 for 4 nodes)."""
    return num_nodes * (num_nodes + 3) // 2


def _check_cell(source: str, key: str, cell: Any) -> Cell:
    """``cell`` as a tuple of ``(op_name, input_index)`` pairs, or a ValueError naming
    ``source`` and the bad key."""
    if not isinstance(cell, (list, tuple)) or not cell or len(cell) % 2:
        got = f"{len(cell)} entries" if isinstance(cell, (list, tuple)) else repr(cell)
        raise ValueError(f"{source}: {key}: expected a non-empty list of "
                         f"[op_name, input_index] pairs, two per node, got {got}")
    pairs = []
    for n, pair in enumerate(cell):
        where = f"{source}: {key}[{n}]"
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ValueError(f"{where}: expected a pair [op_name, input_index], "
                             f"got {pair!r}")
        op, index = pair
        if not isinstance(op, str) or op not in CANDIDATES:
            raise ValueError(f"{where}[0]: {CANDIDATES.unknown_message(op)}")
        node = n // 2
        if not is_int(index) or not 0 <= index < node + 2:
            raise ValueError(f"{where}[1]: expected an input index in 0..{node + 1} "
                             f"(node {node} takes the two cell inputs 0, 1 and the "
                             f"earlier nodes), got {index!r}")
        pairs.append((op, int(index)))
    return tuple(pairs)


def _check_concat(source: str, key: str, concat: Any, num_nodes: int) -> Tuple[int, ...]:
    """``concat`` as a tuple of distinct node states ``2 .. num_nodes + 1``."""
    if not isinstance(concat, (list, tuple, range)) or not concat:
        raise ValueError(f"{source}: {key}: expected a non-empty list of node states, "
                         f"got {concat!r}")
    for n, state in enumerate(concat):
        if not is_int(state) or not 2 <= state < num_nodes + 2:
            raise ValueError(f"{source}: {key}[{n}]: expected a node state in "
                             f"2..{num_nodes + 1} (states 0 and 1 are the cell inputs), "
                             f"got {state!r}")
    if len(set(concat)) != len(concat):
        raise ValueError(f"{source}: {key}: states must be distinct, got {list(concat)}")
    return tuple(int(s) for s in concat)


@dataclass(frozen=True)
class Genotype:
    """A discrete DARTS architecture: one normal and one reduction cell.

    Fields are validated on construction and stored as tuples, so a genotype is
    immutable and hashable; lists are accepted.

    Attributes:
        normal: The normal cell, ``2 * nodes`` pairs ``(op_name, input_index)``.
        normal_concat: States concatenated into the normal cell's output.
        reduce: The reduction cell, in the same form.
        reduce_concat: States concatenated into the reduction cell's output.

    Raises:
        ValueError: naming the bad field and entry, e.g. ``Genotype: normal[3][0]:
            unknown candidate operation 'sep_conv_9x9'; ...``.
    """

    normal: Cell
    normal_concat: Tuple[int, ...]
    reduce: Cell
    reduce_concat: Tuple[int, ...]

    def __post_init__(self) -> None:
        for kind in _CELLS:
            cell = _check_cell("Genotype", kind, getattr(self, kind))
            concat = _check_concat("Genotype", f"{kind}_concat",
                                   getattr(self, f"{kind}_concat"), len(cell) // 2)
            object.__setattr__(self, kind, cell)
            object.__setattr__(self, f"{kind}_concat", concat)

    def __str__(self) -> str:
        """Compact form for logs: ``normal [op(input) op(input) | ...] reduce [...]``,
        nodes separated by ``|``."""
        def cell(pairs):
            nodes = [" ".join(f"{op}({i})" for op, i in pairs[k:k + 2])
                     for k in range(0, len(pairs), 2)]
            return "[" + " | ".join(nodes) + "]"
        return f"normal {cell(self.normal)} reduce {cell(self.reduce)}"

    def to_dict(self) -> Dict[str, Any]:
        """The JSON form: plain lists, with the ``space`` and ``version`` fields."""
        return {"space": SPACE, "version": VERSION,
                "normal": [list(p) for p in self.normal],
                "normal_concat": list(self.normal_concat),
                "reduce": [list(p) for p in self.reduce],
                "reduce_concat": list(self.reduce_concat)}

    @classmethod
    def from_dict(cls, data: Any, source: str = "genotype") -> "Genotype":
        """Parse the JSON form strictly: exactly the keys of :meth:`to_dict`, space
        ``'darts'``, a supported version and valid cells.

        Args:
            data: The parsed JSON object.
            source: What to call ``data`` in error messages (the file name).

        Raises:
            ValueError: naming ``source`` and the bad key.
        """
        check_header(source, data, SPACE, VERSION, _KEYS)
        fields = {}
        for kind in _CELLS:
            fields[kind] = _check_cell(source, kind, data[kind])
            fields[f"{kind}_concat"] = _check_concat(
                source, f"{kind}_concat", data[f"{kind}_concat"], len(fields[kind]) // 2)
        return cls(**fields)


#: The CIFAR-10 cells found by second-order DARTS (Liu et al., 2019, figures 4 and 5).
DARTS_V2 = Genotype(
    normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0),
            ("sep_conv_3x3", 1), ("sep_conv_3x3", 1), ("skip_connect", 0),
            ("skip_connect", 0), ("dil_conv_3x3", 2)],
    normal_concat=[2, 3, 4, 5],
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2),
            ("max_pool_3x3", 1), ("max_pool_3x3", 0), ("skip_connect", 2),
            ("skip_connect", 2), ("max_pool_3x3", 1)],
    reduce_concat=[2, 3, 4, 5],
)


def derive_cell(alpha: np.ndarray, num_nodes: int,
                primitives: Sequence[str] = PRIMITIVES) -> Cell:
    """The DARTS rule (Liu et al., 2019, section 2.4) for one cell.

    Each edge's weights are ``softmax(alpha[edge])``. For each node, its incoming edges
    are ranked by their largest weight over the candidates other than ``'none'``; the
    two strongest are kept (ties go to the lower input index), each with its strongest
    candidate other than ``'none'``.

    Args:
        alpha: Shape ``(num_edges(num_nodes), len(primitives))``, edges in node order
            and, within a node, by input index.
        num_nodes: Intermediate nodes of the cell.
        primitives: The candidate name of each column.

    Returns:
        ``2 * num_nodes`` pairs ``(op_name, input_index)``, the stronger edge of each
        node first.

    Example:
        >>> alpha = np.zeros((5, 8))  # 2 nodes: all weights equal ...
        >>> alpha[1, PRIMITIVES.index("sep_conv_3x3")] = 1.0  # ... but one
        >>> derive_cell(alpha, num_nodes=2)
        (('sep_conv_3x3', 1), ('max_pool_3x3', 0), ('max_pool_3x3', 0), ('max_pool_3x3', 1))
    """
    alpha = np.asarray(alpha, dtype=np.float64)
    shape = (num_edges(num_nodes), len(primitives))
    if alpha.shape != shape:
        raise ValueError(f"derive_cell: alpha: expected shape {shape} for {num_nodes} "
                         f"nodes and {len(primitives)} candidates, got {alpha.shape}")
    columns = [k for k, name in enumerate(primitives) if name != "none"]
    if not columns:
        raise ValueError("derive_cell: primitives: expected a candidate other than "
                         f"'none', got {list(primitives)}")
    weights = np.stack([softmax(row) for row in alpha])[:, columns]
    cell: List[Tuple[str, int]] = []
    first = 0
    for node in range(num_nodes):
        w = weights[first:first + node + 2]
        strongest = sorted(range(node + 2), key=lambda j: -w[j].max())[:2]
        cell.extend((primitives[columns[int(np.argmax(w[j]))]], j) for j in strongest)
        first += node + 2
    return tuple(cell)


def derive_genotype(alpha_normal: np.ndarray, alpha_reduce: np.ndarray,
                    num_nodes: int = 4, multiplier: int = 4,
                    primitives: Sequence[str] = PRIMITIVES) -> Genotype:
    """Both cells by :func:`derive_cell`; each concatenates its last ``multiplier``
    nodes, as the search cells do."""
    concat = list(range(num_nodes + 2 - multiplier, num_nodes + 2))
    return Genotype(derive_cell(alpha_normal, num_nodes, primitives), concat,
                    derive_cell(alpha_reduce, num_nodes, primitives), concat)


def _format(data: Dict[str, Any]) -> str:
    """JSON with two-space indentation and one ``[op, index]`` pair per line."""
    lines = []
    for key, value in data.items():
        if key in _CELLS:
            pairs = ",\n".join(f"    {json.dumps(p)}" for p in value)
            lines.append(f"  {json.dumps(key)}: [\n{pairs}\n  ]")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def save_genotype(genotype: Genotype, path: PathLike) -> None:
    """Write ``genotype`` as readable JSON (see the module docstring).

    The file is written under a temporary name and renamed, so an interrupted save never
    leaves a truncated file at ``path``.
    """
    if not isinstance(genotype, Genotype):
        raise TypeError(f"save_genotype: genotype: expected a Genotype, got "
                        f"{type(genotype).__name__}")
    atomic_write_text(os.fspath(path), _format(genotype.to_dict()))


def load_genotype(path: PathLike) -> Genotype:
    """Read a genotype written by :func:`save_genotype`, validated strictly.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: naming the file and the bad key, e.g. ``arch.json: normal[3][0]:
            unknown candidate operation 'sep_conv_9x9'; did you mean 'sep_conv_5x5'?
            Valid names: ...``.
    """
    return Genotype.from_dict(read_json_strict(path), os.fspath(path))
