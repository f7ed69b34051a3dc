"""The registry of search spaces and the interface each one implements."""
from __future__ import annotations

from typing import Any, Tuple

import numpy as np

from ..registry import Registry
from .model import Model

#: Search spaces by name; each entry is a :class:`SearchSpace` subclass.
SEARCH_SPACES = Registry("search space")


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
    def derive(cls, model: Model) -> Any:
        """The discrete architecture the supernet's parameters currently select."""
        raise NotImplementedError

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


# Built-in spaces register themselves on import.
from .darts import space as _darts_space  # noqa: E402,F401
