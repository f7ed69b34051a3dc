"""What every dataset returns: `Split`, `DatasetSplits`, and the `DATASETS` registry.

A dataset is a class registered in :data:`DATASETS` with a nested frozen dataclass
``Config`` (its options, validated in ``__post_init__``) and a static method
``load(config, seed) -> DatasetSplits``::

    @DATASETS.register("digits")
    class Digits:
        @dataclass(frozen=True)
        class Config:
            # 20% of the images for the final test.
            test_fraction: float = option(0.2, "fraction of all images held out as "
                                               "the test split")

            def __post_init__(self):  # raise ValueError("test_fraction: expected ...")
                ...

        @staticmethod
        def load(config: "Digits.Config", seed: int) -> DatasetSplits: ...

Option errors are ``ValueError`` whose message starts with the option's name
(``valid_fraction: expected a float in (0, 1), got 1.5``); the config loader prefixes
the section.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple, Union

import numpy as np

from ..registry import Registry

#: Datasets by name; each entry has a ``Config`` dataclass and ``load(config, seed)``.
DATASETS = Registry("dataset")

#: A training-time augmentation: ``augment(x_batch, rng) -> x_batch`` on (B, C, H, W).
Augment = Callable[[np.ndarray, np.random.RandomState], np.ndarray]


class LazyImages(abc.ABC):
    """Images read from storage when they are indexed, for a :class:`Split` too large
    to hold in memory: what holds them is small, and reading is done by :meth:`read`.

    It indexes like a read-only float32 array of shape (N, C, H, W), on the first axis
    only: an int gives one image (C, H, W); a slice, a list or an array of indices gives
    a new array of those images, in that order. ``np.asarray(images)`` reads them all
    (for small sets and tests).
    """

    dtype = np.dtype(np.float32)
    ndim = 4

    @property
    @abc.abstractmethod
    def shape(self) -> Tuple[int, int, int, int]:
        """(N, C, H, W)."""

    @abc.abstractmethod
    def read(self, indices: np.ndarray) -> np.ndarray:
        """The images at ``indices`` (int64, each in [0, N)), as a new float32 array of
        shape (len(indices), C, H, W)."""

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        n = len(self)
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            if not -n <= key < n:
                raise IndexError(f"index {key} is out of range for {n} images")
            return self.read(np.array([key % n], np.int64))[0]
        if isinstance(key, slice):
            return self.read(np.arange(n, dtype=np.int64)[key])
        index = np.asarray(key)
        if index.dtype == bool:
            if index.shape != (n,):
                raise IndexError(f"a boolean index needs shape ({n},), got {index.shape}")
            return self.read(np.flatnonzero(index).astype(np.int64))
        if index.ndim != 1 or (index.size and index.dtype.kind not in "iu"):
            raise IndexError(f"expected an int, a slice or a 1-D array of indices, got "
                             f"{key!r:.60}")
        index = index.astype(np.int64)
        if index.size and (index.min() < -n or index.max() >= n):
            raise IndexError(f"indices out of range for {n} images")
        return self.read(index % n if n else index)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        chunks = [self[i:i + 256] for i in range(0, len(self), 256)]
        x = np.concatenate(chunks) if chunks else np.empty(self.shape, np.float32)
        return x if dtype is None else x.astype(dtype)


def _describe(a: Any) -> str:
    return f"{a.dtype} array of shape {a.shape}" if isinstance(a, np.ndarray) \
        else type(a).__name__


@dataclass(frozen=True, eq=False)
class Split:
    """One split of a dataset, ready for a network: its images in memory, or read from
    storage as batches are taken (:class:`LazyImages`).

    Arrays are made read-only: batches are copies, so nothing downstream can alter the
    split by accident.

    Attributes:
        x: Images, float32 of shape (N, C, H, W), already normalized: an array or
            :class:`LazyImages`.
        y: Class indices, int32 of shape (N, 1).
    """

    x: Union[np.ndarray, LazyImages]
    y: np.ndarray

    def __post_init__(self):
        x, y = self.x, self.y
        if not isinstance(x, (np.ndarray, LazyImages)) or x.dtype != np.float32 \
                or x.ndim != 4 or len(x) == 0:
            raise ValueError(f"x: expected a non-empty float32 array of shape "
                             f"(N, C, H, W) or LazyImages, got a {_describe(x)}")
        if not isinstance(y, np.ndarray) or y.dtype != np.int32 or y.shape != (len(x), 1):
            raise ValueError(f"y: expected an int32 array of shape ({len(x)}, 1), got a "
                             f"{_describe(y)}")
        if isinstance(x, np.ndarray):
            x.flags.writeable = False
        y.flags.writeable = False

    def __len__(self) -> int:
        return len(self.x)


@dataclass(frozen=True, eq=False)
class DatasetSplits:
    """The three splits of a dataset and what a network needs to know about them.

    Attributes:
        train: Trains the network weights.
        valid: Held out from ``train``; in architecture search the architecture
            parameters are trained on it.
        test: Only for the final evaluation.
        num_classes: Labels are in ``[0, num_classes)``.
        name: The registered dataset name.
        augment: Applied to training batches only (``None``: no augmentation).
        classes: The name of each class, by label (``None``: not known).
        preprocessing: How a raw image became the network's input, recorded in
            exported networks: ``{"scale": s, "mean": [...], "std": [...]}`` per
            channel, ``x = (raw * s - mean) / std`` (``None``: not known).
    """

    train: Split
    valid: Split
    test: Split
    num_classes: int
    name: str
    augment: Optional[Augment] = None
    classes: Optional[Tuple[str, ...]] = None
    preprocessing: Optional[Dict[str, Any]] = None

    def __post_init__(self):
        for field in ("train", "valid", "test"):
            if not isinstance(getattr(self, field), Split):
                raise TypeError(f"{field}: expected a Split, got "
                                f"{type(getattr(self, field)).__name__}")
        if not isinstance(self.num_classes, int) or isinstance(self.num_classes, bool) \
                or self.num_classes < 1:
            raise ValueError(f"num_classes: expected a positive int, got "
                             f"{self.num_classes!r}")
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name: expected a non-empty string, got {self.name!r}")
        if self.augment is not None and not callable(self.augment):
            raise TypeError(f"augment: expected a callable or None, got "
                            f"{type(self.augment).__name__}")
        if self.classes is not None and (
                not isinstance(self.classes, tuple) or len(self.classes) != self.num_classes
                or not all(isinstance(c, str) and c for c in self.classes)):
            raise ValueError(f"classes: expected a tuple of {self.num_classes} non-empty "
                             f"strings or None, got {self.classes!r}")
        for field in ("valid", "test"):
            shape = getattr(self, field).x.shape[1:]
            if shape != self.shape:
                raise ValueError(f"{field}: images of shape {shape} differ from the "
                                 f"training images' {self.shape}")
        for field in ("train", "valid", "test"):
            y = getattr(self, field).y
            if y.min() < 0 or y.max() >= self.num_classes:
                raise ValueError(f"{field}: labels must be in [0, {self.num_classes}), "
                                 f"got [{y.min()}, {y.max()}]")

    @property
    def shape(self) -> Tuple[int, int, int]:
        """The shape (C, H, W) of one image."""
        return tuple(self.train.x.shape[1:])
