"""stratified_split: exact sizes, per-class shares, disjoint cover, determinism."""
import numpy as np
import pytest

from nnabla_nas.dataset.split import stratified_split


def labels():
    return np.repeat(np.arange(4), [10, 20, 7, 3])  # 40 samples, unbalanced


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5, 0.9])
def test_sizes_shares_and_cover(fraction):
    y = labels()
    kept, held = stratified_split(y, fraction, np.random.RandomState(0))
    assert len(held) == int(np.floor(fraction * len(y) + 0.5))
    assert np.array_equal(np.sort(np.concatenate([kept, held])), np.arange(len(y)))
    for c, count in zip(*np.unique(y, return_counts=True)):
        assert abs((y[held] == c).sum() - fraction * count) < 1


def test_determined_by_the_random_state():
    y = labels()
    a = stratified_split(y, 0.3, np.random.RandomState(1))
    b = stratified_split(y, 0.3, np.random.RandomState(1))
    c = stratified_split(y, 0.3, np.random.RandomState(2))
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not np.array_equal(a[1], c[1])


def test_empty_part_names_the_option():
    with pytest.raises(ValueError, match="^valid_fraction: 0.01 of 40 samples leaves "
                                         "nothing to hold out"):
        stratified_split(labels(), 0.01, np.random.RandomState(0), "valid_fraction")
    with pytest.raises(ValueError, match="leaves nothing to keep"):
        stratified_split(labels(), 0.99, np.random.RandomState(0))
