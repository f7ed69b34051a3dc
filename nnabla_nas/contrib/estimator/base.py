"""`Estimator`, the base of every cost estimator, and `active_modules`, the one
traversal that estimators sum over.

An estimator predicts the cost of one module with :meth:`Estimator.predict`, in the
unit it documents (parameters, bytes, milliseconds), and memoizes it;
:meth:`Estimator.get_estimation` is the cost of a whole tree: by default the sum of
``predict`` over the leaf modules that run. In a search space, what runs is the
*active path*: a :class:`~nnabla_nas.module.MixedOp` in ``'full'`` mode runs every
candidate, in ``'sample'`` or ``'max'`` mode only one (see :func:`active_modules`).

Example:
    >>> from nnabla_nas import module as Mo
    >>> class Layers(Estimator):
    ...     unit = "layers"
    ...     def _predict(self, module):
    ...         return 1.0
    >>> Layers().get_estimation(Mo.Sequential(Mo.ReLU(), Mo.Sequential(Mo.ReLU())))
    2.0
"""
from __future__ import annotations

import dataclasses
import weakref
from typing import Any, Dict, Hashable, Iterable, Iterator, List, NamedTuple, Optional, \
    Sequence, Set, Tuple

import nnabla as nn
import nnabla.random
import numpy as np

from ...module import MixedOp, Module
from ...module.module import SEP
from ...registry import Registry
from ...utils.context import Device

#: Estimators by name; each entry is a class whose constructor takes keyword arguments
#: only, all with defaults. Those subclassing :class:`Estimator` can be costs of a
#: search (``search.costs.<name>``) and report their figures in ``summary.json``.
ESTIMATORS = Registry("estimator")

NamedModules = Iterable[Tuple[str, Module]]


def active_index(mixed: MixedOp, name: str = "") -> Optional[int]:
    """The candidate of ``mixed`` that runs, or None when all of them run.

    ``'full'`` mode runs every candidate. ``'max'`` mode runs the candidate with the
    largest current alpha (the first one on ties, as a call would). ``'sample'`` mode
    runs the candidate drawn by the last call.

    Raises:
        ValueError: for a MixedOp in ``'sample'`` mode that has not been called yet.
    """
    if mixed.mode == "full":
        return None
    if mixed.mode == "max":
        return int(np.argmax(mixed.probabilities()))
    if mixed.active_index is None:
        raise ValueError(f"{name or 'MixedOp'}: in 'sample' mode no candidate is active "
                         "before the first call; call the model once, or use mode 'max'")
    return mixed.active_index


def active_modules(module: Module, prefix: str = "", descend_mixed: bool = True,
                   memo: Optional[Set[int]] = None) -> Iterator[Tuple[str, Module]]:
    """Yield ``(name, module)`` for ``module`` and every descendant that runs, each
    once, depth first in registration order (as :meth:`Module.get_modules`).

    Below a :class:`~nnabla_nas.module.MixedOp` only the candidates that run are
    visited (see :func:`active_index`).

    Args:
        module: The root.
        prefix: The root's hierarchical name.
        descend_mixed: With False, MixedOps are yielded but nothing below them: the
            modules that run whatever the architecture (used by expected costs).
        memo: Ids of modules already visited; they and their subtrees are skipped.
    """
    memo = set() if memo is None else memo
    # (name, module, children to visit or None for all of them)
    stack = [(prefix, module, None)]
    while stack:
        name, node, children = stack.pop()
        if id(node) in memo:
            continue
        memo.add(id(node))
        yield name, node
        if children is None:
            children = list(node.modules.items())
        if isinstance(node, MixedOp):
            if not descend_mixed:
                continue
            k = active_index(node, name)
            if k is not None:  # the ops list is visited, but only its k-th candidate
                only = [(str(k), node.ops[k])]
                stack.extend((join_name(name, c), m, only if m is node.ops else None)
                             for c, m in reversed(children))
                continue
        stack.extend((join_name(name, c), m, None) for c, m in reversed(children))


def build_graph(module: Module, shapes: Sequence[Sequence[int]]) -> Any:
    """Call ``module`` on new variables of ``shapes`` (without computing anything)
    and return its output, leaving NNabla's random state as it was.

    Graph construction draws from ``nnabla.random.prng`` (a MixedOp in ``'sample'``
    mode draws its path, random functions their seeds); restoring the state keeps an
    estimate from shifting the random streams of a run. The call is otherwise an
    ordinary one: it records input shapes, and a MixedOp in ``'sample'`` mode makes
    the drawn path its active one (the next call of the run draws the same).
    """
    state = nnabla.random.prng.get_state()
    try:
        with nn.auto_forward(False):
            return module(*[nn.Variable(tuple(int(d) for d in s)) for s in shapes])
    finally:
        nnabla.random.prng.set_state(state)


def build_every_candidate(module: Module, shapes: Sequence[Sequence[int]]) -> Any:
    """:func:`build_graph` with every MixedOp in ``'full'`` mode, so that every
    candidate records its input shapes (a ``'sample'``-mode call runs one), then once
    more in the MixedOps' own modes, so that each has an active path; returns that
    last output."""
    mixed = [m for _, m in module.get_modules() if isinstance(m, MixedOp)]
    modes = [m.mode for m in mixed]
    if all(mode == "full" for mode in modes):
        return build_graph(module, shapes)
    try:
        for m in mixed:
            m.mode = "full"
        build_graph(module, shapes)
    finally:
        for m, mode in zip(mixed, modes):
            m.mode = mode
    return build_graph(module, shapes)


def figure(value: float) -> float:
    """A figure as ``summary.json`` reports it: whole numbers as int, others to four
    decimals."""
    value = float(value)
    return int(value) if value.is_integer() else round(value, 4)


def join_name(prefix: str, name: str) -> str:
    """The hierarchical name of child ``name`` of the module named ``prefix``."""
    return prefix + SEP + name if prefix else name


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """An estimator without options of its own."""


class Inference(NamedTuple):
    """One inference of a trained network, which estimators report on
    (:meth:`Estimator.report`).

    Attributes:
        model: The network, in inference mode, called once on ``outputs``' input.
        outputs: Its output variables, from one sample of random data.
        device: The device of the run.
        nnp_path: The network exported as NNP, if it was.
        onnx_path: The network exported as ONNX, if it was.
    """

    model: Module
    outputs: List[nn.Variable]
    device: Device
    nnp_path: Optional[str] = None
    onnx_path: Optional[str] = None


class Estimator:
    """Base class of cost estimators.

    Subclasses implement :meth:`_predict` (the cost of one module, in :attr:`unit`)
    and may override :meth:`_signature` (what the cost depends on besides the module
    itself) and :meth:`total` (how costs of several modules combine; by default the
    sum over the leaves).

    What a run needs of an estimator registered in :data:`ESTIMATORS` is declared
    here, so that using one as a cost (``search.costs.<name>``) or reporting it in
    ``summary.json`` needs no other code: :attr:`unit`, :attr:`summary_key`,
    :attr:`Config` (options a config may set) and :meth:`from_config`; :meth:`report`
    adds measurements.

    Predictions are memoized per module and signature; the memo holds modules weakly,
    so it never keeps a discarded network alive. :meth:`reset` clears it.
    """

    #: The unit of :meth:`predict` and :meth:`get_estimation`.
    unit: str = ""
    #: The name of its figures in ``summary.json`` (``search_arch_<key>``,
    #: ``estimated_<key>``); empty: not reported.
    summary_key: str = ""
    #: The options a config may set (``search.costs.<name>.<option>``): a frozen
    #: dataclass of :func:`~nnabla_nas.config.fields.option` fields.
    Config: type = NoOptions
    #: Whether the cost of a tree is the sum of its parts' (:meth:`total`). When not
    #: (a peak), :class:`~.expected.PathCosts` prices each architecture with
    #: :meth:`get_estimation` of the path, and :meth:`total` must be an upper bound.
    additive: bool = True

    @classmethod
    def from_config(cls, options: Any, device: Device) -> "Estimator":
        """The estimator with ``options`` (a :attr:`Config`) for ``device``; by
        default the options are the constructor's keyword arguments."""
        return cls(**{f.name: getattr(options, f.name)
                      for f in dataclasses.fields(cls.Config)})

    def __init__(self) -> None:
        self._memo: "weakref.WeakKeyDictionary[Module, dict]" = weakref.WeakKeyDictionary()

    # ------------------------------------------------------------------ per module
    def predict(self, module: Module) -> float:
        """The cost of ``module`` alone, in :attr:`unit` (memoized)."""
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}.predict: expected a Module, got "
                            f"{type(module).__name__}")
        cache = self._memo.setdefault(module, {})
        key = self._signature(module)
        if key not in cache:
            cache[key] = float(self._predict(module))
        return cache[key]

    def _predict(self, module: Module) -> float:
        raise NotImplementedError(f"{type(self).__name__} does not define _predict()")

    def _signature(self, module: Module) -> Hashable:
        """What a prediction depends on besides the module's identity; by default the
        input shapes it was last called with."""
        return tuple(tuple(s) for s in module.input_shapes)

    def reset(self) -> None:
        """Forget every memoized prediction."""
        self._memo.clear()

    # ------------------------------------------------------------------ whole trees
    def total(self, modules: NamedModules) -> float:
        """The cost of a set of ``(name, module)`` pairs of one tree, such as
        :func:`active_modules` yields: the sum of :meth:`predict` over the leaves (modules
        without children), so that nothing is counted twice.

        Costs must be additive over disjoint sets of modules: expected costs rely on it.
        """
        return float(sum(self.predict(m) for _, m in modules if not m.modules))

    def get_estimation(self, module: Module) -> float:
        """The cost of ``module`` with everything below it that runs (the active path
        of a search space), in :attr:`unit`."""
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}.get_estimation: expected a Module, "
                            f"got {type(module).__name__}")
        return self.total(active_modules(module))

    def report(self, inference: Inference) -> Dict[str, float]:
        """The figures of ``summary.json`` for a trained network: by default
        ``estimated_<summary_key>``; estimators that can also measure add theirs."""
        return {f"estimated_{self.summary_key}":
                figure(self.get_estimation(inference.model))}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(unit={self.unit!r})"


def module_estimators() -> Dict[str, type]:
    """The registered estimators that price modules (:class:`Estimator` subclasses),
    by name in registration order: those a search can use as costs and a run reports.
    (``latency_graph`` prices NNabla graphs, not modules.)"""
    return {name: ESTIMATORS.get(name) for name in ESTIMATORS.names()
            if isinstance(ESTIMATORS.get(name), type)
            and issubclass(ESTIMATORS.get(name), Estimator)}
