"""random_crop_flip and cutout against per-image numpy references drawing the same
numbers, and how augmentations are chained."""
import doctest
import functools

import numpy as np
import pytest

from nnabla_nas.dataset import augment as augment_module
from nnabla_nas.dataset.augment import Compose, crop_flip_cutout, cutout, random_crop_flip


def reference(x, seed, padding, fill):
    rng = np.random.RandomState(seed)
    b, c, h, w = x.shape
    top = rng.randint(0, 2 * padding + 1, size=b)
    left = rng.randint(0, 2 * padding + 1, size=b)
    flip = rng.rand(b) < 0.5
    out = np.empty_like(x)
    for i in range(b):
        padded = np.empty((c, h + 2 * padding, w + 2 * padding), x.dtype)
        padded[:] = np.asarray(fill, x.dtype).reshape(-1, 1, 1)
        padded[:, padding:padding + h, padding:padding + w] = x[i]
        crop = padded[:, top[i]:top[i] + h, left[i]:left[i] + w]
        out[i] = crop[:, :, ::-1] if flip[i] else crop
    return out, top, left, flip


def images(b=32, c=3, h=6, w=5):
    return np.random.RandomState(0).randn(b, c, h, w).astype(np.float32)


@pytest.mark.parametrize("padding, fill", [(4, 0.0), (2, (-1.0, -2.0, -3.0)), (0, 0.0)])
def test_matches_the_numpy_reference(padding, fill):
    x = images()
    out = random_crop_flip(x, np.random.RandomState(7), padding=padding, fill=fill)
    want, top, left, flip = reference(x, 7, padding, fill)
    assert out.shape == x.shape and out.dtype == x.dtype
    np.testing.assert_array_equal(out, want)
    assert flip.any() and not flip.all()  # both happen in 32 draws
    if padding:
        assert len(set(zip(top, left))) > 1


def test_without_padding_it_only_flips():
    x = images()
    out = random_crop_flip(x, np.random.RandomState(3), padding=0)
    flipped = [np.array_equal(o, i[:, :, ::-1]) for o, i in zip(out, x)]
    same = [np.array_equal(o, i) for o, i in zip(out, x)]
    assert all(f != s for f, s in zip(flipped, same)) and any(flipped) and any(same)


def test_input_is_left_alone_and_bad_arguments_are_named():
    x = images()
    copy = x.copy()
    random_crop_flip(x, np.random.RandomState(0))
    assert np.array_equal(x, copy)
    with pytest.raises(ValueError, match="^padding: expected an int >= 0, got -1"):
        random_crop_flip(x, np.random.RandomState(0), padding=-1)
    with pytest.raises(ValueError, match=r"^x: expected images of shape \(B, C, H, W\)"):
        random_crop_flip(x[0], np.random.RandomState(0))


# --------------------------------------------------------------------------- cutout
def cutout_reference(x, seed, length):
    rng = np.random.RandomState(seed)
    b, c, h, w = x.shape
    cy, cx = rng.randint(0, h, size=b), rng.randint(0, w, size=b)
    out = x.copy()
    for i in range(b):
        top, left = cy[i] - length // 2, cx[i] - length // 2
        out[i, :, max(top, 0):max(top + length, 0), max(left, 0):max(left + length, 0)] = 0
    return out, cy, cx


def test_docstring_examples():
    assert doctest.testmod(augment_module).failed == 0


@pytest.mark.parametrize("length", [1, 3, 4, 16])
def test_cutout_matches_the_numpy_reference(length):
    x = images(b=64, h=10, w=12) + 10  # no zero before cutout
    out = cutout(x, np.random.RandomState(5), length)
    want, _, _ = cutout_reference(x, 5, length)
    assert out.shape == x.shape and out.dtype == x.dtype
    np.testing.assert_array_equal(out, want)


def test_cutout_square_is_whole_away_from_borders_and_clipped_at_them():
    x = np.ones((200, 2, 10, 12), np.float32)
    length = 4
    out = cutout(x, np.random.RandomState(0), length)
    _, cy, cx = cutout_reference(x, 0, length)
    zeros = (out == 0)
    assert np.array_equal(zeros[:, 0], zeros[:, 1])  # the same square in every channel
    counts = zeros[:, 0].sum(axis=(1, 2))
    rows = np.minimum(cy + 2, 10) - np.maximum(cy - 2, 0)   # rows [cy - 2, cy + 2)
    cols = np.minimum(cx + 2, 12) - np.maximum(cx - 2, 0)
    assert np.array_equal(counts, rows * cols)
    inside = (cy >= 2) & (cy <= 8) & (cx >= 2) & (cx <= 10)
    assert inside.any() and (counts[inside] == 16).all()
    assert (~inside).any() and (counts[~inside] < 16).all()
    for i in np.flatnonzero(inside)[:5]:  # a solid square centred on the drawn pixel
        assert zeros[i, 0, cy[i] - 2:cy[i] + 2, cx[i] - 2:cx[i] + 2].all()
    corner = np.flatnonzero((cy == 0) & (cx == 0))
    assert all(zeros[i, 0, :2, :2].all() and counts[i] == 4 for i in corner)


def test_different_images_get_different_squares():
    x = np.ones((32, 1, 16, 16), np.float32)
    masks = cutout(x, np.random.RandomState(2), 6) == 0
    assert len({m.tobytes() for m in masks}) > 16


def test_cutout_off_draws_nothing_and_copies():
    x = images()
    rng = np.random.RandomState(0)
    out = cutout(x, rng, 0)
    assert np.array_equal(out, x) and out is not x
    assert rng.randint(1 << 30) == np.random.RandomState(0).randint(1 << 30)


def test_cutout_bad_arguments_are_named():
    with pytest.raises(ValueError, match="^length: expected an int >= 0, got -2"):
        cutout(images(), np.random.RandomState(0), -2)
    with pytest.raises(ValueError, match=r"^x: expected images of shape \(B, C, H, W\)"):
        cutout(images()[0], np.random.RandomState(0), 2)


# ------------------------------------------------------------------------ chaining
def test_compose_applies_in_order_with_one_rng():
    x = images()
    chained = Compose(functools.partial(random_crop_flip, padding=2),
                      functools.partial(cutout, length=3))
    rng = np.random.RandomState(9)
    want = cutout(random_crop_flip(x, rng, padding=2), rng, 3)
    np.testing.assert_array_equal(chained(x, np.random.RandomState(9)), want)
    with pytest.raises(TypeError, match="^augments\\[1\\]: expected a callable, got int"):
        Compose(cutout, 3)


def test_crop_flip_cutout():
    x = images()
    fill = (-1.0, -2.0, -3.0)
    plain = crop_flip_cutout(4, fill)  # no cutout: the very same draws as before
    np.testing.assert_array_equal(plain(x, np.random.RandomState(1)), random_crop_flip(
        x, np.random.RandomState(1), padding=4, fill=fill))
    rng = np.random.RandomState(1)
    want = cutout(random_crop_flip(x, rng, padding=4, fill=fill), rng, 16)
    np.testing.assert_array_equal(crop_flip_cutout(4, fill, 16)(
        x, np.random.RandomState(1)), want)
