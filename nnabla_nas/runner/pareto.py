"""The trade-off between accuracy and hardware costs of evaluated architectures: the
non-dominated (Pareto) front, as a table and a picture.

A point is dominated when another is at least as accurate and at most as costly in
every cost, and strictly better in one of them; the front is every point no other
dominates (equal points are all on it).

Example:
    >>> pareto_front([0.9, 0.8, 0.7, 0.9], [[3.0], [1.0], [2.0], [4.0]])
    [0, 1]
"""
from __future__ import annotations

import csv
import io
from typing import List, Mapping, Sequence

import numpy as np

from ..utils.files import atomic_path, atomic_write_text


def pareto_front(accuracy: Sequence[float], costs: Sequence[Sequence[float]]) -> List[int]:
    """Indices of the non-dominated points, in their order: maximal ``accuracy[i]``,
    minimal ``costs[i]`` (one row of costs per point, any number of costs, possibly
    none: then the front is the most accurate points)."""
    acc = np.asarray(accuracy, dtype=np.float64)
    cost = np.asarray(costs, dtype=np.float64).reshape(len(acc), -1)
    front = []
    for i in range(len(acc)):
        no_worse = (acc >= acc[i]) & np.all(cost <= cost[i], axis=1)
        better = (acc > acc[i]) | np.any(cost < cost[i], axis=1)
        if not np.any(no_worse & better):
            front.append(i)
    return front


def write_pareto_csv(path: str, rows: Sequence[Mapping[str, object]],
                     front: Sequence[int]) -> None:
    """``rows`` (dicts with the same keys) as CSV with a last column ``on_front``
    (1 for the indices in ``front``), atomically."""
    keys = list(rows[0]) if rows else ["index", "accuracy"]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(keys + ["on_front"])
    on = set(front)
    for i, row in enumerate(rows):
        writer.writerow([row[k] for k in keys] + [int(i in on)])
    atomic_write_text(path, text.getvalue())


def plot_pareto(path: str, accuracy: Sequence[float], costs: Mapping[str, Sequence[float]],
                units: Mapping[str, str], bounds: Mapping[str, float],
                front: Sequence[int]) -> None:
    """One panel per cost: accuracy against the cost of every point, the points of the
    front over all costs marked (in one panel, a point may look dominated by one that
    costs more in another cost), the bound (if any) drawn; a PNG written atomically (matplotlib, Agg)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(costs) or [""]
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.8), squeeze=False)
    acc = np.asarray(accuracy, dtype=np.float64)
    on = np.zeros(len(acc), dtype=bool)
    on[list(front)] = True
    for ax, name in zip(axes[0], names):
        x = np.asarray(costs[name], dtype=np.float64) if name else np.arange(len(acc))
        ax.scatter(x[~on], acc[~on], s=12, color="0.6", label="candidates")
        ax.scatter(x[on], acc[on], s=24, color="C3", label="front (all costs)")
        if name in bounds:
            ax.axvline(bounds[name], color="C0", ls="--", label="bound")
        ax.set_xlabel(f"{name} ({units.get(name, '')})" if name else "candidate")
        ax.set_ylabel("validation accuracy")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
