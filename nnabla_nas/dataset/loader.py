"""`DataLoader`: numpy mini-batches of a `Split`, shuffled and augmented reproducibly,
prepared in a background thread, with a state that a checkpoint can save and restore
exactly."""
from __future__ import annotations

import queue
import threading
import weakref
from typing import Any, Dict, Iterator, Mapping, NamedTuple, Optional, Tuple

import numpy as np

from . import _checks as C
from .base import Augment, Split

Batch = Tuple[np.ndarray, np.ndarray]

_STATE_KEYS = ("epoch", "position", "order", "rng_keys", "rng_pos", "rng_has_gauss",
               "rng_cached_gaussian", "num_samples", "batch_size")


class _Position(NamedTuple):
    """Where a :class:`_Stream` is: what decides all the batches after this point."""

    epoch: int                    # epochs started
    position: int                 # batches taken from the current epoch
    order: Optional[np.ndarray]   # the current epoch's order (never modified in place)
    rng: tuple                    # RandomState.get_state()


class _Stream:
    """The batches of a split as one endless sequence, epoch after epoch.

    One ``RandomState`` draws each epoch's order (when shuffling) and then the
    augmentation of each batch, so the sequence depends only on the arguments. Not
    thread-safe: one thread at a time owns it.
    """

    def __init__(self, split: Split, batch_size: int, shuffle: bool, seed: int,
                 augment: Optional[Augment], batches_per_epoch: int,
                 shard: Tuple[int, int] = (0, 1)):
        self.split, self.batch_size, self.shuffle = split, batch_size, shuffle
        self.augment, self.batches_per_epoch = augment, batches_per_epoch
        self.shard = shard
        self.rng = np.random.RandomState(seed)
        self.epoch, self.position = 0, 0
        self.order: Optional[np.ndarray] = None

    def tell(self) -> _Position:
        return _Position(self.epoch, self.position, self.order, self.rng.get_state())

    def seek(self, where: _Position) -> None:
        self.rng.set_state(where.rng)
        self.epoch, self.position, self.order = where.epoch, where.position, where.order

    def next(self) -> Tuple[Batch, _Position]:
        """The next batch and the position just after it."""
        if self.order is None or self.position >= self.batches_per_epoch:
            n = len(self.split)
            self.order = self.rng.permutation(n) if self.shuffle else np.arange(n)
            self.position = 0
            self.epoch += 1
        start = self.position * self.batch_size
        index = self.order[start:start + self.batch_size]
        self.position += 1
        rank, size = self.shard
        if size == 1:
            x, y = self.split.x[index], self.split.y[index]
            if self.augment is not None:
                x = self.augment(x, self.rng)
            return (x, y), self.tell()
        # This shard's rows of the batch; only they are read. The augmentation runs on
        # a batch of the whole size (other rows zero), so that it draws what it draws
        # for the whole batch and gives this shard's rows what they get there.
        mine = np.array_split(np.arange(len(index)), size)[rank]
        x, y = self.split.x[index[mine]], self.split.y[index[mine]]
        if self.augment is not None:
            whole = np.zeros((len(index),) + x.shape[1:], x.dtype)
            whole[mine] = x
            x = self.augment(whole, self.rng)[mine]
        return (x, y), self.tell()


class _Failed(NamedTuple):
    error: BaseException


class _Prefetcher:
    """A daemon thread running a :class:`_Stream` ahead into a bounded queue.

    It holds no reference to the :class:`DataLoader`, so the loader can be garbage
    collected (which stops the thread) while the thread runs.
    """

    def __init__(self, stream: _Stream, size: int):
        self._stream = stream
        self._queue: "queue.Queue" = queue.Queue(maxsize=size)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"DataLoader-prefetch-{id(self):x}")
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._queue.put(self._stream.next())
        except BaseException as error:  # handed to the consumer, raised there
            self._queue.put(_Failed(error))

    def get(self) -> Tuple[Batch, _Position]:
        item = self._queue.get()
        if isinstance(item, _Failed):
            raise item.error
        return item

    def stop(self) -> None:
        """Stop the thread and wait for it (it may be finishing a batch)."""
        self._stop.set()
        if threading.current_thread() is self._thread:
            return
        # Emptying the queue wakes a producer blocked on a full queue; it then puts at
        # most one item, sees the stop flag and ends.
        while self._thread.is_alive():
            try:
                while True:
                    self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(timeout=0.05)


class DataLoader:
    """Mini-batches ``(x, y)`` of a split, epoch after epoch.

    One ``RandomState``, seeded with ``seed``, draws each epoch's order (when
    ``shuffle``) and then the augmentation of each batch, so a loader's batches depend
    only on its arguments and on how many batches were taken. Searchers interleave two
    loaders (weights on ``train``, architecture on ``valid``) with :meth:`next_batch`.

    With ``prefetch`` > 0, a daemon thread, started by the first request, prepares the
    next batches (indexing and augmentation) while the caller computes, keeping at most
    ``prefetch`` of them ready. The batches are exactly those of ``prefetch=0``, and
    :meth:`state_dict` describes the batches taken, not the ones prepared ahead. The
    thread stops on :meth:`close`, on leaving a ``with`` block, when the loader is
    garbage collected, and while :meth:`load_state_dict` runs; a later request starts
    it again where the taken batches end. ``augment`` then runs in that thread, with
    its own ``RandomState``. An exception raised while preparing a batch is raised by
    the request for that batch, which is not taken (a new request prepares it again).

    Args:
        split: The images and labels.
        batch_size: Samples per batch.
        shuffle: Draw a new order every epoch (otherwise the split's order).
        seed: Seed of the shuffling and augmentation.
        augment: ``augment(x, rng) -> x`` applied to each batch's images (training
            splits only); ``None``: the images as they are.
        drop_last: Drop the last batch of an epoch if it is smaller than
            ``batch_size``; otherwise it is yielded smaller.
        prefetch: Batches prepared ahead in a background thread; 0: prepared on
            request, in the caller's thread.
        shard: ``(rank, size)`` for data-parallel training: every rank draws the same
            batches of ``batch_size`` (give each the same ``seed``) and yields only
            its part of each, the ``rank``-th of ``size`` contiguous near-equal parts
            (equal when ``size`` divides the batch), reading only those images. The
            parts of all ranks, in rank order, are the batch of ``(0, 1)``, augmented
            the same, provided ``augment`` treats each image on its own (the built-in
            ones do). :meth:`state_dict` is the same on every rank. The last, smaller
            batch of an epoch may give unequal or empty parts: with ``drop_last`` and
            ``size`` dividing ``batch_size`` every part has ``batch_size // size``
            images, and the mean of the ranks' mean gradients is exactly the batch's.

    Example:
        >>> import numpy as np
        >>> from nnabla_nas.dataset import DataLoader, Split
        >>> split = Split(np.zeros((10, 1, 2, 2), np.float32), np.zeros((10, 1), np.int32))
        >>> with DataLoader(split, batch_size=4, shuffle=True, seed=0) as loader:
        ...     len(loader), [len(y) for _, y in loader]
        (3, [4, 4, 2])
    """

    def __init__(self, split: Split, batch_size: int, shuffle: bool, seed: int,
                 augment: Optional[Augment] = None, drop_last: bool = False,
                 prefetch: int = 2, shard: Tuple[int, int] = (0, 1)):
        if not isinstance(split, Split):
            raise TypeError(f"split: expected a Split, got {type(split).__name__}")
        self._split = split
        self._batch_size = C.positive_int("batch_size", batch_size)
        shuffle = C.boolean("shuffle", shuffle)
        self._drop_last = C.boolean("drop_last", drop_last)
        if augment is not None and not callable(augment):
            raise TypeError(f"augment: expected a callable or None, got "
                            f"{type(augment).__name__}")
        self._prefetch = C.non_negative_int("prefetch", prefetch)
        if self._batch_size > len(split) and self._drop_last:
            raise ValueError(f"batch_size: {batch_size} is larger than the split "
                             f"({len(split)} samples) and drop_last is true, so an epoch "
                             "would have no batch")
        if not (isinstance(shard, tuple) and len(shard) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) for v in shard)
                and 0 <= shard[0] < shard[1]):
            raise ValueError(f"shard: expected (rank, size) with 0 <= rank < size, got "
                             f"{shard!r}")
        if shard[1] > self._batch_size:
            raise ValueError(f"shard: {shard[1]} parts of a batch of {self._batch_size} "
                             "would leave some empty; use a batch_size of at least the "
                             "number of ranks")
        self._stream = _Stream(split, self._batch_size, shuffle, C.seed(seed), augment,
                               len(self), shard)
        self._taken = self._stream.tell()     # the position after the batches taken
        self._worker: Optional[_Prefetcher] = None
        self._finalizer: Optional[weakref.finalize] = None

    def __len__(self) -> int:
        """Batches per epoch."""
        n, b = len(self._split), self._batch_size
        return n // b if self._drop_last else -(-n // b)

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @property
    def prefetch(self) -> int:
        """Batches prepared ahead in the background (0: none)."""
        return self._prefetch

    @property
    def epoch(self) -> int:
        """Epochs started so far (1 during the first epoch)."""
        return self._taken.epoch

    @property
    def position(self) -> int:
        """Batches already taken from the current epoch."""
        return self._taken.position

    def next_batch(self) -> Batch:
        """The next batch, starting a new epoch when the current one is finished."""
        if self._prefetch == 0:
            try:
                batch, self._taken = self._stream.next()
            except BaseException:
                self._stream.seek(self._taken)  # the failed batch was not taken
                raise
            return batch
        if self._worker is None:
            self._stream.seek(self._taken)  # drop anything prepared and not taken
            self._worker = _Prefetcher(self._stream, self._prefetch)
            self._finalizer = weakref.finalize(self, self._worker.stop)
        try:
            batch, self._taken = self._worker.get()
        except BaseException:
            self.close()
            raise
        return batch

    def __iter__(self) -> Iterator[Batch]:
        """The batches left in the current epoch, or a whole new epoch if it is
        finished (so each ``for`` loop over a fresh or finished loader is one epoch)."""
        while True:
            yield self.next_batch()
            if self.position >= len(self):
                return

    def close(self) -> None:
        """Stop the prefetching thread, if any; the loader stays usable."""
        if self._finalizer is not None:
            self._finalizer()  # runs the worker's stop() once
        self._worker = self._finalizer = None

    def __enter__(self) -> "DataLoader":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # ---------------------------------------------------------------------- state
    def state_dict(self) -> Dict[str, Any]:
        """Everything that decides the next batches: epoch, position, the current
        epoch's order (empty before the first epoch) and the random state, as they are
        after the batches taken (batches prefetched and not yet taken do not count).

        Values are ints, floats and numpy arrays (copies), so the state can be saved
        with ``np.savez`` or HDF5.
        """
        taken = self._taken
        name, keys, pos, has_gauss, cached = taken.rng
        order = taken.order if taken.order is not None else np.empty(0, np.int64)
        return {"epoch": taken.epoch, "position": taken.position,
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
        rng = ("MT19937", keys.astype(np.uint32), int(state["rng_pos"]),
               int(state["rng_has_gauss"]), float(state["rng_cached_gaussian"]))
        self.close()  # the batches prepared ahead follow the old state
        taken = _Position(epoch, position, order.copy() if epoch else None, rng)
        self._stream.seek(taken)  # also checks the random state
        self._taken = self._stream.tell()
