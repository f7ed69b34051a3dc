"""Handwritten digits: scikit-learn's bundled copy of the UCI 8x8 digits, no download.

1,797 real images in 10 classes: small enough for a whole search on a CPU in minutes,
real enough that accuracy means something.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _checks as C
from ..config.fields import option
from .base import DATASETS, DatasetSplits, Split
from .split import stratified_split

NUM_CLASSES = 10
#: The pixel values of the digits are counts in [0, 16].
MAX_VALUE = 16.0


@DATASETS.register("digits")
class Digits:
    """scikit-learn's ``load_digits()``: 1,797 grey 8x8 images of the digits 0-9.

    Pixels are scaled to [0, 1] and normalized by the training split's mean and
    standard deviation (one scalar each). The splits are stratified by class and fixed
    by the seed: ``test_fraction`` of all images is the test split, ``valid_fraction``
    of the rest the validation split, and the remainder the training split. No
    augmentation.
    """

    @dataclass(frozen=True)
    class Config:
        """Options of the ``digits`` dataset."""

        # 20% of the 1,797 images (359) for the final test.
        test_fraction: float = option(
            0.2, "fraction of all images held out as the test split",
            minimum=0, maximum=1, exclusive_minimum=True, exclusive_maximum=True)
        # A quarter of the rest (360): in a search, the architecture is trained on it.
        valid_fraction: float = option(
            0.25, "fraction of the non-test images held out as the validation split",
            minimum=0, maximum=1, exclusive_minimum=True, exclusive_maximum=True)

        def __post_init__(self):
            for name in ("test_fraction", "valid_fraction"):
                object.__setattr__(self, name, C.fraction(name, getattr(self, name)))

    @staticmethod
    def load(config: "Digits.Config", seed: int) -> DatasetSplits:
        """Load the digits and split them with ``seed``."""
        from sklearn.datasets import load_digits  # slow to import; only needed here

        rng = np.random.RandomState(C.seed(seed))
        digits = load_digits()
        images = (digits.images / MAX_VALUE).reshape(-1, 1, 8, 8)
        labels = digits.target.astype(np.int32).reshape(-1, 1)
        rest, test = stratified_split(labels, config.test_fraction, rng, "test_fraction")
        train, valid = stratified_split(labels[rest], config.valid_fraction, rng,
                                        "valid_fraction")
        train, valid = rest[train], rest[valid]
        mean, std = images[train].mean(), images[train].std()

        def split(index: np.ndarray) -> Split:
            return Split(((images[index] - mean) / std).astype(np.float32), labels[index])

        return DatasetSplits(train=split(train), valid=split(valid), test=split(test),
                             num_classes=NUM_CLASSES, name="digits",
                             preprocessing={"scale": 1.0 / MAX_VALUE, "mean": [float(mean)],
                                            "std": [float(std)]})
