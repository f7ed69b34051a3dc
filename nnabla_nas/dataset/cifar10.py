"""CIFAR-10 from its python-pickle batches (https://www.cs.toronto.edu/~kriz/cifar.html).

The files are read with :mod:`nnabla_nas.dataset.safe_pickle`, so a tampered batch
cannot run code. The validation split is held out of the five training batches, as
DARTS does: the network weights are trained on one part and the architecture on the
other; ``test_batch`` is the test split.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Tuple
from urllib.parse import urlparse

import numpy as np

from . import _checks as C
from . import safe_pickle
from .augment import crop_flip_cutout
from ..config.fields import option
from .base import DATASETS, DatasetSplits, Split
from .download import extract_tar, fetch, file_md5
from .split import stratified_split

#: Where ``download: true`` fetches the python version of CIFAR-10 (163 MB).
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
#: MD5 of the archive at :data:`URL`, as published on the CIFAR page.
MD5 = "c58f30108f718f92721af3b95e74349a"
#: The folder the archive unpacks to, under the configured root.
FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
NUM_CLASSES = 10
SHAPE = (3, 32, 32)
#: Per-channel (R, G, B) mean and standard deviation of the training images in [0, 1].
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
#: A black pixel after normalization: the padding of the augmentation's random crop.
BLACK = tuple(-m / s for m, s in zip(MEAN, STD))


def normalize(images: np.ndarray) -> np.ndarray:
    """uint8 images (N, 3, H, W) to float32 ``(x / 255 - MEAN) / STD`` per channel."""
    x = images.astype(np.float32)
    x *= np.float32(1 / 255)
    x -= np.asarray(MEAN, np.float32).reshape(1, 3, 1, 1)
    x /= np.asarray(STD, np.float32).reshape(1, 3, 1, 1)
    return x


def read_batch(path: Path) -> Tuple[np.ndarray, np.ndarray]:
    """One python-pickle batch: uint8 images (N, 3, 32, 32) and int32 labels (N,).

    Raises:
        ValueError: naming the file and what was expected, for a file that is not a
            pickled dict with ``b'data'`` (uint8, (N, 3072)) and ``b'labels'`` (N ints
            in [0, 10)).
        safe_pickle.UnsafePickleError: if the pickle names anything but numpy arrays
            and plain data (nothing from the file is executed).
    """
    expected = ("a CIFAR-10 python batch: a pickled dict with b'data', a uint8 array "
                "of shape (N, 3072), and b'labels', N ints in [0, 10)")
    with open(path, "rb") as f:
        try:
            batch = safe_pickle.load(f, str(path))
        except safe_pickle.UnsafePickleError:
            raise
        except ValueError as err:
            raise ValueError(f"{err}; expected {expected}") from None
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: expected {expected}, got a pickled "
                         f"{type(batch).__name__}")
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v
             for k, v in batch.items()}
    missing = [f"b'{k}'" for k in ("data", "labels") if k not in batch]
    if missing:
        raise ValueError(f"{path}: missing {', '.join(missing)}; expected {expected}")
    data, labels = batch["data"], batch["labels"]
    size = int(np.prod(SHAPE))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != size:
        got = (f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray)
               else type(data).__name__)
        raise ValueError(f"{path}: b'data' must be a uint8 array of shape (N, {size}), "
                         f"got a {got}")
    labels = np.asarray(labels) if isinstance(labels, (list, np.ndarray)) else None
    if labels is None or labels.shape != (len(data),) or labels.dtype.kind not in "iu" \
            or (len(labels) and (labels.min() < 0 or labels.max() >= NUM_CLASSES)):
        raise ValueError(f"{path}: b'labels' must be {len(data)} ints in "
                         f"[0, {NUM_CLASSES}), one per row of b'data'")
    return data.reshape((-1,) + SHAPE), labels.astype(np.int32)


def _missing(folder: Path) -> List[Path]:
    return [folder / name for name in TRAIN_FILES + (TEST_FILE,)
            if not (folder / name).is_file()]


def _download(url: str, md5: str, root: Path) -> None:
    """Fetch the archive at ``url`` into ``root`` (unless a verified copy is there) and
    extract it; the MD5 is checked before extraction."""
    root = Path(root)
    archive = root / os.path.basename(urlparse(url).path)
    if not (archive.is_file() and file_md5(archive) == md5):
        fetch(url, md5, archive)
    extract_tar(archive, root)


@DATASETS.register("cifar10")
class Cifar10:
    """CIFAR-10: 60,000 32x32 colour images in 10 classes (50,000 train, 10,000 test).

    Splits: ``valid_fraction`` of the five training batches (seeded, stratified) is the
    validation split, the rest the training split; ``test_batch`` is the test split.
    Images are scaled to [0, 1] and normalized with the standard channel statistics
    :data:`MEAN` and :data:`STD`. Training batches are augmented by a random 32x32 crop
    of the image padded with 4 black pixels, a random horizontal flip and, if
    ``cutout`` > 0, :func:`~nnabla_nas.dataset.augment.cutout`.
    """

    @dataclass(frozen=True)
    class Config:
        """Options of the ``cifar10`` dataset."""

        # Folder that holds (or will hold) cifar-10-batches-py/.
        root: str = option("data/cifar10", "folder holding cifar-10-batches-py/")
        # Half the training images train the weights, half the architecture (DARTS).
        valid_fraction: float = option(
            0.5, "fraction of the training batches held out as the validation split",
            minimum=0, maximum=1, exclusive_minimum=True, exclusive_maximum=True)
        # Fetch the 163 MB archive from the CIFAR page when files are missing.
        download: bool = option(False, f"when files are missing, fetch them from {URL}")
        # Off for the search; DARTS retrains with 16.
        cutout: int = option(0, "side in pixels of the square zeroed at random in each "
                                "training image after normalization (0: off)", minimum=0,
                          maximum=32)

        def __post_init__(self):
            C.non_empty_str("root", self.root)
            object.__setattr__(self, "valid_fraction",
                               C.fraction("valid_fraction", self.valid_fraction))
            C.boolean("download", self.download)
            object.__setattr__(self, "cutout", C.non_negative_int("cutout", self.cutout))

    @staticmethod
    def load(config: "Cifar10.Config", seed: int) -> DatasetSplits:
        """Read the batches under ``config.root`` and split them.

        Raises:
            FileNotFoundError: naming the missing file, when ``download`` is false.
            OSError: if ``download`` is true and the download fails.
            ValueError: naming the file, for a file in the wrong format, or if the
                downloaded archive's MD5 is not :data:`MD5`.
        """
        seed = C.seed(seed)
        root = Path(config.root)
        folder = root / FOLDER
        missing = _missing(folder)
        if missing and config.download:
            try:
                _download(URL, MD5, root)
            except OSError as err:
                raise OSError(f"{err}; or fetch {URL} by other means and extract it "
                              f"in {root}") from err
            missing = _missing(folder)
            if missing:
                raise FileNotFoundError(f"{missing[0]} is missing although the archive "
                                        f"from {URL} was extracted in {root}")
        if missing:
            raise FileNotFoundError(
                f"CIFAR-10 file not found: {missing[0]}. Put the python version of "
                f"CIFAR-10 (folder {FOLDER} with {', '.join(TRAIN_FILES)} and "
                f"{TEST_FILE}, from {URL}) in {root}, or set download: true to fetch it")
        parts = [read_batch(folder / name) for name in TRAIN_FILES]
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
        del parts
        kept, held = stratified_split(labels, config.valid_fraction,
                                      np.random.RandomState(seed), "valid_fraction")
        test_images, test_labels = read_batch(folder / TEST_FILE)

        def split(x: np.ndarray, y: np.ndarray) -> Split:
            return Split(normalize(x), y.reshape(-1, 1).astype(np.int32))

        return DatasetSplits(
            train=split(images[kept], labels[kept]),
            valid=split(images[held], labels[held]),
            test=split(test_images, test_labels),
            num_classes=NUM_CLASSES, name="cifar10",
            augment=crop_flip_cutout(padding=4, fill=BLACK, cutout_length=config.cutout),
            preprocessing={"scale": 1 / 255, "mean": list(MEAN), "std": list(STD)})
