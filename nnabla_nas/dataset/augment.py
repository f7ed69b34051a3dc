"""Training-time augmentations on batches of (B, C, H, W) images, vectorized in numpy.

Each takes ``(x, rng)`` and returns a new array; bind the other arguments with
:func:`functools.partial` to get a :data:`~nnabla_nas.dataset.base.Augment`.
"""
from __future__ import annotations

from typing import Sequence, Union

import numpy as np


def random_crop_flip(x: np.ndarray, rng: np.random.RandomState, padding: int = 4,
                     fill: Union[float, Sequence[float]] = 0.0) -> np.ndarray:
    """Random crop of the padded images back to their size, and random horizontal flip.

    The standard CIFAR augmentation (``RandomCrop(32, padding=4)`` then
    ``RandomHorizontalFlip()``): every image is padded by ``padding`` pixels on each
    side, cropped at a uniformly random offset, and mirrored with probability 1/2.

    Args:
        x: Images of shape (B, C, H, W).
        rng: Draws the offsets and flips (3 draws of B values, always in this order).
        padding: Pixels added on every side before cropping.
        fill: Value of the padding, a scalar or one value per channel. On normalized
            images, pass the normalized value of black for the usual zero padding of
            the raw image.

    Returns:
        A new array of the shape and dtype of ``x``.
    """
    if x.ndim != 4:
        raise ValueError(f"x: expected images of shape (B, C, H, W), got {x.shape}")
    if not isinstance(padding, int) or isinstance(padding, bool) or padding < 0:
        raise ValueError(f"padding: expected an int >= 0, got {padding!r}")
    b, c, h, w = x.shape
    fill = np.broadcast_to(np.asarray(fill, dtype=x.dtype).reshape(-1, 1, 1), (c, 1, 1))
    padded = np.empty((b, c, h + 2 * padding, w + 2 * padding), dtype=x.dtype)
    padded[...] = fill
    padded[:, :, padding:padding + h, padding:padding + w] = x
    top = rng.randint(0, 2 * padding + 1, size=b)
    left = rng.randint(0, 2 * padding + 1, size=b)
    flip = rng.rand(b) < 0.5
    rows = top[:, None] + np.arange(h)                      # (B, H)
    cols = left[:, None] + np.arange(w)                     # (B, W)
    cols = np.where(flip[:, None], cols[:, ::-1], cols)     # a flip reverses the columns
    return padded[np.arange(b)[:, None, None, None], np.arange(c)[None, :, None, None],
                  rows[:, None, :, None], cols[:, None, None, :]]
