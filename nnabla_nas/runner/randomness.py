"""Reproducible randomness across interruptions.

Every epoch starts from a seed derived from the run's seed, the phase and the epoch, so
an epoch's random numbers do not depend on what ran before it in this process. NNabla's
random functions without inputs (``F.rand`` and kin, which drop path and dropout use)
draw their own seed when the graph is built and then advance once per forward pass; a
run resumed in the middle of an epoch rebuilds the graph from the epoch's seed and
replays those functions for the steps already done, so the masks continue exactly.
"""
from __future__ import annotations

import hashlib
from contextlib import contextmanager
from typing import Iterable, Iterator

import nnabla as nn
import nnabla.random
import numpy as np

#: NNabla functions that draw random numbers from nothing but their own state.
RANDOM_SOURCES = ("Rand", "Randn", "RandInt", "RandBinomial", "RandBeta", "RandGamma")


def derived_seed(seed: int, *parts: object) -> int:
    """A 31-bit seed from ``seed`` and labels such as the phase and the epoch."""
    text = "/".join(str(p) for p in (seed,) + parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") >> 1


def seed_epoch(seed: int, phase: str, epoch: int) -> None:
    """Seed NNabla's generators (C++ and ``nnabla.random.prng``) for ``epoch``."""
    nnabla.random.seed(derived_seed(seed, phase, epoch))


@contextmanager
def seeded_globals(seed: int) -> Iterator[None]:
    """Within the block, NumPy's global generator and ``nnabla.random.prng`` (what
    initializers without a generator of their own draw from) are seeded with ``seed``;
    afterwards both continue as if the block had not run."""
    numpy_state, nnabla_state = np.random.get_state(), nnabla.random.prng.get_state()
    try:
        np.random.seed(seed)
        nnabla.random.prng.seed(seed)
        yield
    finally:
        np.random.set_state(numpy_state)
        nnabla.random.prng.set_state(nnabla_state)


def random_sources(outputs: Iterable[nn.Variable]) -> list:
    """The output variables of the input-free random functions of a graph."""
    sources = []

    def visit(f):
        if f.info.type_name in RANDOM_SOURCES and not f.inputs:
            sources.extend(f.outputs)

    # Graphs with several outputs share functions: keep each variable once (nnabla
    # variables compare and hash by the underlying variable, not the Python wrapper).
    for out in outputs:
        out.visit(visit)
    return list(dict.fromkeys(sources))


def replay(outputs: Iterable[nn.Variable], steps: int) -> None:
    """Advance every input-free random function of the graph by ``steps`` draws."""
    sources = random_sources(outputs)
    for _ in range(steps):
        for v in sources:
            v.forward()
