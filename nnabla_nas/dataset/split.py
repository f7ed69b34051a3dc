"""Seeded, stratified hold-out splits of labelled data."""
from __future__ import annotations

from typing import Tuple

import numpy as np


def stratified_split(labels: np.ndarray, fraction: float, rng: np.random.RandomState,
                     name: str = "fraction") -> Tuple[np.ndarray, np.ndarray]:
    """Hold out ``fraction`` of the samples, the same fraction of every class.

    The number held out is ``round(fraction * N)``, shared among the classes by largest
    remainder, so every class contributes its proportional share give or take one.

    Args:
        labels: Class of each sample, shape (N,) or (N, 1).
        fraction: Fraction to hold out, in (0, 1).
        rng: Chooses which samples of each class are held out.
        name: The option ``fraction`` comes from, for the error message.

    Returns:
        ``(kept, held_out)``: sorted indices into ``labels``, disjoint, covering all.

    Raises:
        ValueError: naming ``name`` if either part would be empty.
    """
    labels = np.asarray(labels).reshape(-1)
    n = len(labels)
    total = int(np.floor(fraction * n + 0.5))
    if not 0 < total < n:
        raise ValueError(f"{name}: {fraction} of {n} samples leaves "
                         f"{'nothing to hold out' if total <= 0 else 'nothing to keep'}")
    classes, counts = np.unique(labels, return_counts=True)
    quota = fraction * counts
    per_class = np.floor(quota).astype(np.int64)
    extra = total - int(per_class.sum())
    per_class[np.argsort(-(quota - per_class), kind="stable")[:extra]] += 1
    held = [rng.permutation(np.flatnonzero(labels == c))[:k]
            for c, k in zip(classes, per_class)]
    held_out = np.sort(np.concatenate(held))
    kept = np.setdiff1d(np.arange(n), held_out, assume_unique=True)
    return kept, held_out
