"""The registry of search spaces and the contract every space implements.

A space is one class registered in :data:`SEARCH_SPACES`. It writes only what is its
own:

* ``SearchConfig`` and ``TrainConfig``: frozen dataclasses of
  :func:`~nnabla_nas.config.fields.option` fields (the supernet's options, and those of
  the network retrained from an architecture);
* :meth:`SearchSpace.arch_options`: which of the search options an architecture
  carries (those that fix its decisions and the network built from them);
* :meth:`SearchSpace.choices`: its decisions, as labelled :class:`Choice` objects;
* :meth:`SearchSpace.build_search`: the supernet, whose
  :class:`~nnabla_nas.module.MixedOp` objects carry the labels of their decisions
  (``MixedOp(ops, label=..., names=...)``);
* :meth:`SearchSpace.build_train`: the network of an :class:`Architecture`;
* and, if it wants: rules beyond one candidate per label (:meth:`SearchSpace.check`),
  how to draw an architecture (:meth:`SearchSpace.sample`), how to count them
  (:meth:`SearchSpace.size`), how to derive one from the supernet's alphas
  (:meth:`SearchSpace.most_probable`, :meth:`SearchSpace.decisions`), pictures
  (:meth:`SearchSpace.draw`), how to read its older ``arch.json`` files
  (:meth:`SearchSpace.from_legacy`), and a benchmark's own notation of its
  architectures (:attr:`SearchSpace.native_keys`, :meth:`SearchSpace.to_native`,
  :meth:`SearchSpace.from_native`, :meth:`SearchSpace.from_text`).

Everything else is written once, here, for every space: deriving, listing decisions,
saving, loading and validating ``arch.json``, drawing a uniformly random architecture,
mutating one choice, counting the space, and fixing a supernet to an architecture.
"""
from __future__ import annotations

import dataclasses
import math
import os
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..module import MixedOp, Module
from ..registry import Registry
from .architecture import (Architecture, Choice, architecture_from_dict, check_choices,
                           plain, write_architecture)
from .archfile import read_json_strict
from .model import Model

#: Search spaces by name; each entry is a :class:`SearchSpace` subclass.
SEARCH_SPACES = Registry("search space")

__all__ = ["SEARCH_SPACES", "SearchSpace", "Decision", "Choice", "Architecture",
           "labelled_ops", "log_probabilities", "load_architecture"]


@dataclass(frozen=True)
class Decision:
    """One choice that derivation makes from the supernet's alphas.

    Attributes:
        name: The label of the choice (``normal/node1/edge0``, ``block3``).
        mixed: The MixedOps of the supernet that make it (several when cells share
            their alphas).
        scores: The log-probability of each candidate, by which derivation ranks them.
        allowed: The candidates derivation may choose from (indices).
        choice: The candidate derivation chooses (the best allowed one).
        candidates: The names of the candidates.
    """

    name: str
    mixed: Tuple[MixedOp, ...]
    scores: np.ndarray
    allowed: Tuple[int, ...]
    choice: int
    candidates: Tuple[str, ...] = ()


def log_probabilities(alpha: np.ndarray) -> np.ndarray:
    """log softmax of a flat array of architecture weights (float64)."""
    z = np.asarray(alpha, dtype=np.float64).ravel()
    z = z - z.max()
    return z - np.log(np.exp(z).sum())


def labelled_ops(model: Module) -> "OrderedDict[str, List[MixedOp]]":
    """The MixedOps of ``model`` by the label of their choice, in traversal order: a
    MixedOp without a label (one a user built without naming its choice) is labelled
    by its hierarchical name.

    Raises:
        ValueError: when MixedOps sharing a label disagree on their candidates.
    """
    out: "OrderedDict[str, List[MixedOp]]" = OrderedDict()
    for name, m in model.get_modules():
        if isinstance(m, MixedOp):
            group = out.setdefault(m.label if m.label is not None else name, [])
            if group and group[0].names != m.names:
                raise ValueError(f"{name}: label {m.label!r}: candidates {list(m.names)} "
                                 f"differ from those of the other MixedOps of the label "
                                 f"{list(group[0].names)}")
            group.append(m)
    return out


@dataclass(frozen=True)
class NoOptions:
    """A space without options of this kind."""


class SearchSpace:
    """What a search space provides to searchers, trainers and the command line (see
    the module docstring for what a subclass writes)."""

    name: str = ""
    SearchConfig: type = NoOptions
    TrainConfig: type = NoOptions
    #: Search options of the smallest meaningful supernet, and train options of the
    #: smallest network, for quick checks (the tests run every registered space with
    #: every searcher and cost at these sizes). Read-only.
    smoke_options: Dict[str, Any] = {}
    smoke_train_options: Dict[str, Any] = {}
    #: The keys of the space's own notation of an architecture in ``arch.json`` (a
    #: benchmark's: NAS-Bench-201's ``arch_str``, NAS-Bench-101's ``matrix`` and
    #: ``ops``). A file may hold them alone, or next to ``choices`` (as
    #: :meth:`save_arch` writes them), where they must agree.
    native_keys: Tuple[str, ...] = ()

    # ------------------------------------------------------------ what a space writes
    @classmethod
    def arch_options(cls, options: Any) -> Dict[str, Any]:
        """The options an architecture of this space carries, as JSON values: by
        default every search option."""
        return plain(dataclasses.asdict(options))

    @classmethod
    def choices(cls, arch_options: Dict[str, Any]) -> List[Choice]:
        """The decisions of the space with these options, in a stable order.

        Raises:
            ValueError: for options this space cannot have.
        """
        raise NotImplementedError

    @classmethod
    def build_search(cls, options: Any, shape: Tuple[int, ...], num_classes: int,
                     rng: np.random.RandomState) -> Model:
        """The supernet for inputs of ``shape`` (C, H, W); its MixedOps carry labels."""
        raise NotImplementedError

    @classmethod
    def build_train(cls, arch: Architecture, options: Any, shape: Tuple[int, ...],
                    num_classes: int, rng: np.random.RandomState) -> Model:
        """The network of ``arch`` to train from scratch, sized by ``options`` (the
        space's ``TrainConfig``)."""
        raise NotImplementedError

    # -------------------------------------------------------- what a space may write
    @classmethod
    def check(cls, arch: Architecture, source: str = "architecture") -> None:
        """Rules an architecture obeys beyond one candidate per label (none by
        default); raise a ValueError naming ``source`` and the label."""

    @classmethod
    def sample(cls, arch_options: Dict[str, Any], rng: np.random.RandomState
               ) -> Architecture:
        """A uniformly random architecture: one uniform candidate per label, drawn
        again until :meth:`check` accepts it."""
        choices = cls.choices(arch_options)
        for _ in range(10000):
            arch = Architecture(cls.name, arch_options,
                                {c.label: c.candidates[rng.randint(len(c.candidates))]
                                 for c in choices})
            if cls.is_valid(arch):
                return arch
        raise ValueError(f"space {cls.name}: no valid architecture in 10000 uniform draws; "
                         "the space must define sample()")

    @classmethod
    def size(cls, arch_options: Dict[str, Any]) -> int:
        """The number of architectures: the product of the candidates' counts.
        Spaces whose :meth:`check` rejects some combinations override it."""
        return math.prod(len(c.candidates) for c in cls.choices(arch_options))

    @classmethod
    def most_probable(cls, model: Model, options: Any) -> Architecture:
        """The architecture the supernet's alphas select, before any budget: the
        choice of every :meth:`decisions` entry (spaces whose decisions do not cover
        every label override it)."""
        decisions = cls.decisions(model, options)
        return Architecture(cls.name, cls.arch_options(options),
                            {d.name: d.candidates[d.choice] for d in decisions})

    @classmethod
    def decisions(cls, model: Model, options: Any) -> List[Decision]:
        """The choices derivation makes, in the order :meth:`derive` takes them: one
        per label, scored by the mean of its MixedOps' alphas, every candidate
        allowed."""
        out = []
        for label, ops in labelled_ops(model).items():
            alpha = np.mean([np.asarray(m.alpha.d, dtype=np.float64).ravel()
                             for m in ops], axis=0)
            scores = log_probabilities(alpha)
            out.append(Decision(label, tuple(ops), scores, tuple(range(len(scores))),
                                int(np.argmax(scores)), ops[0].names))
        return out

    @classmethod
    def draw(cls, arch: Architecture, folder: str) -> List[str]:
        """Draw ``arch`` into ``folder`` (graphviz text, PNG and PDF); returns the files
        written. Raises :class:`~nnabla_nas.visual.dot.GraphvizMissing` (carrying the
        text files written) when graphviz is not installed. Nothing by default."""
        return []

    @classmethod
    def describe(cls, arch: Architecture) -> str:
        """``arch`` in one line for logs."""
        return str(arch)

    @classmethod
    def from_legacy(cls, data: Any, source: str) -> Architecture:
        """An architecture from an ``arch.json`` of an older format of this space."""
        raise ValueError(f"{source}: expected an architecture file of version 2 with keys "
                         "space, version, options, choices")

    @classmethod
    def to_native(cls, arch: Architecture) -> Dict[str, Any]:
        """``arch`` in the space's own notation, by the keys of :attr:`native_keys`
        (JSON values); nothing by default."""
        return {}

    @classmethod
    def from_native(cls, data: Dict[str, Any], source: str) -> Architecture:
        """The architecture of the space's own notation (``data`` holds the keys of
        :attr:`native_keys`); a ValueError naming ``source`` and the key otherwise."""
        raise ValueError(f"{source}: space {cls.name!r} has no notation of its own")

    @classmethod
    def from_text(cls, text: str) -> Optional[Architecture]:
        """The architecture that ``text``, given where a file is expected, writes in
        the space's own notation (an architecture string on the command line), or
        None when it is not such a text (the default)."""
        return None

    # ------------------------------------------------------- written once, for all
    @classmethod
    def is_valid(cls, arch: Architecture) -> bool:
        """Whether ``arch`` is an architecture of this space."""
        try:
            cls.validate(arch)
        except ValueError:
            return False
        return True

    @classmethod
    def validate(cls, arch: Architecture, source: str = "architecture") -> Architecture:
        """``arch`` if it belongs to this space: its space, its labels, a candidate of
        each, and the space's own rules; else a ValueError naming ``source``, the label
        and the candidate, and listing the allowed ones."""
        if arch.space != cls.name:
            raise ValueError(f"{source}: space: expected {cls.name!r}, got {arch.space!r} "
                             "(an architecture of another search space)")
        try:
            choices = cls.choices(dict(arch.options))
        except (ValueError, TypeError, KeyError) as e:
            raise ValueError(f"{source}: options: {e}") from None
        check_choices(source, arch, choices)
        cls.check(arch, source)
        return arch

    @classmethod
    def derive(cls, model: Model, options: Any,
               choices: Optional[Sequence[int]] = None) -> Architecture:
        """The architecture the supernet's parameters select; with ``choices`` (one
        candidate index per :meth:`decisions` entry, e.g. a pick within a hardware
        budget) those replace what derivation would choose."""
        arch = cls.most_probable(model, options)
        if choices is None:
            return arch
        decisions = cls.decisions(model, options)
        if len(choices) != len(decisions):
            raise ValueError(f"{cls.__name__}.derive: choices: expected {len(decisions)} "
                             f"indices (one per decision), got {len(choices)}")
        return cls.validate(arch.replace(
            {d.name: d.candidates[int(k)] for d, k in zip(decisions, choices)}))

    @classmethod
    def mutate(cls, arch: Architecture, rng: np.random.RandomState,
               tries: int = 1000) -> Architecture:
        """``arch`` with exactly one label changed to another candidate, uniformly
        among the valid such architectures (by rejection).

        Raises:
            ValueError: when no single change of ``arch`` is valid.
        """
        choices = [c for c in cls.choices(dict(arch.options)) if len(c.candidates) > 1]
        for _ in range(tries if choices else 0):
            c = choices[rng.randint(len(choices))]
            others = [n for n in c.candidates if n != arch.choices[c.label]]
            mutant = arch.replace({c.label: others[rng.randint(len(others))]})
            if cls.is_valid(mutant):
                return mutant
        raise ValueError(f"space {cls.name}: no valid architecture differs from this one "
                         f"in one choice (after {tries} tries)")

    @classmethod
    def save_arch(cls, arch: Architecture, path: str) -> None:
        """Write ``arch`` as ``arch.json`` (atomically), after validating it, with its
        notation of the space's own (:meth:`to_native`)."""
        write_architecture(cls.validate(arch), path, cls.to_native(arch))

    @classmethod
    def load_arch(cls, path: str) -> Architecture:
        """Read and validate an ``arch.json`` of this space (older formats and the
        space's own notation included), or, for a ``path`` that is no file, the text
        :meth:`from_text` reads; errors name the file, the label and the candidate."""
        if not os.path.exists(path):
            arch = cls.from_text(str(path))
            if arch is not None:
                return cls.validate(arch, "architecture string")
        arch = load_architecture(path, cls.name)
        return cls.validate(arch, str(path))

    @classmethod
    @contextmanager
    def fixed(cls, model: Module, arch: Architecture) -> Iterator[Module]:
        """Within the block, the supernet ``model`` runs the architecture ``arch``:
        every labelled MixedOp runs its chosen candidate (``'sample'`` mode with that
        candidate selected) and its alpha gets no gradient. Modes, selections and
        ``need_grad`` flags are restored afterwards."""
        groups = labelled_ops(model)
        missing = [label for label in groups if label not in arch.choices]
        if missing:
            raise ValueError(f"{cls.__name__}.fixed: the architecture has no choice for "
                             f"labels {missing[:8]}")
        saved = [(m, m.mode, m.selected, m.alpha.need_grad)
                 for ops in groups.values() for m in ops]
        try:
            for label, ops in groups.items():
                for m in ops:
                    m.mode = "sample"
                    m.select(m.names.index(arch.choices[label]))
                    m.alpha.need_grad = False
            yield model
        finally:
            for m, mode, selected, need_grad in saved:
                m.mode = mode
                m.select(selected)
                m.alpha.need_grad = need_grad

    @classmethod
    def candidate_names(cls, model: Model) -> Dict[str, Sequence[str]]:
        """The candidate names of each architecture parameter, by its name (legends of
        the alpha plot)."""
        names = {id(p): n for n, p in model.get_arch_parameters().items()}
        return {names[id(m.alpha)]: m.names for ops in labelled_ops(model).values()
                for m in ops if id(m.alpha) in names}


def load_architecture(path: str, space: Optional[str] = None) -> Architecture:
    """Read an ``arch.json`` of any registered space (or only of ``space``), without
    validating it against the space (:meth:`SearchSpace.load_arch` does); files of an
    older format are converted by the space their ``space`` key names, and files in a
    space's own notation (:attr:`SearchSpace.native_keys`, without ``version``) by
    that space.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: naming the file and the bad key.
    """
    source = str(path)
    data = read_json_strict(path)
    if space is not None and isinstance(data, dict) and "space" in data \
            and data["space"] != space:
        raise ValueError(f"{source}: space: expected {space!r}, got {data['space']!r} "
                         "(an architecture of another search space)")
    if not isinstance(data, dict):
        return architecture_from_dict(data, source)
    if "version" not in data:
        owner = _native_owner(data, space)
        if owner is not None:
            return owner.from_native({k: v for k, v in data.items() if k != "space"},
                                     source)
    if data.get("version") == 1:
        name = data.get("space")
        if name not in SEARCH_SPACES:
            raise ValueError(f"{source}: space: {SEARCH_SPACES.unknown_message(name)}")
        return SEARCH_SPACES.get(name).from_legacy(data, source)
    name = data.get("space")
    keys = SEARCH_SPACES.get(name).native_keys if name in SEARCH_SPACES else ()
    arch = architecture_from_dict(data, source, optional=keys)
    native = {k: data[k] for k in keys if k in data}
    if native and SEARCH_SPACES.get(name).from_native(native, source) != arch:
        raise ValueError(f"{source}: {', '.join(native)}: a different architecture from "
                         "that of choices")
    return arch


def _native_owner(data: Dict[str, Any], space: Optional[str]) -> Optional[type]:
    """The space whose own notation ``data`` is in: the one its ``space`` key or
    ``space`` names, else the one registered space whose native keys it holds."""
    name = data.get("space", space)
    if name is not None:
        owner = SEARCH_SPACES.get(name) if name in SEARCH_SPACES else None
        return owner if owner is not None and owner.native_keys and any(
            k in data for k in owner.native_keys) else None
    owners = [SEARCH_SPACES.get(n) for n in SEARCH_SPACES.names()
              if SEARCH_SPACES.get(n).native_keys
              and all(k in data for k in SEARCH_SPACES.get(n).native_keys)]
    return owners[0] if len(owners) == 1 else None
