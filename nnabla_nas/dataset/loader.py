"""`DataLoader`: numpy mini-batches of a `Split`, shuffled and augmented reproducibly,
with a state that a checkpoint can save and restore exactly."""
from __future__ import annotations

from typing import Any, Dict, Iterator, Mapping, Optional, Tuple

import numpy as np

from . import _checks as C
from .base import Augment, Split

Batch = Tuple[np.ndarray, np.ndarray]

_STATE_KEYS = ("epoch", "position", "order", "rng_keys", "rng_pos", "rng_has_gauss",
               "rng_cached_gaussian", "num_samples", "batch_size")


class DataLoader:
    """Mini-batches ``(x, y)`` of a split, epoch after epoch.

    One ``RandomState``, seeded with ``seed``, draws each epoch's order (when
    ``shuffle``) and then the augmentation of each batch, so a loader's batches depend
    only on its arguments and on how many batches were taken. Searchers interleave two
    loaders (weights on ``train``, architecture on ``valid``) with :meth:`next_batch`.

    Args:
        split: The images and labels.
        batch_size: Samples per batch.
        shuffle: Draw a new order every epoch (otherwise the split's order).
        seed: Seed of the shuffling and augmentation.
        augment: ``augment(x, rng) -> x`` applied to each batch's images (training
            splits only); ``None``: the images as they are.
        drop_last: Drop the last batch of an epoch if it is smaller than
            ``batch_size``; otherwise it is yielded smaller.

    Example:
        >>> import numpy as np
        >>> from nnabla_nas.dataset import DataLoader, Split
        >>> split = Split(np.zeros((10, 1, 2, 2), np.float32), np.zeros((10, 1), np.int32))
        >>> loader = DataLoader(split, batch_size=4, shuffle=True, seed=0)
        >>> len(loader), [len(y) for _, y in loader]
        (3, [4, 4, 2])
    """

    def __init__(self, split: Split, batch_size: int, shuffle: bool, seed: int,
                 augment: Optional[Augment] = None, drop_last: bool = False):
        if not isinstance(split, Split):
            raise TypeError(f"split: expected a Split, got {type(split).__name__}")
        self._split = split
        self._batch_size = C.positive_int("batch_size", batch_size)
        self._shuffle = C.boolean("shuffle", shuffle)
        self._drop_last = C.boolean("drop_last", drop_last)
        if augment is not None and not callable(augment):
            raise TypeError(f"augment: expected a callable or None, got "
                            f"{type(augment).__name__}")
        self._augment = augment
        if self._batch_size > len(split) and self._drop_last:
            raise ValueError(f"batch_size: {batch_size} is larger than the split "
                             f"({len(split)} samples) and drop_last is true, so an epoch "
                             "would have no batch")
        self._rng = np.random.RandomState(C.seed(seed))
        self._epoch = 0                       # epochs started
        self._position = 0                    # batches taken from the current epoch
        self._order: Optional[np.ndarray] = None

    def __len__(self) -> int:
        """Batches per epoch."""
        n, b = len(self._split), self._batch_size
        return n // b if self._drop_last else -(-n // b)

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @property
    def epoch(self) -> int:
        """Epochs started so far (1 during the first epoch)."""
        return self._epoch

    @property
    def position(self) -> int:
        """Batches already taken from the current epoch."""
        return self._position

    def _epoch_done(self) -> bool:
        return self._order is None or self._position >= len(self)

    def _start_epoch(self) -> None:
        n = len(self._split)
        self._order = self._rng.permutation(n) if self._shuffle else np.arange(n)
        self._position = 0
        self._epoch += 1

    def _take(self) -> Batch:
        start = self._position * self._batch_size
        index = self._order[start:start + self._batch_size]
        self._position += 1
        x, y = self._split.x[index], self._split.y[index]
        if self._augment is not None:
            x = self._augment(x, self._rng)
        return x, y

    def next_batch(self) -> Batch:
        """The next batch, starting a new epoch when the current one is finished."""
        if self._epoch_done():
            self._start_epoch()
        return self._take()

    def __iter__(self) -> Iterator[Batch]:
        """The batches left in the current epoch, or a whole new epoch if it is
        finished (so each ``for`` loop over a fresh or finished loader is one epoch)."""
        if self._epoch_done():
            self._start_epoch()
        while self._position < len(self):
            yield self._take()

    # ---------------------------------------------------------------------- state
    def state_dict(self) -> Dict[str, Any]:
        """Everything that decides the next batches: epoch, position, the current
        epoch's order (empty before the first epoch) and the random state.

        Values are ints, floats and numpy arrays (copies), so the state can be saved
        with ``np.savez`` or HDF5.
        """
        name, keys, pos, has_gauss, cached = self._rng.get_state()
        order = self._order if self._order is not None else np.empty(0, np.int64)
        return {"epoch": self._epoch, "position": self._position,
                "order": np.array(order, dtype=np.int64),
                "rng_keys": np.array(keys, dtype=np.uint32), "rng_pos": int(pos),
                "rng_has_gauss": int(has_gauss), "rng_cached_gaussian": float(cached),
                "num_samples": len(self._split), "batch_size": self._batch_size}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`; the loader then yields exactly the batches
        the saved one would have yielded next.

        Raises:
            ValueError: naming missing and unexpected keys together, or the key whose
                value does not fit this loader (another split size or batch size).
        """
        if not isinstance(state, Mapping):
            raise TypeError(f"state: expected a mapping, got {type(state).__name__}")
        missing = [k for k in _STATE_KEYS if k not in state]
        unexpected = [k for k in state if k not in _STATE_KEYS]
        if missing or unexpected:
            raise ValueError(f"cannot load the loader state: missing keys {missing}, "
                             f"unexpected keys {unexpected}")
        n = len(self._split)
        for key, mine in (("num_samples", n), ("batch_size", self._batch_size)):
            if int(state[key]) != mine:
                raise ValueError(f"{key}: the state was saved with {int(state[key])}, "
                                 f"this loader has {mine}")
        epoch, position = int(state["epoch"]), int(state["position"])
        order = np.asarray(state["order"], dtype=np.int64)
        if epoch == 0:
            if order.size or position:
                raise ValueError("order: expected no order and position 0 before the "
                                 "first epoch")
        elif order.shape != (n,) or not np.array_equal(np.sort(order), np.arange(n)):
            raise ValueError(f"order: expected a permutation of {n} indices")
        if epoch < 0 or not 0 <= position <= len(self):
            raise ValueError(f"position: expected epoch >= 0 and a position in "
                             f"[0, {len(self)}], got epoch {epoch}, position {position}")
        keys = np.asarray(state["rng_keys"])
        if keys.shape != (624,):
            raise ValueError(f"rng_keys: expected 624 values, got shape {keys.shape}")
        self._rng.set_state(("MT19937", keys.astype(np.uint32), int(state["rng_pos"]),
                             int(state["rng_has_gauss"]),
                             float(state["rng_cached_gaussian"])))
        self._epoch, self._position = epoch, position
        self._order = order.copy() if epoch else None
