"""Training-time augmentations on batches of (B, C, H, W) images, vectorized in numpy.

Each takes ``(x, rng)`` and returns a new array; bind the other arguments with
:func:`functools.partial` to get a :data:`~nnabla_nas.dataset.base.Augment`, chain
several with :class:`Compose`, or build the usual chain with :func:`crop_flip_cutout`.
"""
from __future__ import annotations

import functools
from typing import Sequence, Union

from . import _checks as C
from .base import Augment

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


def cutout(x: np.ndarray, rng: np.random.RandomState, length: int) -> np.ndarray:
    """Cutout (DeVries & Taylor 2017, arXiv:1708.04552): zero a random square per image.

    Each image gets its own ``length`` x ``length`` square, centred on a pixel drawn
    uniformly from the image (so the square is clipped where it crosses a border) and
    set to 0 in every channel. As in the DARTS code, it runs after normalization, so 0
    is the mean colour of the raw images, not black. The square's rows are
    ``[cy - length // 2, cy - length // 2 + length)``, the same as the DARTS code for
    an even ``length`` (one row and column wider than it for an odd one).

    Args:
        x: Images of shape (B, C, H, W), normalized.
        rng: Draws the centres: B rows, then B columns (nothing when ``length`` is 0).
        length: Side of the square in pixels; 0 turns cutout off.

    Returns:
        A new array of the shape and dtype of ``x``.

    Example:
        >>> import numpy as np
        >>> out = cutout(np.ones((2, 1, 5, 5), np.float32), np.random.RandomState(0), 2)
        >>> out[0, 0]  # centred on pixel (4, 3): rows 3-4, columns 2-3
        array([[1., 1., 1., 1., 1.],
               [1., 1., 1., 1., 1.],
               [1., 1., 1., 1., 1.],
               [1., 1., 0., 0., 1.],
               [1., 1., 0., 0., 1.]], dtype=float32)
        >>> int((out[1] == 0).sum())  # centred on row 0: clipped to one row
        2
    """
    if x.ndim != 4:
        raise ValueError(f"x: expected images of shape (B, C, H, W), got {x.shape}")
    length = C.non_negative_int("length", length)
    if length == 0:
        return x.copy()
    b, _, h, w = x.shape
    top = rng.randint(0, h, size=b) - length // 2            # (B,), may be < 0
    left = rng.randint(0, w, size=b) - length // 2
    rows = np.arange(h) - top[:, None]                        # (B, H)
    cols = np.arange(w) - left[:, None]                       # (B, W)
    in_rows = (rows >= 0) & (rows < length)
    in_cols = (cols >= 0) & (cols < length)
    square = in_rows[:, None, :, None] & in_cols[:, None, None, :]  # (B, 1, H, W)
    return np.where(square, x.dtype.type(0), x)


class Compose:
    """Augmentations applied one after the other, all drawing from the same ``rng``.

    Args:
        *augments: Callables ``augment(x, rng) -> x``, applied in this order.
    """

    def __init__(self, *augments: Augment):
        for i, a in enumerate(augments):
            if not callable(a):
                raise TypeError(f"augments[{i}]: expected a callable, got "
                                f"{type(a).__name__}")
        self.augments = tuple(augments)

    def __call__(self, x: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
        for augment in self.augments:
            x = augment(x, rng)
        return x

    def __repr__(self) -> str:
        return f"Compose({', '.join(map(repr, self.augments))})"


def crop_flip_cutout(padding: int, fill: Union[float, Sequence[float]],
                     cutout_length: int = 0) -> Augment:
    """The CIFAR-style training augmentation: :func:`random_crop_flip`, then
    :func:`cutout` if ``cutout_length`` > 0 (DARTS retrains with 16).

    With ``cutout_length`` 0 it is :func:`random_crop_flip` alone, drawing exactly the
    same random numbers.
    """
    padding = C.non_negative_int("padding", padding)
    crop_flip = functools.partial(random_crop_flip, padding=padding, fill=fill)
    if C.non_negative_int("cutout", cutout_length) == 0:
        return crop_flip
    return Compose(crop_flip, functools.partial(cutout, length=cutout_length))
