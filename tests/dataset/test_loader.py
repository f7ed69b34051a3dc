"""DataLoader: epochs, batches across epoch boundaries, augmentation, and an exact
save/restore of its state."""
import doctest
import functools
import json

import numpy as np
import pytest

from nnabla_nas.dataset import DataLoader, Split, loader as loader_module
from nnabla_nas.dataset.augment import random_crop_flip


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


@pytest.mark.parametrize("store", [through_npz, through_json])
@pytest.mark.parametrize("taken", [0, 1, 2, 3, 5])  # before, inside and at epoch ends
def test_restored_state_yields_exactly_the_next_batches(taken, store, tmp_path):
    def new():
        return DataLoader(make_split(), 4, shuffle=True, seed=5, augment=functools.partial(
            random_crop_flip, padding=1))

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


def test_other_arguments_are_checked():
    with pytest.raises(TypeError, match="^split: expected a Split"):
        DataLoader(np.zeros((3, 1, 2, 2)), 2, shuffle=True, seed=0)
    with pytest.raises(ValueError, match="^shuffle: expected true or false"):
        DataLoader(make_split(), 2, shuffle=1, seed=0)
    with pytest.raises(ValueError, match="^seed: expected an int"):
        DataLoader(make_split(), 2, shuffle=True, seed=-3)
