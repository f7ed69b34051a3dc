"""Images in one folder per class, ImageNet style: ``root/<split>/<class>/<image>``.

Layout, with the default folder names::

    root/train/<class_a>/*.png, *.jpg, ...   training images (the validation split
    root/train/<class_b>/...                  is held out of them)
    root/val/<class_a>/...                   test images, the same class folders
    root/val/<class_b>/...

Classes are the sub-folders' names in sorted order (label 0 is the first). Images are
the files directly in a class folder whose names end in one of
:data:`IMAGE_EXTENSIONS` (any case); other files and names starting with a dot are
ignored. Pillow decodes them, several at a time in threads, into RGB; large JPEGs are
decoded at a reduced scale (``Image.draft``) that still covers the target size.

Images are streamed: a split holds the file names only (:class:`ImageFiles`, about
the length of ``<class>/<file>`` in bytes per image), and the images of a batch are
decoded when the batch is taken, in threads, from the background thread of the
:class:`~nnabla_nas.dataset.DataLoader`, which keeps at most ``prefetch`` batches
ready. Memory does not
grow with the number of images. Loading makes one pass over every file, decoding it
without keeping it, to check that each one can be read (a damaged file is named
before anything runs) and to compute the per-channel mean and deviation of the
training split; that pass takes about as long as one epoch of reading.

The batches are exactly those of reading everything into memory first (what this
dataset did before): the same values, in the same order, for the same seed.
"""
from __future__ import annotations

import functools
import os
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _checks as C
from ..config.fields import option
from .augment import crop_flip_cutout, cutout
from .base import Augment, DATASETS, DatasetSplits, LazyImages, Split
from .split import stratified_split

#: File name endings read as images (compared in lower case).
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".pgm", ".png", ".ppm", ".tif",
                    ".tiff", ".webp")
#: Threads decoding images (Pillow releases the GIL while decoding and resizing).
MAX_WORKERS = 8
#: Images decoded at a time by the pass that checks the files and computes the
#: channel statistics.
SCAN_CHUNK = 256

# What Pillow raises for a file it cannot decode, depending on the format plugin.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)


def expected_layout(root: Path, train_dir: str, test_dir: str) -> str:
    """The one-line description of the layout, for error messages."""
    return (f"expected {root / train_dir}/<class>/<image> and "
            f"{root / test_dir}/<class>/<image>, the same class folders in both, images "
            f"ending in {', '.join(IMAGE_EXTENSIONS)}")


def find_classes(folder: Path) -> List[str]:
    """The names of ``folder``'s sub-folders (not starting with a dot), sorted."""
    return sorted(p.name for p in folder.iterdir()
                  if p.is_dir() and not p.name.startswith("."))


def list_images(folder: Path, classes: Sequence[str]) -> Tuple[np.ndarray, np.ndarray]:
    """The image files of each class folder of ``folder``, sorted by name within a
    class, and their labels (the class's index in ``classes``, int32 of shape (N,)).

    The files are given as ``<class>/<file>`` relative to ``folder``, in one numpy
    bytes array (the file system's encoding), which takes far less memory than path
    objects; :class:`ImageFiles` turns them back into paths.

    Raises:
        ValueError: naming a class folder that holds no image.
    """
    names: List[bytes] = []
    labels: List[int] = []
    for label, name in enumerate(classes):
        with os.scandir(Path(folder) / name) as entries:
            found = sorted(e.name for e in entries
                           if os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS
                           and not e.name.startswith(".") and e.is_file())
        if not found:
            raise ValueError(f"{Path(folder) / name}: no images in this class folder; "
                             f"expected files ending in {', '.join(IMAGE_EXTENSIONS)}")
        names += [os.fsencode(os.path.join(name, f)) for f in found]
        labels += [label] * len(found)
    return np.asarray(names, dtype=bytes), np.asarray(labels, np.int32)


def decode(path: Path, size: int) -> np.ndarray:
    """One image as uint8 RGB of shape (size, size, 3): the shorter side resized to
    ``size`` (bicubic, antialiased) and the centre cropped (``PIL.ImageOps.fit``).

    Raises:
        ValueError: naming the file, if Pillow cannot decode it.
    """
    from PIL import Image, ImageOps  # imported on first use: the package stays light

    bicubic = getattr(Image, "Resampling", Image).BICUBIC
    try:
        with Image.open(path) as image:
            image.draft("RGB", (size, size))  # JPEG: decode at 1/2, 1/4 or 1/8 scale
            rgb = ImageOps.fit(image.convert("RGB"), (size, size), method=bicubic)
    except _DECODE_ERRORS + (Image.DecompressionBombError,) as err:
        raise ValueError(f"{path}: cannot decode the image "
                         f"({type(err).__name__}: {err})") from err
    return np.asarray(rgb, dtype=np.uint8)


def read_images(files: Sequence[Union[str, Path]], size: int) -> np.ndarray:
    """:func:`decode` every file, in threads; uint8 of shape (N, 3, size, size).

    Raises:
        ValueError: naming the first file (in the order of ``files``) that cannot be
            decoded.
    """
    images = np.empty((len(files), size, size, 3), np.uint8)

    def read(i: int) -> None:
        images[i] = decode(Path(files[i]), size)

    workers = max(1, min(MAX_WORKERS, os.cpu_count() or 1, len(files)))
    with ThreadPoolExecutor(workers, thread_name_prefix="image-folder-decode") as pool:
        for _ in pool.map(read, range(len(files))):  # raises the first error in order
            pass
    return images.transpose(0, 3, 1, 2)


def channel_histogram(images: np.ndarray) -> np.ndarray:
    """How many times each of the 256 values occurs in each channel of uint8 images
    (N, C, H, W): int64 of shape (C, 256). Histograms of parts add up to the whole's."""
    return np.stack([np.bincount(images[:, c].ravel(), minlength=256)
                     for c in range(images.shape[1])]).astype(np.int64)


def histogram_stats(counts: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each channel, in [0, 1] units, from a
    :func:`channel_histogram` (exact). A channel with no variation gets a deviation
    of 1 (it normalizes to 0)."""
    values = np.arange(256) / 255.0
    mean, std = [], []
    for channel in counts:
        m = channel @ values / channel.sum()
        var = channel @ (values - m) ** 2 / channel.sum()
        mean.append(m)
        std.append(np.sqrt(var) if var > 0 else 1.0)
    return np.asarray(mean), np.asarray(std)


def normalize(images: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """uint8 images (N, C, H, W) to float32 ``(x / 255 - mean) / std`` per channel."""
    shape = (1, -1, 1, 1)
    x = images.astype(np.float32)
    x *= np.float32(1 / 255)
    x -= np.asarray(mean, np.float32).reshape(shape)
    x /= np.asarray(std, np.float32).reshape(shape)
    return x


class ImageFiles(LazyImages):
    """Image files of one folder, decoded and normalized when indexed: the ``x`` of an
    ``image_folder`` split. It holds the names only, so it pickles small (for worker
    processes) and its memory does not grow with the images'.

    Args:
        folder: The folder the names are relative to.
        names: ``<class>/<file>`` of each image (bytes, see :func:`list_images`).
        size: Side of the square images (:func:`decode`).
        mean: Per-channel mean, in [0, 1] units, subtracted after scaling to [0, 1].
        std: Per-channel deviation the result is divided by.
    """

    def __init__(self, folder: Union[str, Path], names: np.ndarray, size: int,
                 mean: Sequence[float] = (0.0, 0.0, 0.0),
                 std: Sequence[float] = (1.0, 1.0, 1.0)):
        self.folder = os.fspath(folder)
        self.names = np.asarray(names, dtype=bytes)
        self.size = size
        self.channel_mean = np.asarray(mean, np.float64)
        self.channel_std = np.asarray(std, np.float64)

    @property
    def shape(self) -> Tuple[int, int, int, int]:
        return (len(self.names), 3, self.size, self.size)

    def path(self, i: int) -> Path:
        """The file of image ``i``."""
        return Path(self.folder) / os.fsdecode(self.names[i])

    def subset(self, indices: np.ndarray) -> "ImageFiles":
        """The images at ``indices``, in that order, with the same normalization."""
        return ImageFiles(self.folder, self.names[indices], self.size, self.channel_mean,
                          self.channel_std)

    def normalized(self, mean: np.ndarray, std: np.ndarray) -> "ImageFiles":
        """The same images normalized with ``mean`` and ``std``."""
        return ImageFiles(self.folder, self.names, self.size, mean, std)

    def read_raw(self, indices: np.ndarray) -> np.ndarray:
        """The decoded images at ``indices``, uint8 of shape (len(indices), 3, size,
        size).

        Raises:
            ValueError: naming the first file that cannot be decoded.
        """
        return read_images([self.path(i) for i in indices], self.size)

    def read(self, indices: np.ndarray) -> np.ndarray:
        return normalize(self.read_raw(indices), self.channel_mean, self.channel_std)


def scan(parts: Sequence[Tuple[ImageFiles, Optional[np.ndarray]]]) -> np.ndarray:
    """Decode every image of ``parts`` once, in chunks of :data:`SCAN_CHUNK`, keeping
    none: each part is ``(files, counted)``, where ``counted`` (a boolean mask, or
    ``None`` for none) marks the images whose pixels enter the returned
    :func:`channel_histogram`.

    Raises:
        ValueError: naming the first file, in the order of ``parts``, that cannot be
            decoded.
    """
    counts = np.zeros((3, 256), np.int64)
    for files, counted in parts:
        for start in range(0, len(files), SCAN_CHUNK):
            index = np.arange(start, min(start + SCAN_CHUNK, len(files)))
            images = files.read_raw(index)
            if counted is not None:
                counts += channel_histogram(images[counted[index]])
    return counts


@DATASETS.register("image_folder")
class ImageFolder:
    """Your own images, one folder per class: ``root/<train_dir>/<class>/<image>`` and
    ``root/<test_dir>/<class>/<image>``.

    Splits: ``valid_fraction`` of the training images (seeded, stratified by class) is
    the validation split, the rest the training split; ``test_dir`` is the test split.
    Every image becomes an RGB ``image_size`` x ``image_size`` square: the shorter side
    resized to ``image_size``, then the centre cropped. Pixels are scaled to [0, 1] and
    normalized per channel (R, G, B) by the mean and standard deviation of the training
    split. Training batches are augmented, if ``augment``, by a random crop of the image
    padded with ``padding`` black pixels and a random horizontal flip, then, if
    ``cutout`` > 0, by :func:`~nnabla_nas.dataset.augment.cutout`. Class names, in label
    order, are in :attr:`DatasetSplits.classes`. Images are read from disk as batches
    are taken (:class:`ImageFiles`). See :mod:`nnabla_nas.dataset.image_folder` for
    the file layout and memory use.
    """

    @dataclass(frozen=True)
    class Config:
        """Options of the ``image_folder`` dataset."""

        # Holds train_dir/ and test_dir/, each with one sub-folder per class.
        root: str = option("data/images", "folder holding <train_dir>/<class>/<image> "
                                          "and <test_dir>/<class>/<image>")
        train_dir: str = option("train", "sub-folder of root with the training images, "
                                          "one folder per class")
        # ImageNet's layout calls its test images (the official validation set) val/.
        test_dir: str = option("val", "sub-folder of root with the test images, the same "
                                      "class folders as train_dir")
        # Small images keep a search fast; the networks see image_size x image_size.
        image_size: int = option(32, "side in pixels of the square RGB images: the "
                                     "shorter side is resized to it, then the centre "
                                     "cropped", minimum=1, maximum=4096)
        valid_fraction: float = option(
            0.2, "fraction of the training images held out as the validation split",
            minimum=0, maximum=1, exclusive_minimum=True, exclusive_maximum=True)
        augment: bool = option(True, "augment training batches by a random crop of the "
                                     "padded image and a random horizontal flip")
        # CIFAR's 4 pixels for 32x32 images.
        padding: int = option(4, "black pixels added on each side of an image before "
                                 "its random crop", minimum=0, maximum=1024)
        # DARTS retrains CIFAR-10 with 16 for 32x32 images.
        cutout: int = option(0, "side in pixels of the square zeroed at random in each "
                                "training image after normalization (0: off)", minimum=0,
                          maximum=4096)

        def __post_init__(self):
            for name in ("root", "train_dir", "test_dir"):
                C.non_empty_str(name, getattr(self, name))
            if Path(self.train_dir) == Path(self.test_dir):
                raise ValueError(f"test_dir: {self.test_dir!r} is also train_dir; the "
                                 "test images must be other images than the training "
                                 "ones")
            object.__setattr__(self, "image_size",
                               C.positive_int("image_size", self.image_size))
            object.__setattr__(self, "valid_fraction",
                               C.fraction("valid_fraction", self.valid_fraction))
            C.boolean("augment", self.augment)
            for name in ("padding", "cutout"):
                object.__setattr__(self, name, C.non_negative_int(name,
                                                                  getattr(self, name)))

    @staticmethod
    def load(config: "ImageFolder.Config", seed: int) -> DatasetSplits:
        """List and split the images under ``config.root``, checking that each one
        decodes and computing the training split's channel statistics (one pass,
        keeping no image); the splits read their images when batches are taken.

        Raises:
            FileNotFoundError: naming ``root``, ``train_dir`` or ``test_dir`` if it is
                not a folder, with the expected layout.
            ValueError: naming the folders, if there is no class folder or the class
                folders of the two splits differ; naming the folder, for a class folder
                without images; naming the file, for an image Pillow cannot decode; or
                if ``valid_fraction`` leaves either part empty.
        """
        seed = C.seed(seed)
        root = Path(config.root)
        expected = expected_layout(root, config.train_dir, config.test_dir)
        if not root.is_dir():
            raise FileNotFoundError(f"image folder not found: {root}; {expected}")
        train_path, test_path = root / config.train_dir, root / config.test_dir
        for path, name in ((train_path, "train_dir"), (test_path, "test_dir")):
            if not path.is_dir():
                raise FileNotFoundError(f"{path} not found (set {name} to the folder of "
                                        f"the {name[:-4]} images); {expected}")
        classes = find_classes(train_path)
        if not classes:
            raise ValueError(f"{train_path}: no class folders; {expected}")
        test_classes = find_classes(test_path)
        if test_classes != classes:
            missing = sorted(set(classes) - set(test_classes))
            extra = sorted(set(test_classes) - set(classes))
            raise ValueError(f"{test_path}: its class folders differ from those of "
                             f"{train_path}: missing {missing}, extra {extra}")
        train_names, labels = list_images(train_path, classes)
        test_names, test_labels = list_images(test_path, classes)
        kept, held = stratified_split(labels, config.valid_fraction,
                                      np.random.RandomState(seed), "valid_fraction")
        train = ImageFiles(train_path, train_names, config.image_size)
        test = ImageFiles(test_path, test_names, config.image_size)
        in_train = np.zeros(len(labels), bool)
        in_train[kept] = True
        mean, std = histogram_stats(scan([(train, in_train), (test, None)]))

        def split(files: ImageFiles, y: np.ndarray) -> Split:
            return Split(files.normalized(mean, std), y.reshape(-1, 1))

        return DatasetSplits(
            train=split(train.subset(kept), labels[kept]),
            valid=split(train.subset(held), labels[held]),
            test=split(test, test_labels),
            num_classes=len(classes), name="image_folder",
            augment=training_augment(config, fill=-mean / std),
            classes=tuple(classes),
            preprocessing={"scale": 1 / 255, "mean": [float(m) for m in mean],
                           "std": [float(s) for s in std]})


def training_augment(config: ImageFolder.Config, fill: np.ndarray) -> Optional[Augment]:
    """The augmentation that ``config`` asks for (``None`` for none); ``fill`` is the
    normalized value of black, one per channel."""
    if config.augment:
        return crop_flip_cutout(config.padding, tuple(float(v) for v in fill),
                                config.cutout)
    if config.cutout:
        return functools.partial(cutout, length=config.cutout)
    return None
