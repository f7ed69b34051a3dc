"""digits: split sizes, stratification, determinism by seed, disjoint cover of the 1,797
images, and normalization by the training split's statistics (checked with numpy)."""
import numpy as np
import pytest
from sklearn.datasets import load_digits

from nnabla_nas.dataset import DATASETS
from nnabla_nas.dataset.digits import Digits

N = 1797


@pytest.fixture(scope="module")
def raw():
    d = load_digits()
    return d.images.reshape(N, 64).astype(np.int64), d.target


@pytest.fixture(scope="module")
def data():
    return Digits.load(Digits.Config(), seed=0)


def to_raw(data):
    """Undo the normalization: pixel 0 and 16 both occur, so the smallest and largest
    normalized values give the affine map back; returns integer pixels (N, 64)."""
    xs = [s.x.reshape(len(s), 64).astype(np.float64)
          for s in (data.train, data.valid, data.test)]
    lo, hi = min(x.min() for x in xs), max(x.max() for x in xs)
    return [np.rint((x - lo) / (hi - lo) * 16).astype(np.int64) for x in xs]


def rows_sorted(a):
    return a[np.lexsort(a.T[::-1])]


def test_registered_and_shapes(data):
    assert DATASETS.get("digits") is Digits
    assert data.name == "digits" and data.num_classes == 10 and data.shape == (1, 8, 8)
    assert data.augment is None


def test_sizes(data):
    test = round(0.2 * N)                   # 359
    valid = round(0.25 * (N - test))       # 360 (1438 / 4 = 359.5 rounds up)
    assert (len(data.test), len(data.valid), len(data.train)) == \
        (test, 360, N - test - valid)


def test_stratified_by_class(raw, data):
    counts = np.bincount(raw[1], minlength=10)
    test = np.bincount(data.test.y[:, 0], minlength=10)
    assert np.all(np.abs(test - 0.2 * counts) < 1)
    rest = counts - test
    valid = np.bincount(data.valid.y[:, 0], minlength=10)
    assert np.all(np.abs(valid - 0.25 * rest) < 1)
    assert np.array_equal(np.bincount(data.train.y[:, 0], minlength=10), rest - valid)


def test_disjoint_and_cover_all_images_with_their_labels(raw, data):
    pixels = to_raw(data)
    labels = [s.y[:, 0] for s in (data.train, data.valid, data.test)]
    got = np.concatenate([np.concatenate(pixels), np.concatenate(labels)[:, None]], 1)
    want = np.concatenate([raw[0], raw[1][:, None]], 1)
    # As multisets: every image (with its label) appears exactly once over the splits.
    assert np.array_equal(rows_sorted(got), rows_sorted(want))


def test_normalized_with_the_training_split_statistics(data):
    train, valid, test = (p / 16.0 for p in to_raw(data))
    mean, std = train.mean(), train.std()
    assert abs(data.train.x.mean()) < 1e-5 and abs(data.train.x.std() - 1) < 1e-5
    for part, x in ((data.valid, valid), (data.test, test)):
        np.testing.assert_allclose(part.x.reshape(len(part), 64), (x - mean) / std,
                                   atol=1e-5)


def test_same_seed_same_splits_other_seed_other_splits(data):
    again = Digits.load(Digits.Config(), seed=0)
    other = Digits.load(Digits.Config(), seed=1)
    for a, b in ((data.train, again.train), (data.valid, again.valid),
                 (data.test, again.test)):
        assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    # Compared as raw pixels: the normalization differs with the training split too.
    for mine, theirs in zip(to_raw(data), to_raw(other)):
        assert mine.shape == theirs.shape and not np.array_equal(mine, theirs)


@pytest.mark.parametrize("kwargs, message", [
    (dict(valid_fraction=1.5), r"^valid_fraction: expected a float in \(0, 1\), got 1.5$"),
    (dict(test_fraction=0), r"^test_fraction: expected a float in \(0, 1\), got 0$"),
    (dict(test_fraction="0.2"), r"^test_fraction: .*got '0.2'$"),
    (dict(valid_fraction=True), r"^valid_fraction: .*got True$"),
])
def test_config_errors_name_the_option(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Digits.Config(**kwargs)


def test_fraction_leaving_an_empty_split_names_the_option():
    with pytest.raises(ValueError, match="^test_fraction: 0.0001 of 1797 samples"):
        Digits.load(Digits.Config(test_fraction=0.0001), seed=0)


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, True])
def test_bad_seed(seed):
    with pytest.raises(ValueError, match=r"^seed: expected an int in \[0, 4294967295\]"):
        Digits.load(Digits.Config(), seed=seed)


def test_recorded_preprocessing_maps_raw_pixels_to_the_inputs(data):
    p = data.preprocessing
    for part, raw_pixels in zip((data.train, data.valid, data.test), to_raw(data)):
        x = (raw_pixels * p["scale"] - p["mean"][0]) / p["std"][0]
        np.testing.assert_allclose(part.x.reshape(len(part), 64), x, atol=1e-5)
