"""Hard hardware budgets: the best derivable architecture whose costs are within bounds.

Derivation normally takes the most probable allowed candidate of every decision (see
:class:`~nnabla_nas.contrib.spaces.Decision`). Under bounds, :func:`within_budget`
finds the most probable architecture (the largest sum of the chosen candidates'
log-probabilities) whose exact costs are within every bound, by dynamic programming.
"""
from __future__ import annotations

from typing import List, NamedTuple, Sequence

import numpy as np

from ..contrib.estimator.expected import PathCosts
from ..contrib.spaces import Decision


class BudgetError(ValueError):
    """No architecture of the search space meets a bound."""


class Bound(NamedTuple):
    """A hard bound on one cost: ``costs`` prices architectures, ``limit`` is the
    budget; ``name`` is the config key for messages (``search.costs.latency``)."""

    name: str
    costs: PathCosts
    limit: float


def option_costs(decision: Decision, costs: PathCosts) -> np.ndarray:
    """The cost of each candidate of ``decision``, summed over its MixedOps."""
    return np.sum([costs.candidates(m) for m in decision.mixed], axis=0)


def architecture_cost(decisions: Sequence[Decision], choices: Sequence[int],
                      costs: PathCosts) -> float:
    """The cost of the architecture making ``choices``; MixedOps that are in no
    decision are left out (DARTS edges derivation drops)."""
    return costs.of({id(m): int(k) for d, k in zip(decisions, choices) for m in d.mixed})


def cheapest(decisions: Sequence[Decision], costs: PathCosts) -> float:
    """The lowest cost any architecture made of ``decisions`` can have."""
    return costs.fixed + sum(float(option_costs(d, costs)[list(d.allowed)].min())
                             for d in decisions)


def within_budget(decisions: Sequence[Decision], bounds: Sequence[Bound],
                  resolution: int = 0) -> List[int]:
    """The most probable choices for ``decisions`` (as :meth:`SearchSpace.derive` takes
    them) whose costs are within every bound: derivation's own choices when they
    already are.

    A multiple-choice knapsack solved by dynamic programming over each budget cut in
    ``resolution`` steps (default: 1000 for one bound, 64 per bound for two, 16 for
    more). Candidate costs are rounded up to whole steps, so the result is always
    within budget, and optimal up to one step per decision.

    Raises:
        BudgetError: naming the bound that cannot be met, with the cheapest cost the
            space allows.
    """
    choices = [d.choice for d in decisions]
    if all(architecture_cost(decisions, choices, b.costs) <= b.limit for b in bounds):
        return choices
    for b in bounds:
        low = cheapest(decisions, b.costs)
        if low > b.limit:
            raise BudgetError(
                f"{b.name}.bound: no architecture of the search space "
                f"meets {b.limit:g} {b.costs.unit}: the cheapest possible costs {low:.4g}")
    steps = resolution or {1: 1000, 2: 64}.get(len(bounds), 16)
    shape = (steps + 1,) * len(bounds)
    widths = [max(b.limit - b.costs.fixed, 1e-12) / steps for b in bounds]
    # best[c]: the best total score of the decisions so far using exactly c steps of
    # each budget; picks[i][c]: the candidate decision i takes there.
    best = np.full(shape, -np.inf)
    best[(0,) * len(bounds)] = 0.0
    picks = []
    for d in decisions:
        new = np.full(shape, -np.inf)
        pick = np.full(shape, -1, dtype=np.int64)
        uses = use_of(d, bounds, widths)
        for k, use in uses.items():
            if any(u > steps for u in use):
                continue
            moved = np.full(shape, -np.inf)
            moved[tuple(slice(u, None) for u in use)] = \
                best[tuple(slice(0, steps + 1 - u) for u in use)]
            moved += d.scores[k]
            better = moved > new
            new[better], pick[better] = moved[better], k
        best = new
        picks.append((pick, uses))
    if not np.isfinite(best).any():
        raise BudgetError(
            f"{bounds[0].name}.bound: no architecture of the search "
            f"space meets every bound at once ({', '.join(f'{b.name} {b.limit:g}' for b in bounds)})")
    cell = np.unravel_index(int(np.argmax(best)), shape)
    for i in reversed(range(len(decisions))):
        pick, uses = picks[i]
        k = int(pick[cell])
        choices[i] = k
        cell = tuple(c - u for c, u in zip(cell, uses[k]))
    return choices


def use_of(decision: Decision, bounds: Sequence[Bound], widths: Sequence[float]):
    """Budget steps each candidate of ``decision`` uses, per bound."""
    per_bound = [np.ceil(option_costs(decision, b.costs) / w - 1e-9).astype(np.int64)
                 for b, w in zip(bounds, widths)]
    return {k: [int(u[k]) for u in per_bound] for k in decision.allowed}
