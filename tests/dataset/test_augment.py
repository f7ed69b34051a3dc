"""random_crop_flip against a per-image numpy reference drawing the same numbers."""
import numpy as np
import pytest

from nnabla_nas.dataset.augment import random_crop_flip


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
