"""Datasets: in-memory splits, the registry of datasets, and the batch loader.

Importing this package registers the built-in datasets (``digits``, ``cifar10``,
``image_folder``) in :data:`DATASETS`; it reads no file and imports nothing heavy.
"""
from .base import DATASETS, DatasetSplits, Split
from .loader import DataLoader

# Built-in datasets register themselves on import.
from . import cifar10 as _cifar10  # noqa: E402,F401
from . import digits as _digits  # noqa: E402,F401
from . import image_folder as _image_folder  # noqa: E402,F401

__all__ = ["DATASETS", "DataLoader", "DatasetSplits", "Split"]
