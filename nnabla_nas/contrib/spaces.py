"""The registry of search spaces and the interface each one implements."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..module import MixedOp
from ..registry import Registry
from .model import Model

#: Search spaces by name; each entry is a :class:`SearchSpace` subclass.
SEARCH_SPACES = Registry("search space")


@dataclass(frozen=True)
class Decision:
    """One discrete choice a derived architecture is made of.

    Attributes:
        name: Where it is, for messages (``normal/node1/input0``, ``block3``).
        mixed: The MixedOps of the supernet that run the chosen candidate in the
            derived architecture (several when cells share their alphas).
        scores: The log-probability of each candidate, by which derivation ranks them.
        allowed: The candidates derivation may choose from.
        choice: The candidate derivation chooses (the best allowed one).
    """

    name: str
    mixed: Tuple[MixedOp, ...]
    scores: np.ndarray
    allowed: Tuple[int, ...]
    choice: int


def log_probabilities(alpha: np.ndarray) -> np.ndarray:
    """log softmax of a flat array of architecture weights (float64)."""
    z = np.asarray(alpha, dtype=np.float64).ravel()
    z = z - z.max()
    return z - np.log(np.exp(z).sum())


class SearchSpace:
    """What a search space provides to searchers, trainers and the command line.

    Subclasses are registered in :data:`SEARCH_SPACES` and define two option classes
    (frozen dataclasses of :func:`nnabla_nas.config.fields.option` fields):
    ``SearchConfig`` (the supernet) and ``TrainConfig`` (the network retrained from a
    derived architecture). An architecture is the space's own object, saved as a
    readable ``arch.json`` with a ``"space"`` key naming the space.
    """

    name: str = ""
    SearchConfig: type
    TrainConfig: type

    @classmethod
    def build_search(cls, options: Any, shape: Tuple[int, ...], num_classes: int,
                     rng: np.random.RandomState) -> Model:
        """The supernet for inputs of ``shape`` (C, H, W)."""
        raise NotImplementedError

    @classmethod
    def derive(cls, model: Model, choices: Optional[Sequence[int]] = None) -> Any:
        """The discrete architecture the supernet's parameters currently select; with
        ``choices``, one candidate per entry of :meth:`decisions` replaces the one
        derivation would choose (to meet a hardware budget)."""
        raise NotImplementedError

    @classmethod
    def decisions(cls, model: Model) -> List[Decision]:
        """The choices :meth:`derive` makes, in the order ``choices`` lists them."""
        raise NotImplementedError

    @classmethod
    def candidate_names(cls, model: Model) -> Dict[str, Sequence[str]]:
        """The candidate names of each architecture parameter, by its name (legends of
        the alpha plot)."""
        return {}

    @classmethod
    def draw(cls, arch: Any, folder: str) -> List[str]:
        """Draw ``arch`` into ``folder`` (graphviz text, PNG and PDF); returns the files
        written. Raises :class:`~nnabla_nas.visual.dot.GraphvizMissing` (carrying the
        text files written) when graphviz is not installed."""
        return []

    @classmethod
    def save_arch(cls, arch: Any, path: str) -> None:
        """Write ``arch`` as ``arch.json`` (atomically)."""
        raise NotImplementedError

    @classmethod
    def load_arch(cls, path: str) -> Any:
        """Read and validate an ``arch.json``; errors name the file and the key."""
        raise NotImplementedError

    @classmethod
    def build_train(cls, arch: Any, options: Any, shape: Tuple[int, ...],
                    num_classes: int, rng: np.random.RandomState) -> Model:
        """The network of ``arch`` to train from scratch."""
        raise NotImplementedError
