"""``candidates.jsonl``: the architectures a black-box search evaluated, one JSON object
per line, in the order they were evaluated::

    {"index": 0, "arch": {"block1": "mb3_k5", ...}, "accuracy": 0.91,
     "costs": {"latency": 1.2, "flops": 3.1e6}, "seconds": 0.8, "draws": 1}

A candidate that could not be scored (its worker died on every attempt, see
:mod:`~nnabla_nas.runner.executor`) has ``"accuracy": null`` and a ``"failed"`` key
saying why; it is never chosen.

It is the search's journal as well as its result: it is rewritten whole (atomically)
after each candidate, in candidate order (also when workers finish out of order), so
it always holds complete lines, and a rerun continues after its last candidate. Every draw of the search depends only on the run's seed, the
candidate's index and the candidates before it, so the continued search is the one
that was interrupted.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

from ..contrib.architecture import Architecture
from ..utils.files import FileInputError, atomic_write_text, loads_json, read_text
from ..utils.output import OutputError

NAME = "candidates.jsonl"


@dataclass(frozen=True)
class Candidate:
    """One evaluated architecture.

    Attributes:
        index: Its position in the search (from 0).
        arch: Its choices, by label.
        accuracy: Its fitness: validation accuracy (0 to 1), the benchmark's
            accuracy with ``evaluate: table`` (0 to 1), or the proxy's score with
            ``evaluate: proxy``; None when it failed.
        costs: Its estimated cost per cost term, in the estimators' units.
        seconds: Wall time of its evaluation.
        draws: Architectures drawn to find it (those over a hard bound are redrawn).
        failed: Why it could not be scored; None when it was.
    """

    index: int
    arch: Dict[str, str]
    accuracy: Optional[float]
    costs: Dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    draws: int = 1
    failed: Optional[str] = None

    def __post_init__(self):
        if (self.accuracy is None) != (self.failed is not None):
            raise ValueError("expected an accuracy, or null with the reason it failed")

    def to_json(self) -> str:
        """Its journal line (without ``failed`` when it did not fail)."""
        data = asdict(self)
        if self.failed is None:
            del data["failed"]
        return json.dumps(data)

    def architecture(self, space: Any, options: Dict[str, Any]) -> Architecture:
        """As an :class:`Architecture` of ``space`` with the arch ``options``."""
        return Architecture(space.name, options, dict(self.arch))


def journal_line(candidate: Candidate) -> str:
    """The line of ``candidate`` in the journal (with its newline)."""
    return candidate.to_json() + "\n"


def write_journal(path: str, candidates: List[Candidate],
                  lines: Optional[List[str]] = None) -> None:
    """``candidates`` as ``candidates.jsonl``, atomically. ``lines``, if given, holds
    the :func:`journal_line` of the first candidates already (a search passes the
    same list each time: it is extended here, so each candidate is serialized once)."""
    lines = [] if lines is None else lines
    lines.extend(journal_line(c) for c in candidates[len(lines):])
    atomic_write_text(path, "".join(lines))


def read_journal(path: str, space: Any, options: Dict[str, Any], costs: List[str]
                 ) -> List[Candidate]:
    """The candidates of the journal at ``path`` (none if it does not exist), each
    checked: consecutive indices, an architecture of ``space`` with ``options``, and
    the cost terms ``costs``.

    Raises:
        OutputError: naming the file and the line, for a journal this run cannot
            continue.
    """
    if not os.path.exists(path):
        return []
    out: List[Candidate] = []
    try:
        lines = read_text(path).splitlines()
    except (OSError, FileInputError, UnicodeDecodeError) as e:
        raise OutputError(f"{path}: cannot read the journal ({e}); move it away to "
                          "search afresh") from None
    for n, line in enumerate(lines, 1):
        where = f"{path} line {n}"
        try:
            data = loads_json(line, where)
            candidate = Candidate(**data)
            space.validate(candidate.architecture(space, options), where)
        except (TypeError, ValueError) as e:
            raise OutputError(f"{where}: not a candidate of this search ({e}); move the "
                              "file away to search afresh") from None
        if candidate.index != len(out) or sorted(candidate.costs) != sorted(costs):
            raise OutputError(f"{where}: expected candidate {len(out)} with costs "
                              f"{sorted(costs)}; move the file away to search afresh")
        out.append(candidate)
    return out
