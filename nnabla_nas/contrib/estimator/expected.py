"""Expected costs of MixedOp-based search spaces, differentiable with respect to alpha.

Every :class:`~nnabla_nas.module.MixedOp` runs candidate ``i`` with probability
``softmax(alpha)_i``, so the expected cost of the network is::

    cost of the modules outside MixedOps
      + sum over MixedOps m of  sum_i softmax(alpha_m)_i * cost(candidate_i of m)

A MixedOp's own work (in ``'full'`` mode the weighted sum of its candidates' outputs)
belongs to the relaxation, not to any architecture, so it is not counted: counting it
priced every architecture of a DARTS supernet with the plumbing of all its edges.

:func:`expected_cost` builds it as a scalar NNabla variable from the alphas, to be
added to an architecture loss (DARTS) or read with ``forward()``. Candidate costs
are constants in that graph; a candidate that itself holds MixedOps contributes its
own expected cost. It is exact for a fixed architecture: when every alpha is
one-hot-like (``1e4`` on one entry) it equals ``estimator.get_estimation(model)`` with
the MixedOps in ``'max'`` mode, for any estimator whose costs add up over disjoint
sets of modules (see :meth:`~nnabla_nas.contrib.estimator.base.Estimator.total`).

Example:
    >>> import nnabla as nn
    >>> from nnabla_nas import module as Mo
    >>> from nnabla_nas.contrib.estimator.memory import MemoryEstimator
    >>> mixed = Mo.MixedOp([Mo.Linear(4, 4), Mo.Identity()])  # alpha = 0: p = 1/2
    >>> y = mixed(nn.Variable((1, 4)))
    >>> cost = expected_cost(mixed, MemoryEstimator())  # 20 parameters or none
    >>> cost.forward()
    >>> float(cost.d)
    10.0
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import nnabla as nn
import nnabla.functions as F
import numpy as np

from ...module import MixedOp, Module
from .base import Estimator, active_modules, build_every_candidate, build_graph, join_name

Cost = Union[Estimator, Callable[[Module], float]]


class _LeafCost(Estimator):
    """An estimator from a function giving the cost of one leaf module."""

    def __init__(self, cost: Callable[[Module], float]):
        super().__init__()
        self._cost = cost
        self.unit = getattr(cost, "unit", "")

    def _predict(self, module: Module) -> float:
        return self._cost(module)


def expected_cost(model: Module, cost: Cost,
                  inputs: Optional[Sequence[Sequence[int]]] = None) -> nn.Variable:
    """The expected cost of ``model`` under ``softmax(alpha)`` of its MixedOps.

    Args:
        model: A module tree, typically a search space of MixedOps.
        cost: An :class:`~nnabla_nas.contrib.estimator.base.Estimator` (its
            :meth:`~nnabla_nas.contrib.estimator.base.Estimator.total` costs every
            group of modules, so the result agrees with its ``get_estimation``), or a
            function giving the cost of one leaf module (costs are then sums over
            leaves). Costs are memoized, per module, by the estimator.
        inputs: Input shapes to call ``model`` with once first, so that every
            candidate records its input shapes (estimators such as latency need
            them), with
            :func:`~nnabla_nas.contrib.estimator.base.build_every_candidate`. By
            default the model must have been called already.

    Returns:
        A variable of shape ``()``, in the estimator's unit. Its gradient with respect
        to every alpha is exact; an alpha shared by several MixedOps (DARTS cells)
        receives the sum of their contributions.

    Raises:
        TypeError: if ``cost`` is neither an estimator nor callable.
    """
    if not isinstance(model, Module):
        raise TypeError(f"expected_cost: model: expected a Module, got "
                        f"{type(model).__name__}")
    if isinstance(cost, Estimator):
        estimator = cost
    elif callable(cost):
        estimator = _LeafCost(cost)
    else:
        raise TypeError("expected_cost: cost: expected an Estimator or a function of a "
                        f"module, got {type(cost).__name__}")
    if inputs is not None:
        build_every_candidate(model, inputs)
    builder = _Builder(estimator)
    fixed, terms = builder.cost(model, "")
    terms = terms + builder.grouped_terms()
    if not terms:
        return F.constant(fixed, ())
    total = terms[0] if len(terms) == 1 else F.add_n(*terms)
    return F.add_scalar(total, fixed) if fixed else total


class _Builder:
    """Builds the expected cost of a tree: constant parts as floats, MixedOps as
    terms of the graph. MixedOps whose candidates all have constant costs are grouped
    by their alpha, so that a shared alpha gives one softmax and one product."""

    def __init__(self, estimator: Estimator):
        self.estimator = estimator
        self.weights: Dict[int, nn.Variable] = {}          # id(alpha) -> softmax
        self.grouped: Dict[int, Tuple[Module, np.ndarray]] = {}  # id(alpha) -> costs

    def cost(self, root: Module, prefix: str, nested: bool = False
             ) -> Tuple[float, List[nn.Variable]]:
        """``(constant cost, terms)`` of ``root``'s tree; the expected cost is the
        constant plus the sum of the terms (and, at the top, of
        :meth:`grouped_terms`). ``nested``: ``root`` is a candidate of a MixedOp, so
        its terms are weighted by that MixedOp and must not join a group."""
        outside, terms = [], []
        for name, module in active_modules(root, prefix, descend_mixed=False):
            if isinstance(module, MixedOp):  # yielded without its candidates
                terms.extend(self.mixed(module, name, nested))
            else:  # a MixedOp's own work (a weighted sum) is in no architecture
                outside.append((name, module))
        return self.estimator.total(outside), terms

    def mixed(self, mixed: MixedOp, name: str, nested: bool) -> List[nn.Variable]:
        """The terms of one MixedOp (none if its costs join a group)."""
        costs = [self.cost(op, join_name(name, f"ops/{i}"), nested=True)
                 for i, op in enumerate(mixed.ops)]
        if all(not inner for _, inner in costs):
            values = np.array([fixed for fixed, _ in costs], dtype=np.float64)
            if not nested:  # grouped by alpha, see grouped_terms
                _, total = self.grouped.get(id(mixed.alpha), (mixed, 0.0))
                self.grouped[id(mixed.alpha)] = (mixed, total + values)
                return []
            return [self.weighted(mixed, _constant(values))]
        per_op = [F.add_scalar(F.add_n(*inner) if len(inner) > 1 else inner[0], fixed)
                  if inner else F.constant(fixed, ()) for fixed, inner in costs]
        return [self.weighted(mixed, F.stack(*per_op, axis=0))]

    def weighted(self, mixed: MixedOp, costs: nn.Variable) -> nn.Variable:
        """``sum_i softmax(alpha)_i * costs_i``."""
        return F.sum(self.softmax(mixed) * costs)

    def softmax(self, mixed: MixedOp) -> nn.Variable:
        alpha, n = mixed.alpha, len(mixed.ops)
        if id(alpha) not in self.weights:
            flat = alpha if tuple(alpha.shape) == (n,) else F.reshape(alpha, (n,),
                                                                        inplace=False)
            self.weights[id(alpha)] = F.softmax(flat, axis=0)
        return self.weights[id(alpha)]

    def grouped_terms(self) -> List[nn.Variable]:
        """One term per alpha shared by top-level MixedOps of constant costs."""
        return [self.weighted(mixed, _constant(values))
                for mixed, values in self.grouped.values()]


def _constant(values: np.ndarray) -> nn.Variable:
    return nn.Variable.from_numpy_array(np.asarray(values, dtype=np.float32))


class PathCosts:
    """Exact costs of discrete architectures of a MixedOp search space, as numbers.

    The cost of an architecture is the cost of the modules outside MixedOps plus, per
    MixedOp, the cost of the candidate it runs (nothing for a MixedOp the architecture
    leaves out, such as a DARTS edge that was not kept): what :func:`expected_cost`
    gives for one-hot alphas, but cheap enough to price thousands of sampled paths.

    Attributes:
        fixed: The cost outside MixedOps.
        mixed: The MixedOps, in traversal order.
        costs: Per MixedOp, the cost of each candidate.
        unit: The estimator's unit.
        scale: A factor applied to every cost (1 by default): a search sets it so that
            the supernet's costs, at the search's sizes, give the figure of the
            network it delivers (see :class:`~nnabla_nas.runner.arch_costs.ArchCosts`).
    """

    def __init__(self, model: Module, cost: Cost,
                 inputs: Optional[Sequence[Sequence[int]]] = None):
        estimator = cost if isinstance(cost, Estimator) else _LeafCost(cost)
        if inputs is not None:
            build_every_candidate(model, inputs)
        builder = _Builder(estimator)
        outside = []
        self.mixed: List[MixedOp] = []
        self.costs: List[np.ndarray] = []
        for name, module in active_modules(model, "", descend_mixed=False):
            if not isinstance(module, MixedOp):  # see _Builder.cost
                outside.append((name, module))
            if isinstance(module, MixedOp):
                per_op = [builder.cost(op, join_name(name, f"ops/{i}"), nested=True)
                          for i, op in enumerate(module.ops)]
                if any(terms for _, terms in per_op):
                    raise ValueError(f"PathCosts: {name}: MixedOps inside MixedOps are "
                                     "not supported")
                self.mixed.append(module)
                self.costs.append(np.array([c for c, _ in per_op], dtype=np.float64))
        self._fixed = float(estimator.total(outside))
        self.unit = getattr(estimator, "unit", "")
        self.scale = 1.0
        self._index = {id(m): i for i, m in enumerate(self.mixed)}
        # A cost that does not add up over modules is priced path by path.
        self._exact = None if getattr(estimator, "additive", True) else (model, estimator)
        self._paths: Dict[Tuple[Tuple[int, int], ...], float] = {}

    @property
    def fixed(self) -> float:
        """The cost outside MixedOps (scaled)."""
        return self.scale * self._fixed

    def of(self, choices: Dict[int, int]) -> float:
        """The cost of the architecture running candidate ``choices[id(mixed)]`` of each
        MixedOp listed; MixedOps not listed are left out (for an estimator that is not
        additive, they run as their mode says). Scaled by :attr:`scale`."""
        if self._exact is not None:
            return self.scale * self._path_estimate(choices)
        total = self._fixed
        for key, k in choices.items():
            total += float(self.costs[self._index[key]][k])
        return self.scale * total

    def _path_estimate(self, choices: Dict[int, int]) -> float:
        """``get_estimation`` of the model with the listed MixedOps running their
        choices (memoized per path; modes and selections restored after)."""
        key = tuple(sorted((self._index[m], int(k)) for m, k in choices.items()))
        if key not in self._paths:
            model, estimator = self._exact
            mixed = [self.mixed[i] for i, _ in key]
            saved = [(m, m.mode, m.selected) for m in mixed]
            try:
                for m, (_, k) in zip(mixed, key):
                    m.mode = "sample"
                    m.select(k)
                build_graph(model, model.input_shapes)  # the selected path is active
                self._paths[key] = float(estimator.get_estimation(model))
            finally:
                for m, mode, selected in saved:
                    m.mode = mode
                    m.select(selected)
        return self._paths[key]

    def candidates(self, mixed: MixedOp) -> np.ndarray:
        """The cost of each candidate of ``mixed`` (scaled)."""
        return self.scale * self.costs[self._index[id(mixed)]]
