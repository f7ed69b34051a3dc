"""DataLoader: epochs, batches across epoch boundaries, augmentation, an exact
save/restore of its state, and background prefetching that changes none of these."""
import doctest
import functools
import gc
import json
import threading

import numpy as np
import pytest

from nnabla_nas.dataset import DataLoader, Split, loader as loader_module
from nnabla_nas.dataset.augment import crop_flip_cutout, random_crop_flip


def make_split(n=10):
    x = np.arange(n * 4, dtype=np.float32).reshape(n, 1, 2, 2)
    return Split(x, np.arange(n, dtype=np.int32).reshape(n, 1))


def ids(batch):
    return batch[1][:, 0].tolist()


def test_docstring_example():
    assert doctest.testmod(loader_module).failed == 0


@pytest.mark.parametrize("n, batch_size, drop_last, sizes", [
    (10, 4, False, [4, 4, 2]),
    (10, 4, True, [4, 4]),
    (8, 4, True, [4, 4]),
    (3, 5, False, [3]),       # larger than the split: one smaller batch
])
def test_epoch_batches(n, batch_size, drop_last, sizes):
    loader = DataLoader(make_split(n), batch_size, shuffle=True, seed=0,
                        drop_last=drop_last)
    batches = list(loader)
    assert len(loader) == len(sizes) and [len(b[1]) for b in batches] == sizes
    seen = sum((ids(b) for b in batches), [])
    assert len(set(seen)) == len(seen)
    if not drop_last:
        assert sorted(seen) == list(range(n))
    for x, y in batches:  # images stay with their labels
        np.testing.assert_array_equal(x.reshape(len(y), 4)[:, 0], y[:, 0] * 4)


def test_shuffle_draws_a_new_order_each_epoch_and_is_seeded():
    a = DataLoader(make_split(), 10, shuffle=True, seed=1)
    b = DataLoader(make_split(), 10, shuffle=True, seed=1)
    first, second = ids(next(iter(a))), ids(next(iter(a)))
    assert first != second and sorted(first) == sorted(second) == list(range(10))
    assert ids(next(iter(b))) == first
    assert ids(next(iter(DataLoader(make_split(), 10, shuffle=True, seed=2)))) != first
    assert ids(next(iter(DataLoader(make_split(), 10, shuffle=False, seed=1)))) == \
        list(range(10))


def test_next_batch_continues_across_epochs():
    loader = DataLoader(make_split(), 4, shuffle=False, seed=0)
    got = [ids(loader.next_batch()) for _ in range(4)]
    assert got == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9], [0, 1, 2, 3]]
    assert (loader.epoch, loader.position) == (2, 1)
    # A for loop then yields the rest of the current epoch only.
    assert [ids(b) for b in loader] == [[4, 5, 6, 7], [8, 9]]
    assert len(list(loader)) == 3 and loader.epoch == 3


def test_augmentation_gets_the_batch_and_the_loader_rng():
    calls = []

    def augment(x, rng):
        calls.append(rng)
        return x + 1000

    loader = DataLoader(make_split(), 4, shuffle=False, seed=0, augment=augment)
    x, y = loader.next_batch()
    assert np.array_equal(x, make_split().x[:4] + 1000) and ids((x, y)) == [0, 1, 2, 3]
    assert isinstance(calls[0], np.random.RandomState)


def run(loader, steps):
    return [loader.next_batch() for _ in range(steps)]


def through_npz(state, tmp_path):
    np.savez(tmp_path / "state.npz", **state)
    with np.load(tmp_path / "state.npz") as f:
        return {k: f[k] for k in f.files}


def through_json(state, tmp_path):
    text = json.dumps({k: v.tolist() if isinstance(v, np.ndarray) else v
                       for k, v in state.items()})
    return json.loads(text)  # arrays come back as lists


@pytest.mark.parametrize("prefetch", [0, 2])
@pytest.mark.parametrize("store", [through_npz, through_json])
@pytest.mark.parametrize("taken", [0, 1, 2, 3, 5])  # before, inside and at epoch ends
def test_restored_state_yields_exactly_the_next_batches(taken, store, prefetch, tmp_path):
    def new():
        return DataLoader(make_split(), 4, shuffle=True, seed=5, augment=functools.partial(
            random_crop_flip, padding=1), prefetch=prefetch)

    original = new()
    run(original, taken)
    state = store(original.state_dict(), tmp_path)  # as a checkpoint would
    restored = new()
    run(restored, 2)  # a different history, overwritten by the state
    restored.load_state_dict(state)
    assert (restored.epoch, restored.position) == (original.epoch, original.position)
    for (xa, ya), (xb, yb) in zip(run(original, 7), run(restored, 7)):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


def test_state_is_a_copy():
    loader = DataLoader(make_split(), 4, shuffle=True, seed=0)
    loader.next_batch()
    state = loader.state_dict()
    expected = run(DataLoader(make_split(), 4, shuffle=True, seed=0), 3)[1:]
    state["order"][:] = 0
    state["rng_keys"][:] = 0
    assert all(ids(a) == ids(b) for a, b in zip(run(loader, 2), expected))


def test_load_state_dict_errors_name_the_keys():
    loader = DataLoader(make_split(), 4, shuffle=True, seed=0)
    state = loader.state_dict()
    with pytest.raises(ValueError, match=r"missing keys \['order'\], unexpected keys "
                                         r"\['extra'\]"):
        loader.load_state_dict({**{k: v for k, v in state.items() if k != "order"},
                                "extra": 1})
    with pytest.raises(ValueError, match="^batch_size: the state was saved with 4, "
                                         "this loader has 5"):
        DataLoader(make_split(), 5, shuffle=True, seed=0).load_state_dict(state)
    with pytest.raises(ValueError, match="^num_samples: the state was saved with 10"):
        DataLoader(make_split(12), 4, shuffle=True, seed=0).load_state_dict(state)
    loader.next_batch()
    bad = {**loader.state_dict(), "order": np.zeros(10, np.int64)}
    with pytest.raises(ValueError, match="^order: expected a permutation of 10 indices"):
        loader.load_state_dict(bad)


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True, "4"])
def test_batch_size_must_be_a_positive_int(batch_size):
    with pytest.raises(ValueError, match="^batch_size: expected a positive int"):
        DataLoader(make_split(), batch_size, shuffle=True, seed=0)


def test_batch_larger_than_the_split_with_drop_last_is_an_error():
    with pytest.raises(ValueError, match=r"^batch_size: 11 is larger than the split "
                                         r"\(10 samples\) and drop_last is true"):
        DataLoader(make_split(), 11, shuffle=True, seed=0, drop_last=True)


@pytest.mark.parametrize("prefetch", [-1, 1.5, True, None])
def test_prefetch_must_be_an_int_of_at_least_0(prefetch):
    with pytest.raises(ValueError, match="^prefetch: expected an int >= 0"):
        DataLoader(make_split(), 2, shuffle=True, seed=0, prefetch=prefetch)


def test_other_arguments_are_checked():
    with pytest.raises(TypeError, match="^split: expected a Split"):
        DataLoader(np.zeros((3, 1, 2, 2)), 2, shuffle=True, seed=0)
    with pytest.raises(ValueError, match="^shuffle: expected true or false"):
        DataLoader(make_split(), 2, shuffle=1, seed=0)
    with pytest.raises(ValueError, match="^seed: expected an int"):
        DataLoader(make_split(), 2, shuffle=True, seed=-3)


# ---------------------------------------------------------------------- prefetching
def augmented(split, prefetch, seed=3, batch_size=4, drop_last=False):
    """Crop, flip and cutout: three kinds of draws per batch from the loader's rng."""
    return DataLoader(split, batch_size, shuffle=True, seed=seed, drop_last=drop_last,
                      augment=crop_flip_cutout(1, -1.0, 2), prefetch=prefetch)


def images_split(n=10):
    x = np.random.RandomState(0).randn(n, 2, 5, 5).astype(np.float32)
    return Split(x, np.arange(n, dtype=np.int32).reshape(n, 1))


def take_mixed(loader):
    """next_batch and for loops, across four epoch boundaries."""
    got = [loader.next_batch() for _ in range(2)]
    got += list(loader)          # the rest of epoch 1
    got += list(loader)          # epoch 2
    got += [loader.next_batch() for _ in range(5)]
    got += list(loader)
    return got


def assert_same_batches(a, b):
    assert len(a) == len(b)
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


@pytest.mark.parametrize("prefetch", [1, 2, 5])
@pytest.mark.parametrize("drop_last", [False, True])
def test_prefetching_yields_the_same_batches(prefetch, drop_last):
    serial = augmented(images_split(), 0, drop_last=drop_last)
    reference = take_mixed(serial)
    with augmented(images_split(), prefetch, drop_last=drop_last) as loader:
        got = take_mixed(loader)
        assert (loader.epoch, loader.position) == (serial.epoch, serial.position)
        assert loader.epoch >= 4 and loader.position == len(loader)
    assert_same_batches(got, reference)
    assert not np.array_equal(got[0][0], images_split().x[got[0][1][:, 0]])  # augmented


def assert_same_state(a, b):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.mark.parametrize("taken", [0, 1, 3, 4, 7])
def test_state_describes_the_batches_taken_not_those_prefetched(taken):
    serial = augmented(images_split(), 0)
    run(serial, taken)
    with augmented(images_split(), 3) as loader:
        run(loader, taken)
        state = loader.state_dict()
        assert_same_state(state, serial.state_dict())
        assert (loader.epoch, loader.position) == (serial.epoch, serial.position)
        # Restoring into a prefetching loader that ran ahead on another history.
        with augmented(images_split(), 2) as other:
            run(other, 6)
            other.load_state_dict(state)
            assert_same_state(other.state_dict(), state)
            assert_same_batches(run(other, 6), run(serial, 6))


class Recorder:
    """An augmentation that logs which batch it prepared, and in which thread."""

    def __init__(self):
        self.events, self.threads = [], set()
        self.prepared = [threading.Event() for _ in range(100)]
        self.count = 0

    def __call__(self, x, rng):
        self.threads.add(threading.current_thread().name)
        self.events.append(("prepared", self.count))
        self.prepared[self.count].set()
        self.count += 1
        return x + rng.rand(*x.shape).astype(x.dtype)


def test_the_next_batches_are_prepared_before_they_are_asked_for():
    recorder = Recorder()
    loader = DataLoader(make_split(), 2, shuffle=True, seed=0, augment=recorder,
                        prefetch=2)
    assert recorder.count == 0  # the thread starts with the first request
    for k in range(8):
        recorder.events.append(("asked", k))
        loader.next_batch()
        # Batch k + 1 gets prepared while the caller "computes", without being asked.
        # (The timeout only keeps a broken loader from hanging the test.)
        assert recorder.prepared[k + 1].wait(timeout=30)
    loader.close()
    for k in range(1, 8):
        assert recorder.events.index(("prepared", k)) < recorder.events.index(("asked", k))
    assert all(name.startswith("DataLoader-prefetch") for name in recorder.threads)


def test_no_more_than_prefetch_batches_are_prepared_ahead():
    prefetch, taken, violations = 2, [0], []

    def augment(x, rng):
        # Preparing batch j needs batch j - 1 queued, so at most `prefetch` untaken;
        # `taken` may lag by one (counted after next_batch returns).
        j = counter[0]
        counter[0] += 1
        if j - taken[0] > prefetch + 1:
            violations.append((j, taken[0]))
        return x

    counter = [0]
    with DataLoader(make_split(), 1, shuffle=False, seed=0, augment=augment,
                    prefetch=prefetch) as loader:
        for _ in range(30):
            loader.next_batch()
            taken[0] += 1
    assert violations == []


def test_without_prefetch_nothing_is_prepared_ahead():
    recorder = Recorder()
    loader = DataLoader(make_split(), 2, shuffle=True, seed=0, augment=recorder,
                        prefetch=0)
    for k in range(3):
        loader.next_batch()
        assert recorder.count == k + 1
    assert recorder.threads == {threading.current_thread().name}
    assert loader.prefetch == 0


def prefetch_threads():
    return [t for t in threading.enumerate()
            if t.name.startswith("DataLoader-prefetch") and t.is_alive()]


def test_close_stops_the_thread_and_the_loader_goes_on_where_it_was():
    reference = run(augmented(images_split(), 0), 9)
    loader = augmented(images_split(), 2)
    assert prefetch_threads() == []
    got = run(loader, 4)
    assert len(prefetch_threads()) == 1
    loader.close()
    assert prefetch_threads() == []
    loader.close()  # twice is fine
    got += run(loader, 5)
    assert_same_batches(got, reference)
    with loader:
        pass
    assert prefetch_threads() == []


def test_a_garbage_loader_stops_its_thread():
    loader = augmented(images_split(), 2)
    loader.next_batch()
    iterator = iter(loader)
    next(iterator)
    (thread,) = prefetch_threads()
    del loader, iterator
    gc.collect()
    assert not thread.is_alive()


class FailsOnce:
    """Raises on the call number `fail_at` (0-based), then works again."""

    def __init__(self, fail_at):
        self.fail_at, self.calls = fail_at, 0

    def __call__(self, x, rng):
        self.calls += 1
        if self.calls - 1 == self.fail_at:
            raise RuntimeError("augmentation failed")
        return crop_flip_cutout(1, -1.0, 2)(x, rng)


@pytest.mark.parametrize("prefetch", [0, 2])
def test_a_failed_batch_raises_for_the_caller_and_is_not_taken(prefetch):
    reference = run(augmented(images_split(), 0), 6)
    loader = DataLoader(images_split(), 4, shuffle=True, seed=3, augment=FailsOnce(4),
                        prefetch=prefetch)
    got = run(loader, 4)
    state = loader.state_dict()
    with pytest.raises(RuntimeError, match="augmentation failed"):
        loader.next_batch()
    assert (loader.epoch, loader.position) == (2, 1)
    assert_same_state(loader.state_dict(), state)
    got += run(loader, 2)  # the failed batch is prepared again
    assert_same_batches(got, reference)
    loader.close()


# --------------------------------------------------------------------- data parallel
@pytest.mark.parametrize("size", [2, 3])
@pytest.mark.parametrize("prefetch", [0, 2])
def test_shards_of_all_ranks_make_the_batches_of_one(size, prefetch):
    # n=10, batch 4: the last batch of each epoch has 2 images, parts of 1 or 0 images.
    reference = take_mixed(augmented(images_split(), 0))
    shards = []
    for rank in range(size):
        with DataLoader(images_split(), 4, shuffle=True, seed=3,
                        augment=crop_flip_cutout(1, -1.0, 2), prefetch=prefetch,
                        shard=(rank, size)) as loader:
            shards.append(take_mixed(loader))
            state = loader.state_dict()
        if rank == 0:
            first_state = state
        for key in ("epoch", "position", "rng_pos"):
            assert state[key] == first_state[key]
        np.testing.assert_array_equal(state["order"], first_state["order"])
    joined = [(np.concatenate([s[i][0] for s in shards]),
               np.concatenate([s[i][1] for s in shards])) for i in range(len(reference))]
    assert_same_batches(joined, reference)
    # Near-equal contiguous parts: 4 images over 2 ranks is 2 + 2, over 3 is 2 + 1 + 1.
    assert [len(s[0][1]) for s in shards] == ([2, 2] if size == 2 else [2, 1, 1])


def test_a_shard_reads_only_its_images():
    read = []

    class Recording(np.ndarray):
        def __getitem__(self, key):
            read.append(np.asarray(key).tolist())
            return np.asarray(self).__getitem__(key)

    split = images_split(8)
    x = split.x.view(Recording)
    object.__setattr__(split, "x", x)
    loader = DataLoader(split, 4, shuffle=False, seed=0, prefetch=0, shard=(1, 2))
    assert ids(loader.next_batch()) == [2, 3] and read == [[2, 3]]


@pytest.mark.parametrize("shard, message", [
    ((2, 2), r"^shard: expected \(rank, size\) with 0 <= rank < size, got \(2, 2\)$"),
    ([0, 2], r"^shard: expected \(rank, size\)"),
    ((0, 5), r"^shard: 5 parts of a batch of 4 would leave some empty"),
])
def test_bad_shards_are_refused(shard, message):
    with pytest.raises(ValueError, match=message):
        DataLoader(make_split(), 4, shuffle=True, seed=0, shard=shard)
